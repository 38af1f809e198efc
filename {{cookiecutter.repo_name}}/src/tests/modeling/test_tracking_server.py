"""Training against a real MLflow tracking server (artifacts proxied by the server)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from pipeline_testkit import compose_config, mlflow_overrides
from serving_support import free_port, wait_until_answering

from {{ cookiecutter.src_package_name }}.modeling.training import run_training
from {{ cookiecutter.src_package_name }}.modeling.training_config import train_config

pytestmark = pytest.mark.slow


@pytest.fixture
def tracking_server(tmp_path: Path) -> Iterator[str]:
    """An ``mlflow server`` on a free local port, stopped after the test."""
    port = free_port()
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    log = (server_dir / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{server_dir}/server.db",
         "--artifacts-destination", str(server_dir / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/health", proc, server_dir / "server.log")
        yield url
    finally:
        proc.terminate()  # the server's workers are in its session and exit with it
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
    assert any((tmp_path / "server" / "artifacts").rglob("nbsvm.skops"))
    version = mlflow.MlflowClient().get_model_version(cfg.registered_model_name, "1")
    assert version.run_id == result.run_id
