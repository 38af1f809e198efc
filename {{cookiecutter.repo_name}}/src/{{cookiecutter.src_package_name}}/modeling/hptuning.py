"""Group the trials of an Optuna sweep under one MLflow parent run; crown the best, once.

:class:`HptuningCallback` is a Hydra callback (see
``conf/base/train-model-hptuning.yaml``). When a ``--multirun`` sweep starts, it
finds or creates the parent run tagged ``hptuning_tag`` (from
``MLFLOW_HPTUNING_TAG``, or the current epoch second when unset); every trial
then starts a run nested under it (see :func:`.tracking.tracked_run`). When the
sweep ends, it crowns the champion and ends the parent run.

Crowning: the best finished trial (highest validation objective) is evaluated
once on the test split, its test metrics are logged to it and to the parent
run, and its model is registered with the alias ``challenger``. The alias
``champion`` moves to it only when it beats the current champion on the same
objective (or ``hptuning.force_champion=true``); the comparison is logged and
recorded on the parent run (``champion_decision``, ``champion_reason`` tags).

Several workers sharing one study (processes or pods) do not crown
(``hptuning.promote=false``): a start step creates the study and the parent
run before them, and a finish step crowns once after them
(:mod:`.sweep_steps`; ``scripts/train-model-hptuning.sh`` runs both).

A sweep stopped by SIGTERM or Ctrl-C ends its in-flight MLflow run KILLED,
marks its in-flight Optuna trials FAIL (:func:`track_trial` records them),
crowns nothing, and ends the parent run KILLED.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Any

import mlflow
from hydra.experimental.callback import Callback
from mlflow.exceptions import MlflowException
from omegaconf import DictConfig
from optuna.trial import TrialState

from ..configuration import FrozenConfig, exit_on_user_error, typed_section
from ..data_prep.processed_dataset import load_manifest, load_split
from ..redaction import redact_secrets_in_logs
from . import tracking
from .evaluation import evaluate, evaluation_figures
from .predictor import Predictor
from .stop_signals import stop_signal, stop_signals
from .training_config import TrainConfig, train_config

LOGGER = logging.getLogger(__name__)
CHALLENGER_ALIAS = "challenger"


class HptuningSettings(FrozenConfig):
    """The ``hptuning`` section of ``train-model-hptuning.yaml`` (its defaults are there)."""

    #: Move ``champion`` to the sweep's best model even when it does not beat the current one.
    force_champion: bool
    #: Crown the champion when this process's sweep ends; false for workers of a shared sweep.
    promote: bool


def hptuning_settings(config: DictConfig) -> HptuningSettings:
    """The validated ``hptuning`` section of a composed tuning config."""
    return typed_section(config.hptuning, HptuningSettings, "hptuning")


#: Optuna trials this process asked for: (study, trial number). See :func:`track_trial`.
_TRIALS_OF_THIS_PROCESS: list[tuple[Any, int]] = []


def track_trial(config: DictConfig, trial: Any) -> None:
    """Remember a trial this process runs, so a stopped sweep can mark it FAIL.

    Called by the Hydra Optuna sweeper for every trial it asks for (it is set as
    ``hydra.sweeper.custom_search_space``, the sweeper's public per-trial hook;
    the search space itself stays in ``hydra.sweeper.params``).
    """
    del config
    _TRIALS_OF_THIS_PROCESS.append((trial.study, trial.number))


def fail_unfinished_trials() -> list[int]:
    """Mark FAIL the trials of this process that are still RUNNING; return their numbers."""
    failed = []
    for study, number in _TRIALS_OF_THIS_PROCESS:
        running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        if number in running:
            study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
            failed.append(number)
    _TRIALS_OF_THIS_PROCESS.clear()
    return failed


def best_trial_run(experiment_id: str, parent_run_id: str, metric: str) -> Any | None:
    """The finished trial of a sweep with the highest ``metric``, or ``None``."""
    runs = mlflow.MlflowClient().search_runs(
        [experiment_id],
        f"tags.mlflow.parentRunId = '{parent_run_id}' and attributes.status = 'FINISHED'",
        order_by=[f"metrics.{metric} DESC"],  # runs without the metric come last
        max_results=1,
    )
    return runs[0] if runs and metric in runs[0].data.metrics else None


def _model_uri(run: Any) -> str:
    """The logged model of a trial, by the ``models:/m-...`` URI its run records.

    Not ``runs:/<id>/model``: MLflow 3 looks for that among the run's own artifacts first, and
    an MLflow server with its artifacts on GCS answers the miss with errors that the client
    retries for four minutes before it falls back to the logged model.
    """
    return run.data.tags.get(tracking.MODEL_URI_TAG, f"runs:/{run.info.run_id}/model")


def _test_metrics_once(train: TrainConfig, run: Any, parent_run_id: str) -> dict[str, float]:
    """Evaluate the best trial on the test split, unless that was done already."""
    logged = {k: v for k, v in run.data.metrics.items() if k.startswith("test_")}
    if logged or not train.evaluate_test:
        return logged
    if "test" not in load_manifest(train.data_path)["files"]:
        LOGGER.warning("The dataset has no test split: the champion is not tested.")
        return {}
    client = mlflow.MlflowClient()
    predictor = Predictor.load(_model_uri(run))
    test = load_split(train.data_path, "test")
    codes = test["label"].map({label: i for i, label in enumerate(predictor.labels)})
    evaluation = evaluate(predictor, test["text"].astype(str).tolist(), codes.to_numpy(), "test")
    for name, value in evaluation.metrics.items():
        client.log_metric(run.info.run_id, name, value)
        client.log_metric(parent_run_id, name, value)
    with evaluation_figures(predictor, evaluation) as figures:
        for name, figure in figures.items():
            client.log_figure(run.info.run_id, figure, f"plots/{name}")
    return evaluation.metrics


def _compare(
    metric: str, objective: float, current: Any | None, current_objective: float | None,
    force: bool,
) -> tuple[bool, str]:
    if current is None:
        return True, "no champion yet"
    if force:
        return True, f"forced by hptuning.force_champion=true (champion: {current_objective})"
    if current_objective is None:
        return False, (f"the champion (version {current.version}) has no {metric}: not comparable; "
                       "set hptuning.force_champion=true to replace it")
    if objective > current_objective:
        return True, f"{metric} {objective:.4f} beats the champion's {current_objective:.4f}"
    return False, (f"{metric} {objective:.4f} does not beat the champion's {current_objective:.4f} "
                   f"(version {current.version})")


def promote_if_better(
    train: TrainConfig, run: Any, parent_run_id: str, force: bool = False
) -> None:
    """Register the best trial as ``challenger``; move ``champion`` only if it is better.

    Better means a higher ``train.objective_metric`` than the run of the current
    champion version, the same objective the sweep maximised. The decision is
    logged and recorded on the parent run (tags ``champion_decision``,
    ``champion_reason``, ``challenger_version``; metric ``champion_previous_<metric>``).
    """
    client = mlflow.MlflowClient()
    name, metric = train.registered_model_name, train.objective_metric
    try:
        current = client.get_model_version_by_alias(name, tracking.CHAMPION_ALIAS)
    except MlflowException:
        current = None  # no model of that name or no champion yet
    previous = client.get_run(current.run_id).data.metrics.get(metric) if current else None
    if current is not None and current.run_id == run.info.run_id:
        promoted, reason, version = False, "already the champion", str(current.version)
    else:
        promoted, reason = _compare(metric, float(run.data.metrics[metric]), current, previous,
                                    force)
        version = tracking.register_model(_model_uri(run), name, CHALLENGER_ALIAS)
        if promoted:
            client.set_registered_model_alias(name, tracking.CHAMPION_ALIAS, version)
    decision = {"champion_decision": "promoted" if promoted else "kept",
                "champion_reason": reason, "challenger_version": version}
    for key, value in decision.items():
        client.set_tag(parent_run_id, key, value)
    if previous is not None:
        client.log_metric(parent_run_id, f"champion_previous_{metric}", previous)
    if promoted:
        LOGGER.info("Champion: models:/%s@%s is now version %s (%s).",
                    name, tracking.CHAMPION_ALIAS, version, reason)
    else:
        LOGGER.warning(
            "Champion kept: models:/%s@%s stays version %s: %s. The sweep's best is version %s "
            "(models:/%s@%s); promote it by hand or rerun with hptuning.force_champion=true.",
            name, tracking.CHAMPION_ALIAS, current.version if current else None, reason,
            version, name, CHALLENGER_ALIAS,
        )


def crown_champion(
    train: TrainConfig, experiment_id: str, parent_run_id: str, force: bool = False
) -> Any | None:
    """Test the best trial once, promote it if it beats the champion, record it on the parent.

    Returns the best trial's run, or ``None`` when no trial finished.
    """
    metric = train.objective_metric
    run = best_trial_run(experiment_id, parent_run_id, metric)
    if run is None:
        LOGGER.warning("No trial of parent run %s finished: no champion.", parent_run_id)
        return None
    test_metrics = _test_metrics_once(train, run, parent_run_id)
    LOGGER.info("Best trial %s: %s", run.info.run_id,
                ", ".join(f"{k}={v:.4f}" for k, v in test_metrics.items()) or "not tested")
    client = mlflow.MlflowClient()
    client.set_tag(parent_run_id, "best_run_id", run.info.run_id)
    client.log_metric(parent_run_id, f"best_{metric}", run.data.metrics[metric])
    promote_if_better(train, run, parent_run_id, force)
    return run


def open_parent_run(train: TrainConfig, tag: str, create: bool = True) -> tuple[str, str | None]:
    """Select the sweep's experiment and find its parent run, or create it; return both ids.

    A new parent run records the dataset as its input. The trials log the same
    dataset: with its record already in the store, parallel workers only link to
    it instead of racing to insert it (the store's uniqueness would fail one).
    """
    experiment_id = tracking.configure_tracking(
        train.mlflow_tracking_uri, train.mlflow_exp_name, train.mlflow_artifact_location
    )
    parent = tracking.find_parent_run(experiment_id, tag)
    if parent is None and create:
        parent = tracking.create_parent_run(experiment_id, tag)
        sha256 = load_manifest(train.data_path)["content_sha256"]
        tracking.log_dataset(parent, train.data_path, sha256, "tuning")
    return experiment_id, parent


def finish_sweep(
    train: TrainConfig, experiment_id: str, parent_run_id: str, force: bool = False
) -> Any | None:
    """Crown the best trial and end the parent run (FAILED when no trial finished)."""
    try:
        best = crown_champion(train, experiment_id, parent_run_id, force)
    except Exception:
        mlflow.MlflowClient().set_terminated(parent_run_id, "FAILED")
        raise
    mlflow.MlflowClient().set_terminated(parent_run_id, "FINISHED" if best else "FAILED")
    if best is not None:
        LOGGER.info("Sweep finished: parent run %s, best trial %s (%s=%.4f). See it with: "
                    "mlflow ui --backend-store-uri %s", parent_run_id, best.info.run_id,
                    train.objective_metric, best.data.metrics[train.objective_metric],
                    train.mlflow_tracking_uri)
    return best


class HptuningCallback(Callback):
    """Hydra callback: parent MLflow run for a sweep, champion at its end."""

    def __init__(self) -> None:
        self.train: TrainConfig | None = None
        self.settings: HptuningSettings | None = None
        self.experiment_id: str | None = None
        self.parent_run_id: str | None = None
        self._signals = contextlib.ExitStack()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Read the settings; find the parent run, or create it unless this is a worker."""
        redact_secrets_in_logs()  # the sweeper logs its storage URL
        self._signals.enter_context(stop_signals())
        with exit_on_user_error("Tuning"):  # e.g. no dataset, the tracking server down
            self.settings = hptuning_settings(config)
            self.train = train_config(config.train)
            if not self.train.setup_mlflow:
                LOGGER.info("Tracking is off: trials are not grouped in MLflow.")
                return
            tag = os.environ.get(tracking.HPTUNING_TAG_ENV) or str(int(time.time()))
            os.environ[tracking.HPTUNING_TAG_ENV] = tag  # read by the trials of this process
            self.experiment_id, self.parent_run_id = open_parent_run(
                self.train, tag, create=self.settings.promote
            )
        if self.parent_run_id is None:
            LOGGER.error("No parent run tagged %s=%s: run the sweep's start step first "
                         "(python -m %s.sweep_steps start); these trials are not grouped.",
                         tracking.HPTUNING_TAG, tag, __package__)
            return
        LOGGER.info("Sweep %s=%s: parent MLflow run %s.", tracking.HPTUNING_TAG, tag,
                    self.parent_run_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Crown the best trial and end the parent run, unless this is a worker or stopped."""
        try:
            stopped_by = stop_signal()
            if stopped_by:
                failed = fail_unfinished_trials()
                LOGGER.warning("Sweep stopped by %s: Optuna trial(s) %s marked FAIL.",
                               stopped_by, failed or "none")
            if not (self.train and self.settings and self.experiment_id and self.parent_run_id):
                return
            if not self.settings.promote:
                LOGGER.info("Worker done: the sweep's finish step crowns the champion and ends "
                            "parent run %s.", self.parent_run_id)
            elif stopped_by:
                with tracking.short_retries():
                    mlflow.MlflowClient().set_terminated(self.parent_run_id, "KILLED")
                LOGGER.warning("Parent run %s ended KILLED (%s): no champion crowned.",
                               self.parent_run_id, stopped_by)
            else:
                finish_sweep(self.train, self.experiment_id, self.parent_run_id,
                             self.settings.force_champion)
        finally:
            self._signals.close()
