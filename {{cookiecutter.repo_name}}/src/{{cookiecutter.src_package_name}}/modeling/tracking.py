"""MLflow tracking: store set-up, run tags, parent runs of sweeps, the registry.

The default store is embedded in the repository (``sqlite:///mlflow.db`` and
an ``mlartifacts/`` folder); ``train.mlflow_tracking_uri`` points it at a
server instead, whose credentials MLflow reads from ``MLFLOW_TRACKING_USERNAME``
and ``MLFLOW_TRACKING_PASSWORD`` itself.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import logging
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

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


class TrackingServerUnreachableError(ConnectionError):
    """The configured MLflow tracking server does not answer."""


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
    with _sqlite_init_lock(uri):
        return _select_experiment(experiment_name, artifact_location)


@contextlib.contextmanager
def _sqlite_init_lock(uri: str) -> Iterator[None]:
    """Serialise the first use of a SQLite store by several processes.

    MLflow creates and migrates its tables on first use; two workers doing it
    at the same time crash ("table ... already exists"). An exclusive
    flock on the database file makes them take turns (sqlite's own locks
    are fcntl locks and do not interfere). Other stores need no lock.
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    database = Path(uri.removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True, exist_ok=True)
    with database.open("ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _select_experiment(experiment_name: str, artifact_location: str | None) -> str:
    """Get or create the experiment and make it the active one."""
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        try:
            experiment_id = client.create_experiment(
                experiment_name, artifact_location=_artifact_uri(artifact_location)
            )
        except MlflowException as error:  # created meanwhile by a parallel worker
            if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
            experiment_id = client.get_experiment_by_name(experiment_name).experiment_id
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten a nested mapping into ``{"a.b.c": "value"}`` for ``log_params``."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def git_commit(path: str | Path = ".") -> str | None:
    """The commit checked out at ``path``, or ``None`` outside a Git repository."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=path, capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def run_tags(hptuning_tag: str | None = None) -> dict[str, str]:
    """Tags of every run: Git commit, Polyaxon run, sweep tag (where known)."""
    tags: dict[str, str] = {}
    commit = git_commit()
    if commit:
        tags["git_commit"] = commit
    polyaxon_run = os.environ.get("POLYAXON_RUN_UUID")
    if polyaxon_run:
        tags["polyaxon_run_uuid"] = polyaxon_run
    if hptuning_tag:
        tags[HPTUNING_TAG] = hptuning_tag
    return tags


def _parent_filter(hptuning_tag: str) -> str:
    return f"tags.{HPTUNING_TAG} = '{hptuning_tag}' and tags.{RUN_ROLE_TAG} = '{PARENT_ROLE}'"


def find_parent_run(experiment_id: str, hptuning_tag: str) -> str | None:
    """Id of the parent run of the sweep tagged ``hptuning_tag``, if there is one.

    When parallel workers each created one, the oldest wins, so all agree.
    """
    runs = mlflow.MlflowClient().search_runs(
        [experiment_id], _parent_filter(hptuning_tag), order_by=["attributes.start_time ASC"]
    )
    if not runs:
        return None
    oldest = min(runs, key=lambda run: (run.info.start_time, run.info.run_id))
    return oldest.info.run_id


def find_or_create_parent_run(experiment_id: str, hptuning_tag: str) -> str:
    """Find the parent run of a sweep, creating it on first use.

    Parallel workers call this at the same time; a worker whose run lost the
    race (not the oldest) deletes it and joins the oldest.
    """
    client = mlflow.MlflowClient()
    existing = find_parent_run(experiment_id, hptuning_tag)
    if existing is not None:
        return existing
    run = client.create_run(
        experiment_id,
        tags={**run_tags(hptuning_tag), RUN_ROLE_TAG: PARENT_ROLE},
        run_name=f"hptuning-{hptuning_tag}",
    )
    winner = find_parent_run(experiment_id, hptuning_tag)
    if winner != run.info.run_id:
        client.delete_run(run.info.run_id)
    return winner or run.info.run_id


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
