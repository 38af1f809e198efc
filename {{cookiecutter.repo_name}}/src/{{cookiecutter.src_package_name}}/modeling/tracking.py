"""MLflow tracking: the store, runs that always end, a sweep's parent run, the registry.

The default store is embedded in the repository (``sqlite:///mlflow.db`` and
an ``mlartifacts/`` folder); ``train.mlflow_tracking_uri`` points it at a
server instead, whose credentials MLflow reads from ``MLFLOW_TRACKING_USERNAME``
and ``MLFLOW_TRACKING_PASSWORD`` itself.

Runs always end. :func:`tracked_run` ends its run FINISHED, FAILED, or KILLED
when SIGTERM (pod eviction, ``kill``) or Ctrl-C stops the process
(:func:`.stop_signals.stop_signals`). When the tracking server is gone mid-run,
:func:`keep_model_if_logging_fails` saves the trained model locally and logs
where. URL secrets are redacted from log records, params and tags
(:func:`..redaction.redact`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import mlflow
import pandas as pd
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from ..redaction import redact, redact_secrets_in_logs
from .stop_signals import Terminated, stop_signal, stop_signals

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


#: MLflow's HTTP settings for calls that must not hang: one retry, 10 s (instead of 7
#: retries with backoff, about 4 minutes).
SHORT_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}  # fmt: skip


def short_retries() -> contextlib.AbstractContextManager[Any]:
    """Apply :data:`SHORT_RETRIES` for a block; the environment is restored after it.

    Used for the first call to a tracking server and the calls that end a run: when
    the server is gone they fail in seconds instead of holding a stopping pod past
    its grace period.
    """
    return mock.patch.dict(os.environ, SHORT_RETRIES)


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
    with stop_signals():
        run = mlflow.start_run(experiment_id=experiment_id, parent_run_id=parent, tags=tags)
        try:
            mlflow.log_params(flatten(params))
            yield run
        except BaseException as error:
            stopped = isinstance(error, KeyboardInterrupt | Terminated)
            _end_active_run(run.info.run_id, "KILLED" if stopped else "FAILED")
            raise
        _end_active_run(run.info.run_id, "FINISHED")


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
    if status != "FINISHED":
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
        try:
            save(folder)
        except Exception as failure:  # pylint: disable=broad-exception-caught
            LOGGER.error("Logging to MLflow failed (%s) and saving the model to %s failed too "
                         "(%s): the trained model is lost.", error, folder, failure)
            raise error from None
        LOGGER.error(
            "Logging to MLflow failed (%s). The trained model is saved at %s (MLflow model "
            "format): load it from there, or log it again when the tracking server is back.",
            error, folder.resolve(),
        )
        error.add_note(f"The trained model is saved at {folder.resolve()}")
        raise


def configure_tracking(uri: str, experiment_name: str, artifact_location: str | None) -> str:
    """Point MLflow at the store and select (or create) the experiment; return its id.

    Parameters
    ----------
    uri : str
        Tracking URI: ``sqlite:///mlflow.db``, ``http://host:5005``, ``postgresql://...``.
    experiment_name : str
        Created on first use.
    artifact_location : str or None
        Artifact root of a new experiment (a local folder or a URI such as
        ``gs://bucket/path``); ``None`` lets the tracking server decide. A local
        folder (the default mlartifacts) only applies to local stores: with a
        tracking server the server's own artifact root (e.g. gs://...) is used.

    Raises
    ------
    TrackingServerUnreachableError
        When a tracking server does not answer (in seconds, not after MLflow's
        minutes of retries), before anything is written.
    """
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"  # models load without pickle
    if artifact_location and "://" not in artifact_location:  # a local folder
        server = uri.startswith(("http://", "https://"))
        artifact_location = None if server else Path(artifact_location).resolve().as_uri()
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    try:
        with short_retries():
            experiment = client.get_experiment_by_name(experiment_name)
    except MlflowException as error:
        # MLflow raises it while handling the HTTP client's error (an OSError) when no
        # answer came; an answer (e.g. credentials refused) keeps MLflow's own message.
        if not isinstance(error.__context__, OSError):
            raise
        raise TrackingServerUnreachableError(
            f"MLflow tracking server {redact(uri)} is unreachable ({error}). Start it or fix "
            "train.mlflow_tracking_uri (e.g. sqlite:///mlflow.db for the embedded store, or "
            "train.setup_mlflow=false to train without tracking). Nothing was trained or written."
        ) from error
    experiment_id = (
        experiment.experiment_id if experiment is not None
        else client.create_experiment(experiment_name, artifact_location)
    )  # fmt: skip
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def flatten(config: Mapping[str, Any]) -> dict[str, str]:
    """Flatten a nested mapping into ``{"a.b.c": "value"}`` for ``log_params``, secrets redacted."""
    flat = pd.json_normalize(dict(config)).to_dict("records")[0]
    return {str(name): redact(str(value)) for name, value in flat.items()}


def run_tags(hptuning_tag: str | None = None) -> dict[str, str]:
    """Tags of every run: Polyaxon run, sweep tag (where known).

    (MLflow itself records the Git commit, ``mlflow.source.git.commit``.)
    """
    tags = {"polyaxon_run_uuid": os.environ.get("POLYAXON_RUN_UUID"), HPTUNING_TAG: hptuning_tag}
    return {key: redact(value) for key, value in tags.items() if value}


def find_parent_run(experiment_id: str, hptuning_tag: str) -> str | None:
    """Id of the parent run of the sweep tagged ``hptuning_tag``, if there is one."""
    runs = mlflow.MlflowClient().search_runs(
        [experiment_id],
        f"tags.{HPTUNING_TAG} = '{hptuning_tag}' and tags.{RUN_ROLE_TAG} = '{PARENT_ROLE}'",
        order_by=["attributes.start_time ASC"],
    )
    return runs[0].info.run_id if runs else None


def create_parent_run(experiment_id: str, hptuning_tag: str) -> str:
    """Start the parent run of the sweep tagged ``hptuning_tag``; return its id."""
    return mlflow.MlflowClient().create_run(
        experiment_id,
        tags={**run_tags(hptuning_tag), RUN_ROLE_TAG: PARENT_ROLE},
        run_name=f"hptuning-{hptuning_tag}",
    ).info.run_id


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
