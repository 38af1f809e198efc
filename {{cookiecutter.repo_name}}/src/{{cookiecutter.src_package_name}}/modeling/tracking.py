"""MLflow tracking: the store, runs that always end, a sweep's parent run, the registry.

The default store is embedded in the repository (``sqlite:///mlflow.db`` and
an ``mlartifacts/`` folder); ``train.mlflow_tracking_uri`` points it at a
server instead, whose credentials MLflow reads from ``MLFLOW_TRACKING_USERNAME``
and ``MLFLOW_TRACKING_PASSWORD`` itself.

Runs always end. :func:`tracked_run` ends its run FINISHED, FAILED, or KILLED
when SIGTERM (pod eviction, ``kill``) or Ctrl-C stops the process
(:class:`.stop_signals.StopSignals`). When the tracking server is gone mid-run,
:func:`keep_model_if_logging_fails` saves the trained model locally and logs
where. URL secrets are redacted from log records, params and tags
(:func:`..redaction.redact`).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import mlflow
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import Dataset, DatasetInput, InputTag, RunStatus
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from ..redaction import redact, redact_secrets_in_logs
from .stop_signals import StopSignals, Terminated, stop_signal

LOGGER = logging.getLogger(__name__)

#: Environment variable holding the tag that groups the runs of one sweep.
HPTUNING_TAG_ENV = "MLFLOW_HPTUNING_TAG"
HPTUNING_TAG = "hptuning_tag"
#: Tag telling a sweep's parent run from its trials.
RUN_ROLE_TAG = "run_role"
PARENT_ROLE = "hptuning_parent"
TRIAL_ROLE = "hptuning_trial"
CHAMPION_ALIAS = "champion"
#: Tag holding the URI of the model a run logged (models:/m-...).
MODEL_URI_TAG = "model_uri"
#: Tag holding the signal that stopped a run (SIGTERM, SIGINT).
STOP_SIGNAL_TAG = "stopped_by_signal"


class TrackingServerUnreachableError(ConnectionError):
    """The configured MLflow tracking server does not answer."""


def short_retries(
    max_retries: int = 1, timeout: int = 10
) -> contextlib.AbstractContextManager[Any]:
    """Bound MLflow's HTTP retries (7 with backoff, about 4 minutes by default) for a block.

    Used for the calls that end a run: when the server is gone they fail in
    seconds instead of holding a stopping pod past its grace period. The
    environment is restored after the block (``patch.dict``, from the standard library).
    """
    return mock.patch.dict(os.environ, {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(max_retries),
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    })  # fmt: skip


def end_status(error: BaseException | None) -> str:
    """MLflow status for a block that ended with ``error``: FINISHED, KILLED or FAILED."""
    if error is None:
        return RunStatus.to_string(RunStatus.FINISHED)
    if isinstance(error, (KeyboardInterrupt, Terminated)):
        return RunStatus.to_string(RunStatus.KILLED)
    return RunStatus.to_string(RunStatus.FAILED)


@contextlib.contextmanager
def tracked_run(
    experiment_id: str, params: Mapping[str, Any], trial: bool = False
) -> Iterator[Any]:
    """Start an MLflow run, log ``params``; end it FINISHED, FAILED or KILLED, whatever happens.

    A sweep's ``trial`` is nested under the parent run tagged ``MLFLOW_HPTUNING_TAG``.
    Unlike ``mlflow.start_run`` (FAILED for any exception, and an end call that
    retries for minutes against a dead server and then replaces the original
    error), a signal ends the run KILLED, and ending it is tried briefly: when
    the server is gone the run stays RUNNING in the store, which is logged,
    and the original error propagates.
    """
    redact_secrets_in_logs()
    hptuning_tag = os.environ.get(HPTUNING_TAG_ENV) or None
    tags, parent = run_tags(hptuning_tag), None
    if trial and hptuning_tag:
        parent = find_parent_run(experiment_id, hptuning_tag)
        tags[RUN_ROLE_TAG] = TRIAL_ROLE
    with StopSignals():
        run = mlflow.start_run(experiment_id=experiment_id, parent_run_id=parent, tags=tags)
        error: BaseException | None = None
        try:
            mlflow.log_params(flatten(params))
            yield run
        except BaseException as raised:
            error = raised
            raise
        finally:
            _end_active_run(run.info.run_id, end_status(error))


def _end_active_run(run_id: str, status: str) -> None:
    """End the active run with ``status``; log (never raise) when the store is unreachable."""
    with short_retries():
        try:
            if stop_signal():
                mlflow.set_tag(STOP_SIGNAL_TAG, stop_signal())
            mlflow.end_run(status)
        except Exception as error:  # pylint: disable=broad-exception-caught
            LOGGER.error(
                "Could not mark MLflow run %s %s: the tracking store did not answer (%s). "
                "It stays RUNNING there.", run_id, status, error,
            )
            return
    if status != RunStatus.to_string(RunStatus.FINISHED):
        LOGGER.warning("MLflow run %s ended %s%s.", run_id, status,
                       f" ({stop_signal()} received)" if stop_signal() else "")


def log_dataset(run_id: str, source: str, sha256: str, context: str) -> None:
    """Record the processed dataset at ``source`` (content hash ``sha256``) as a run's input."""
    with warnings.catch_warnings():
        # Local paths match two equivalent source types; MLflow warns and picks one.
        warnings.simplefilter("ignore", UserWarning)
        resolved = resolve_dataset_source(
            source if "://" in source else str(Path(source).resolve())
        )
    dataset = MetaDataset(resolved, name=Path(source.rstrip("/")).name, digest=sha256[:32])
    mlflow.MlflowClient().log_inputs(run_id, [
        DatasetInput(Dataset(**dataset.to_dict()), [InputTag(MLFLOW_DATASET_CONTEXT, context)])
    ])  # fmt: skip


@contextlib.contextmanager
def keep_model_if_logging_fails(save: Callable[[Path], None], folder: Path) -> Iterator[None]:
    """Save the trained model locally when logging it to MLflow fails, and say where.

    Parameters
    ----------
    save : callable
        Writes the model (MLflow model format) to the folder it is given.
    folder : Path
        Where to save it.

    Notes
    -----
    Only errors are handled (a lost or failing tracking server, a full artifact
    store); a signal stops the process without saving. The error propagates,
    with the model's path added to its message.
    """
    try:
        yield
    except Exception as error:
        saved = _try_save(save, folder)
        if not saved:
            LOGGER.error("Logging to MLflow failed (%s) and the model could not be saved to %s: "
                         "the trained model is lost.", error, folder)
            raise
        LOGGER.error(
            "Logging to MLflow failed (%s). The trained model is saved at %s (MLflow model "
            "format): load it from there, or log it again when the tracking server is back.",
            error, folder.resolve(),
        )
        error.add_note(f"The trained model is saved at {folder.resolve()}")
        raise


def _try_save(save: Callable[[Path], None], folder: Path) -> bool:
    try:
        save(folder)
    except Exception as error:  # pylint: disable=broad-exception-caught
        LOGGER.error("Saving the model to %s failed: %s", folder, error)
        return False
    return True


def check_tracking_server(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, with a clear message, when an HTTP tracking server is down.

    MLflow's own client retries for minutes before giving up; this asks the
    server's ``/health`` endpoint once. Non-HTTP stores are not checked.

    Raises
    ------
    TrackingServerUnreachableError
        When the server cannot be reached or answers with an error.
    """
    if not uri.startswith(("http://", "https://")):
        return
    request = urllib.request.Request(uri.rstrip("/") + "/health")
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if user:
        secret = f"{user}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(secret).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except (urllib.error.URLError, OSError) as error:
        raise TrackingServerUnreachableError(
            f"MLflow tracking server {uri} is unreachable ({getattr(error, 'reason', error)}). "
            "Start it or fix train.mlflow_tracking_uri (e.g. sqlite:///mlflow.db for the "
            "embedded store, or train.setup_mlflow=false to train without tracking). "
            "Nothing was trained or written."
        ) from error


def _artifact_uri(location: str | None) -> str | None:
    """Turn a local folder into a ``file://`` URI; keep URIs and ``None`` as they are."""
    if location is None or "://" in location:
        return location
    return Path(location).resolve().as_uri()


def configure_tracking(uri: str, experiment_name: str, artifact_location: str | None) -> str:
    """Point MLflow at the store and select (or create) the experiment.

    Parameters
    ----------
    uri : str
        Tracking URI: ``sqlite:///mlflow.db``, ``http://host:5005``, ``postgresql://...``.
    experiment_name : str
        Created on first use.
    artifact_location : str or None
        Artifact root of a new experiment (a local folder or a URI such as
        ``gs://bucket/path``); ``None`` lets the tracking server decide.

    Returns
    -------
    str
        The experiment id.

    Notes
    -----
    A plain local artifact_location (the default mlartifacts) only
    applies to local stores; with a tracking server it is ignored so that the
    server's own artifact root (e.g. gs://...) is used.
    """
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"  # models load without pickle
    if uri.startswith(("http://", "https://")) and artifact_location and (
        "://" not in artifact_location
    ):
        artifact_location = None
    check_tracking_server(uri)
    mlflow.set_tracking_uri(uri)
    return _select_experiment(experiment_name, artifact_location)


def _select_experiment(experiment_name: str, artifact_location: str | None) -> str:
    """Get or create the experiment and make it the active one."""
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    experiment_id = (
        experiment.experiment_id if experiment is not None
        else client.create_experiment(experiment_name, _artifact_uri(artifact_location))
    )  # fmt: skip
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten a nested mapping into ``{"a.b.c": "value"}`` for ``log_params``, secrets redacted."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = redact(str(value))
    return flat


def run_tags(hptuning_tag: str | None = None) -> dict[str, str]:
    """Tags of every run: Polyaxon run, sweep tag (where known).

    (MLflow itself records the Git commit, ``mlflow.source.git.commit``.)
    """
    tags: dict[str, str] = {}
    polyaxon_run = os.environ.get("POLYAXON_RUN_UUID")
    if polyaxon_run:
        tags["polyaxon_run_uuid"] = polyaxon_run
    if hptuning_tag:
        tags[HPTUNING_TAG] = hptuning_tag
    return {key: redact(value) for key, value in tags.items()}


def _parent_filter(hptuning_tag: str) -> str:
    return f"tags.{HPTUNING_TAG} = '{hptuning_tag}' and tags.{RUN_ROLE_TAG} = '{PARENT_ROLE}'"


def find_parent_run(experiment_id: str, hptuning_tag: str) -> str | None:
    """Id of the parent run of the sweep tagged ``hptuning_tag``, if there is one."""
    runs = mlflow.MlflowClient().search_runs(
        [experiment_id], _parent_filter(hptuning_tag), order_by=["attributes.start_time ASC"]
    )
    return runs[0].info.run_id if runs else None


def create_parent_run(experiment_id: str, hptuning_tag: str) -> str:
    """Start the parent run of the sweep tagged ``hptuning_tag``; return its id."""
    run = mlflow.MlflowClient().create_run(
        experiment_id,
        tags={**run_tags(hptuning_tag), RUN_ROLE_TAG: PARENT_ROLE},
        run_name=f"hptuning-{hptuning_tag}",
    )
    return run.info.run_id


def end_parent_run(run_id: str, status: str = RunStatus.to_string(RunStatus.FINISHED)) -> None:
    """Mark a sweep's parent run as ended."""
    mlflow.MlflowClient().set_terminated(run_id, status)


def register_model(model_uri: str, name: str, alias: str | None = None) -> str:
    """Register a logged model as a new version of ``name``; optionally alias it.

    Returns
    -------
    str
        The new version number.
    """
    version = mlflow.register_model(model_uri, name)
    if alias:
        mlflow.MlflowClient().set_registered_model_alias(name, alias, version.version)
    return str(version.version)
