"""One training run: MLflow tracking in a temporary store, or a local model."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import mlflow
import pytest
from mlflow.entities import RunStatus
from pipeline_testkit import (
    PROCESSED_LABELS,
    compose_config,
    mlflow_overrides,
    prepare,
    write_raw_tree,
)

from {{ cookiecutter.src_package_name }}.configuration import ConfigError
from {{ cookiecutter.src_package_name }}.data_prep.processed_dataset import IncompleteDatasetError
from {{ cookiecutter.src_package_name }}.modeling.predictor import Predictor
from {{ cookiecutter.src_package_name }}.modeling.tracking import TrackingServerUnreachableError
from {{ cookiecutter.src_package_name }}.modeling.training import run_training, summarise
from {{ cookiecutter.src_package_name }}.modeling.training_config import TrainConfig, train_config

METRICS = {"accuracy", "macro_f1", "roc_auc", "log_loss"}


def _config(tmp_path: Path, data: Path, *extra: str) -> TrainConfig:
    return train_config(compose_config(
        "pipelines",
        [*mlflow_overrides(tmp_path, data), "train.val_split=0.2", "train.model.hash_bits=16",
         *extra],
    ).train)


@pytest.mark.slow
def test_tracked_run_logs_params_metrics_plots_lineage_and_registers(
    tmp_path: Path, tiny_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLYAXON_RUN_UUID", "plx-123")
    cfg = _config(tmp_path, tiny_dataset, "train.mlflow_exp_name=unit")
    result = run_training(cfg)

    assert {f"val_{m}" for m in METRICS} | {f"test_{m}" for m in METRICS} <= set(result.metrics)
    assert result.objective == result.metrics["val_accuracy"]
    run = mlflow.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert mlflow.active_run() is None
    assert run.data.params["model.C"] == "1.0"
    assert run.data.params["data_path"] == str(tiny_dataset)
    assert run.data.metrics["test_accuracy"] == pytest.approx(result.metrics["test_accuracy"])
    assert run.data.tags["polyaxon_run_uuid"] == "plx-123"
    manifest_hash = run.data.tags["dataset_sha256"]
    assert [d.dataset.digest for d in run.inputs.dataset_inputs] == [manifest_hash[:32]]

    experiment = mlflow.get_experiment(run.info.experiment_id)
    assert experiment.artifact_location == (tmp_path / "mlartifacts").as_uri()
    client = mlflow.MlflowClient()
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert artifacts == {
        f"plots/test_{name}.png" for name in ("confusion_matrix", "roc_curve", "pr_curve")
    }
    version = client.get_model_version(cfg.registered_model_name, "1")
    assert version.run_id == result.run_id
    predictor = Predictor.load(f"models:/{cfg.registered_model_name}/1")
    assert predictor.predict_proba(["great wonderful superb", "awful boring waste"]).shape == (2, 2)
    assert [p.label for p in predictor.predict(["great wonderful superb", "awful boring waste"])
            ] == ["positive", "negative"]
    assert "mlflow ui --backend-store-uri sqlite:///" in summarise(result)


@pytest.mark.slow
def test_any_label_set_is_trained_evaluated_and_saved_with_its_labels(
    tmp_path: Path, labelled_dataset: tuple[str, Path]
) -> None:
    labels, data = labelled_dataset
    result = run_training(_config(tmp_path, data, "train.mlflow_exp_name=labels"))
    assert result.metrics["val_accuracy"] > 0.5 and result.metrics["test_accuracy"] > 0.5
    assert result.metrics["test_roc_auc"] > 0.5  # one-vs-rest for three labels
    predictor = Predictor.load(f"runs:/{result.run_id}/model")
    assert list(predictor.labels) == PROCESSED_LABELS[labels]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id, "plots")}
    curves = {"plots/test_roc_curve.png", "plots/test_pr_curve.png"}
    expected = {"plots/test_confusion_matrix.png", *(curves if labels == "binary" else ())}
    assert artifacts == expected  # the curves: binary only


def test_a_binary_rule_is_saved_with_the_model_and_applied(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    cfg = _config(tmp_path, tiny_dataset, "train.setup_mlflow=false",
                  "train.positive_label=positive", "train.threshold=0.999999")
    predictor = Predictor.load(run_training(cfg).model_uri)
    assert (predictor.rule.positive_label, predictor.rule.threshold) == ("positive", 0.999999)
    probabilities = predictor.predict_proba(["great wonderful superb loved"])
    assert probabilities[0, 1] > 0.5  # argmax would say positive; the threshold says no
    assert predictor.predict(["great wonderful superb loved"])[0].label == "negative"


def test_a_rule_that_does_not_fit_the_labels_is_a_config_error_before_any_run(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    cfg = _config(tmp_path, tiny_dataset, "train.positive_label=great")
    with pytest.raises(ConfigError, match=r"train\.positive_label: .*'great'"):
        run_training(cfg)
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_without_mlflow_the_model_is_saved_locally(tmp_path: Path, tiny_dataset: Path) -> None:
    cfg = _config(tmp_path, tiny_dataset, "train.setup_mlflow=false")
    result = run_training(cfg)
    assert result.run_id is None
    assert result.model_uri == str(tmp_path / "models" / "model")
    predictor = Predictor.load(result.model_uri)
    assert predictor.predict_proba(["great", "awful"]).shape == (2, 2)
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlartifacts").exists()
    assert "Model saved to" in summarise(result)


def test_a_bad_model_setting_fails_at_start_up_naming_the_key(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    with pytest.raises(ConfigError, match=r"train\.model\.C: .*greater than 0"):
        _config(tmp_path, tiny_dataset, "train.model.C=-1.0")
    with pytest.raises(ConfigError, match=r"train\.model\.learning_rate: Extra inputs"):
        _config(tmp_path, tiny_dataset, "+train.model.learning_rate=0.1")


def test_a_failing_run_is_marked_failed_and_does_not_stay_active(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    # Validation takes 97% of train: too few reviews are left, and the run fails inside MLflow.
    cfg = _config(tmp_path, tiny_dataset, "train.mlflow_exp_name=failing")
    cfg = cfg.model_copy(update={"val_split": 0.97})
    with pytest.raises(ValueError):
        run_training(cfg)
    assert mlflow.active_run() is None
    runs = mlflow.search_runs(experiment_names=["failing"], output_format="list")
    assert [run.info.status for run in runs] == [RunStatus.to_string(RunStatus.FAILED)]
    assert runs[0].data.params["model.C"] == "1.0"


def test_unreachable_tracking_server_fails_fast_and_writes_nothing(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = _config(tmp_path, tiny_dataset, f"train.mlflow_tracking_uri=http://127.0.0.1:{port}")
    before = sorted(p.name for p in tmp_path.iterdir())
    start = time.perf_counter()
    with pytest.raises(TrackingServerUnreachableError, match=f"127.0.0.1:{port}.*unreachable"):
        run_training(cfg)
    assert time.perf_counter() - start < 30
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert mlflow.active_run() is None


def test_the_objective_must_be_a_validation_metric(tmp_path: Path, tiny_dataset: Path) -> None:
    with pytest.raises(ConfigError, match=r"train: .*validation metric"):
        _config(tmp_path, tiny_dataset, "train.objective_metric=test_accuracy")


def test_missing_dataset_is_a_clear_error_before_any_run(tmp_path: Path) -> None:
    cfg = _config(tmp_path, tmp_path / "data" / "processed" / "absent")
    with pytest.raises(IncompleteDatasetError, match=r"process_data\.py"):
        run_training(cfg)
    assert not (tmp_path / "mlflow.db").exists()


def test_a_dataset_without_test_split_trains_without_test_metrics(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=10, n_test=0)
    prepare([raw], tmp_path / "train-only")
    cfg = _config(tmp_path, tmp_path / "train-only", "train.setup_mlflow=false")
    result = run_training(cfg)
    assert "val_accuracy" in result.metrics
    assert not any(name.startswith("test_") for name in result.metrics)
