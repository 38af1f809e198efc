"""Training against a real MLflow tracking server (artifacts proxied by the server)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from pipeline_testkit import compose_config, mlflow_overrides

from {{ cookiecutter.src_package_name }}.modeling.training import run_training
from {{ cookiecutter.src_package_name }}.modeling.training_config import train_config

pytestmark = pytest.mark.slow


def test_training_logs_to_a_tracking_server(
    tmp_path: Path, tiny_dataset: Path, tracking_server: str
) -> None:
    cfg = train_config(compose_config(
        "pipelines",
        [*mlflow_overrides(tmp_path, tiny_dataset), f"train.mlflow_tracking_uri={tracking_server}",
         "train.model.hash_bits=16", "train.val_split=0.2"],
    ).train)
    result = run_training(cfg)
    run = mlflow.get_run(result.run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")  # the server's root, not ours
    assert not (tmp_path / "mlartifacts").exists() and not (tmp_path / "mlflow.db").exists()
    assert any((tmp_path / "server" / "artifacts").rglob("nbsvm.npz"))
    version = mlflow.MlflowClient().get_model_version(cfg.registered_model_name, "1")
    assert version.run_id == result.run_id
