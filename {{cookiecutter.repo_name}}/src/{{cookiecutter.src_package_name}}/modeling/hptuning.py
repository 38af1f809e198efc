"""Group the trials of an Optuna sweep under one MLflow parent run; crown the best.

:class:`HptuningCallback` is a Hydra callback (see
``conf/base/train-model-hptuning.yaml``). When a ``--multirun`` sweep starts, it
finds or creates the parent run tagged ``hptuning_tag`` (from
``MLFLOW_HPTUNING_TAG``, or the current epoch second when unset); every trial
then starts a run nested under it (see ``training._tracked_run``). Workers in
other processes or pods that share the tag join the same parent.

When the sweep ends, the best finished trial (highest validation objective) is
evaluated once on the test split, its test metrics are logged to it and to the
parent run, and its model is registered with the alias ``champion``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ..data_prep.processed_dataset import load_manifest, load_split
from . import tracking
from .evaluation import close_figures, evaluate, evaluation_figures
from .predictor import SentimentPredictor

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Champion:
    """The best trial of a sweep."""

    run_id: str
    objective: float
    test_metrics: dict[str, float]
    registered_model: str | None


def best_trial_run(experiment_id: str, parent_run_id: str, metric: str) -> Any | None:
    """The finished trial of a sweep with the highest ``metric``, or ``None``."""
    import mlflow  # pylint: disable=import-outside-toplevel

    runs = mlflow.MlflowClient().search_runs(
        [experiment_id],
        f"tags.mlflow.parentRunId = '{parent_run_id}' and attributes.status = 'FINISHED'",
        order_by=[f"metrics.{metric} DESC"],
    )
    runs = [run for run in runs if metric in run.data.metrics]
    return max(runs, key=lambda run: run.data.metrics[metric]) if runs else None


def _test_metrics_once(cfg: DictConfig, run: Any, parent_run_id: str) -> dict[str, float]:
    """Evaluate the best trial on the test split, unless a worker already did."""
    import mlflow  # pylint: disable=import-outside-toplevel

    logged = {k: v for k, v in run.data.metrics.items() if k.startswith("test_")}
    if logged or not cfg.train.evaluate_test:
        return logged
    if "test" not in load_manifest(str(cfg.train.data_path))["files"]:
        LOGGER.warning("The dataset has no test split: the champion is not tested.")
        return {}
    client = mlflow.MlflowClient()
    predictor = SentimentPredictor.load(f"runs:/{run.info.run_id}/model")
    test = load_split(str(cfg.train.data_path), "test")
    labels = test["label"].to_numpy()
    metrics, probabilities = evaluate(predictor, test["text"].astype(str).tolist(), labels, "test")
    for name, value in metrics.items():
        client.log_metric(run.info.run_id, name, value)
        client.log_metric(parent_run_id, name, value)
    figures = evaluation_figures(labels, probabilities, predictor.threshold, "test")
    try:
        for name, figure in figures.items():
            client.log_figure(run.info.run_id, figure, f"plots/{name}")
    finally:
        close_figures(figures)
    return metrics


def _register_champion(cfg: DictConfig, run: Any) -> str:
    """Give the best trial's model the ``champion`` alias (registering it if needed)."""
    import mlflow  # pylint: disable=import-outside-toplevel
    from mlflow.exceptions import MlflowException  # pylint: disable=import-outside-toplevel

    name = str(cfg.train.registered_model_name)
    run_id = run.info.run_id
    try:
        current = mlflow.MlflowClient().get_model_version_by_alias(name, tracking.CHAMPION_ALIAS)
        if current.run_id == run_id:
            return f"{name}/{current.version}"
    except MlflowException:
        pass  # no model of that name or no champion yet
    model_uri = run.data.tags.get(tracking.MODEL_URI_TAG, f"runs:/{run_id}/model")
    version = tracking.register_model(model_uri, name, tracking.CHAMPION_ALIAS)
    return f"{name}/{version}"


def crown_champion(cfg: DictConfig, experiment_id: str, parent_run_id: str) -> Champion | None:
    """Test the best trial once, register it as ``champion`` and note it on the parent."""
    import mlflow  # pylint: disable=import-outside-toplevel

    metric = str(cfg.train.objective_metric)
    run = best_trial_run(experiment_id, parent_run_id, metric)
    if run is None:
        LOGGER.warning("No trial of parent run %s finished: no champion.", parent_run_id)
        return None
    test_metrics = _test_metrics_once(cfg, run, parent_run_id)
    registered = _register_champion(cfg, run)
    client = mlflow.MlflowClient()
    client.set_tag(parent_run_id, "best_run_id", run.info.run_id)
    client.log_metric(parent_run_id, f"best_{metric}", run.data.metrics[metric])
    return Champion(run.info.run_id, run.data.metrics[metric], test_metrics, registered)


class HptuningCallback(Callback):
    """Hydra callback: parent MLflow run for a sweep, champion at its end."""

    def __init__(self) -> None:
        self.experiment_id: str | None = None
        self.parent_run_id: str | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Find or create the parent run of this sweep's tag."""
        if not config.train.setup_mlflow:
            LOGGER.info("Tracking is off: trials are not grouped in MLflow.")
            return
        tag = os.environ.get(tracking.HPTUNING_TAG_ENV) or str(int(time.time()))
        os.environ[tracking.HPTUNING_TAG_ENV] = tag  # read by the trials of this process
        self.experiment_id = tracking.configure_tracking(
            config.train.mlflow_tracking_uri,
            config.train.mlflow_exp_name,
            config.train.mlflow_artifact_location,
        )
        self.parent_run_id = tracking.find_or_create_parent_run(self.experiment_id, tag)
        LOGGER.info("Sweep %s=%s: parent MLflow run %s.", tracking.HPTUNING_TAG, tag,
                    self.parent_run_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Crown the best trial and close the parent run."""
        if self.parent_run_id is None or self.experiment_id is None:
            return
        try:
            champion = crown_champion(config, self.experiment_id, self.parent_run_id)
        except Exception:
            # Hydra turns callback errors into warnings: close the parent run first.
            tracking.end_parent_run(self.parent_run_id, "FAILED")
            raise
        if champion is None:
            tracking.end_parent_run(self.parent_run_id, "FAILED")
            return
        tracking.end_parent_run(self.parent_run_id)
        tests = ", ".join(f"{k}={v:.4f}" for k, v in champion.test_metrics.items())
        LOGGER.info(
            "Sweep finished. Parent run %s; best trial %s with %s=%.4f%s. "
            "Champion: models:/%s@%s (%s). See it with: "
            "mlflow ui --backend-store-uri %s",
            self.parent_run_id, champion.run_id, config.train.objective_metric,
            champion.objective, f"; test: {tests}" if tests else "",
            str(config.train.registered_model_name), tracking.CHAMPION_ALIAS,
            champion.registered_model, config.train.mlflow_tracking_uri,
        )
