"""Group the trials of an Optuna sweep under one MLflow parent run; crown the best.

:class:`HptuningCallback` is a Hydra callback (see
``conf/base/train-model-hptuning.yaml``). When a ``--multirun`` sweep starts, it
finds or creates the parent run tagged ``hptuning_tag`` (from
``MLFLOW_HPTUNING_TAG``, or the current epoch second when unset); every trial
then starts a run nested under it (see ``training._tracked_run``). Workers in
other processes or pods that share the tag join the same parent.

Several workers (processes or pods) may share one sweep. Each one records
itself on the parent run (a ``sweep_worker.<id>`` tag) and marks itself ended
when its trials are done; the LAST worker to end crowns the champion and ends
the parent run, so the parent stays RUNNING while any worker still runs.

Crowning: the best finished trial (highest validation objective) is evaluated
once on the test split, its test metrics are logged to it and to the parent
run, and its model is registered with the alias ``challenger``. The alias
``champion`` moves to it only when it beats the current champion on the same
objective (or ``hptuning.force_champion=true``); the comparison is logged and
recorded on the parent run (``champion_decision``, ``champion_reason`` tags).

A sweep stopped by SIGTERM or Ctrl-C ends its in-flight MLflow run KILLED,
marks its in-flight Optuna trials FAIL (:func:`track_trial` records them),
crowns nothing, and ends the parent run KILLED if it was the last worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ..configuration import FrozenConfig, typed_section
from ..data_prep.processed_dataset import load_manifest, load_split
from . import tracking
from .evaluation import close_figures, evaluate, evaluation_figures
from .predictor import SentimentPredictor

LOGGER = logging.getLogger(__name__)
#: Prefix of the parent-run tags that record each worker: RUNNING, then <status>:<end ms>.
WORKER_TAG_PREFIX = "sweep_worker."
CHALLENGER_ALIAS = "challenger"


class HptuningSettings(FrozenConfig):
    """The ``hptuning`` section of ``train-model-hptuning.yaml``."""

    #: Move ``champion`` to the sweep's best model even when it does not beat the current one.
    force_champion: bool = False


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
    from optuna.trial import TrialState  # pylint: disable=import-outside-toplevel

    failed = []
    for study, number in _TRIALS_OF_THIS_PROCESS:
        running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        if number in running:
            study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
            failed.append(number)
    _TRIALS_OF_THIS_PROCESS.clear()
    return failed


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


@dataclass(frozen=True)
class ChampionDecision:
    """Whether the sweep's best model took the ``champion`` alias, and why."""

    promoted: bool
    reason: str
    version: str
    previous_version: str | None
    previous_objective: float | None


def _current_champion(client: Any, name: str) -> Any | None:
    from mlflow.exceptions import MlflowException  # pylint: disable=import-outside-toplevel

    try:
        return client.get_model_version_by_alias(name, tracking.CHAMPION_ALIAS)
    except MlflowException:
        return None  # no model of that name or no champion yet


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


def promote_if_better(cfg: DictConfig, run: Any, force: bool = False) -> ChampionDecision:
    """Register the best trial as ``challenger``; move ``champion`` only if it is better.

    Better means a higher ``train.objective_metric`` than the run of the current
    champion version, the same objective the sweep maximised.
    """
    import mlflow  # pylint: disable=import-outside-toplevel

    client = mlflow.MlflowClient()
    name = str(cfg.train.registered_model_name)
    metric = str(cfg.train.objective_metric)
    objective = float(run.data.metrics[metric])
    current = _current_champion(client, name)
    if current is not None and current.run_id == run.info.run_id:
        return ChampionDecision(False, "already the champion", str(current.version),
                                str(current.version), objective)
    current_objective = (
        client.get_run(current.run_id).data.metrics.get(metric) if current is not None else None
    )
    promoted, reason = _compare(metric, objective, current, current_objective, force)
    model_uri = run.data.tags.get(tracking.MODEL_URI_TAG, f"runs:/{run.info.run_id}/model")
    version = tracking.register_model(model_uri, name, CHALLENGER_ALIAS)
    if promoted:
        client.set_registered_model_alias(name, tracking.CHAMPION_ALIAS, version)
    return ChampionDecision(
        promoted, reason, version,
        str(current.version) if current is not None else None, current_objective,
    )


def crown_champion(
    cfg: DictConfig, experiment_id: str, parent_run_id: str, force: bool = False
) -> Champion | None:
    """Test the best trial once, promote it if it beats the champion, record it on the parent."""
    import mlflow  # pylint: disable=import-outside-toplevel

    metric = str(cfg.train.objective_metric)
    run = best_trial_run(experiment_id, parent_run_id, metric)
    if run is None:
        LOGGER.warning("No trial of parent run %s finished: no champion.", parent_run_id)
        return None
    test_metrics = _test_metrics_once(cfg, run, parent_run_id)
    decision = promote_if_better(cfg, run, force)
    name = str(cfg.train.registered_model_name)
    client = mlflow.MlflowClient()
    client.set_tag(parent_run_id, "best_run_id", run.info.run_id)
    client.log_metric(parent_run_id, f"best_{metric}", run.data.metrics[metric])
    client.set_tag(parent_run_id, "champion_decision", "promoted" if decision.promoted else "kept")
    client.set_tag(parent_run_id, "champion_reason", decision.reason)
    client.set_tag(parent_run_id, "challenger_version", decision.version)
    if decision.previous_objective is not None:
        client.log_metric(parent_run_id, f"champion_previous_{metric}", decision.previous_objective)
    if decision.promoted:
        LOGGER.info("Champion: models:/%s@%s is now version %s (%s).",
                    name, tracking.CHAMPION_ALIAS, decision.version, decision.reason)
    else:
        LOGGER.warning(
            "Champion kept: models:/%s@%s stays version %s: %s. The sweep's best is version %s "
            "(models:/%s@%s); promote it by hand or rerun with hptuning.force_champion=true.",
            name, tracking.CHAMPION_ALIAS, decision.previous_version, decision.reason,
            decision.version, name, CHALLENGER_ALIAS,
        )
    return Champion(run.info.run_id, run.data.metrics[metric], test_metrics,
                    f"{name}/{decision.version}")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _worker_states(parent_run_id: str) -> dict[str, str]:
    import mlflow  # pylint: disable=import-outside-toplevel

    tags = mlflow.MlflowClient().get_run(parent_run_id).data.tags
    return {
        key.removeprefix(WORKER_TAG_PREFIX): value
        for key, value in tags.items()
        if key.startswith(WORKER_TAG_PREFIX)
    }


def last_worker(states: dict[str, str]) -> str | None:
    """The worker that ended last, once every worker has ended; ``None`` while one runs.

    Every worker reads the same ended states, so all agree on which one it is
    (ties broken by id), and exactly one crowns.
    """
    ended = {}
    for worker, state in states.items():
        status, _, end_ms = state.partition(":")
        if status == "RUNNING" or not end_ms.isdigit():
            return None
        ended[worker] = int(end_ms)
    return max(ended, key=lambda worker: (ended[worker], worker)) if ended else None


class HptuningCallback(Callback):
    """Hydra callback: parent MLflow run for a sweep, champion at its end."""

    def __init__(self) -> None:
        self.experiment_id: str | None = None
        self.parent_run_id: str | None = None
        self.settings = HptuningSettings()
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._signals = tracking.StopSignals()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Validate the settings, find or create the parent run, join it as a worker."""
        self.settings = typed_section(config.get("hptuning") or {}, HptuningSettings, "hptuning")
        tracking.redact_secrets_in_logs()  # the sweeper logs its storage URL
        self._signals.install()
        if not config.train.setup_mlflow:
            LOGGER.info("Tracking is off: trials are not grouped in MLflow.")
            return
        import mlflow  # pylint: disable=import-outside-toplevel

        tag = os.environ.get(tracking.HPTUNING_TAG_ENV) or str(int(time.time()))
        os.environ[tracking.HPTUNING_TAG_ENV] = tag  # read by the trials of this process
        self.experiment_id = tracking.configure_tracking(
            config.train.mlflow_tracking_uri,
            config.train.mlflow_exp_name,
            config.train.mlflow_artifact_location,
        )
        self.parent_run_id = tracking.find_or_create_parent_run(self.experiment_id, tag)
        client = mlflow.MlflowClient()
        client.set_tag(self.parent_run_id, WORKER_TAG_PREFIX + self.worker_id, "RUNNING")
        if client.get_run(self.parent_run_id).info.status != "RUNNING":
            client.update_run(self.parent_run_id, status="RUNNING")  # a later worker joined
        LOGGER.info("Sweep %s=%s: parent MLflow run %s, worker %s.", tracking.HPTUNING_TAG, tag,
                    self.parent_run_id, self.worker_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """End this worker; the last worker to end crowns the best trial and ends the parent."""
        try:
            stopped_by = tracking.stop_signal()
            if stopped_by:
                failed = fail_unfinished_trials()
                LOGGER.warning("Sweep stopped by %s: Optuna trial(s) %s marked FAIL.",
                               stopped_by, failed or "none")
            if self.parent_run_id is None or self.experiment_id is None:
                return
            with tracking.short_retries() if stopped_by else contextlib.nullcontext():
                self._end_worker(config, stopped_by)
        finally:
            self._signals.restore()

    def _end_worker(self, config: DictConfig, stopped_by: str | None) -> None:
        import mlflow  # pylint: disable=import-outside-toplevel

        assert self.parent_run_id is not None and self.experiment_id is not None
        status = "KILLED" if stopped_by else "FINISHED"
        mlflow.MlflowClient().set_tag(
            self.parent_run_id, WORKER_TAG_PREFIX + self.worker_id, f"{status}:{_now_ms()}"
        )
        states = _worker_states(self.parent_run_id)
        last = last_worker(states)
        if last != self.worker_id:
            running = sorted(w for w, state in states.items() if state == "RUNNING")
            LOGGER.info(
                "Worker %s done; %s. The last worker to end crowns the champion and ends "
                "parent run %s.", self.worker_id,
                f"still running: {', '.join(running)}" if running else "another worker ends last",
                self.parent_run_id,
            )
            return
        if stopped_by:
            tracking.end_parent_run(self.parent_run_id, "KILLED")
            LOGGER.warning("Parent run %s ended KILLED (%s): no champion crowned.",
                           self.parent_run_id, stopped_by)
            return
        self._crown_and_end(config)

    def _crown_and_end(self, config: DictConfig) -> None:
        assert self.parent_run_id is not None and self.experiment_id is not None
        try:
            champion = crown_champion(config, self.experiment_id, self.parent_run_id,
                                      self.settings.force_champion)
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
            "Registered as models:/%s; champion: models:/%s@%s. See it with: "
            "mlflow ui --backend-store-uri %s",
            self.parent_run_id, champion.run_id, config.train.objective_metric,
            champion.objective, f"; test: {tests}" if tests else "",
            champion.registered_model, str(config.train.registered_model_name),
            tracking.CHAMPION_ALIAS, config.train.mlflow_tracking_uri,
        )
