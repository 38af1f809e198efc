"""MLflow tracking: store set-up, run tags, parent runs of sweeps, the registry.

The default store is embedded in the repository (``sqlite:///mlflow.db`` and
an ``mlartifacts/`` folder); ``train.mlflow_tracking_uri`` points it at a
server instead, whose credentials MLflow reads from ``MLFLOW_TRACKING_USERNAME``
and ``MLFLOW_TRACKING_PASSWORD`` itself.

Runs always end. :func:`tracked_run` ends its run FINISHED, FAILED, or KILLED
when SIGTERM (pod eviction, ``kill``) or Ctrl-C stops the process
(:class:`StopSignals` turns both into exceptions, so every context manager
unwinds). When the tracking server is gone mid-run,
:func:`keep_model_if_logging_fails` saves the trained model locally and logs
where. Secrets in URLs (``scheme://user:password@host``, ``?password=``) are
redacted from log records, params and tags (:func:`redact`).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import logging
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType
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


#: Tag holding the signal that stopped a run (SIGTERM, SIGINT).
STOP_SIGNAL_TAG = "stopped_by_signal"

_USERINFO_SECRET = re.compile(r"(?P<keep>\b[a-zA-Z][\w+.-]*://[^\s:/@]*):[^\s@]+@")
_QUERY_SECRET = re.compile(
    r"(?P<keep>[?&;](?:password|passwd|pwd|secret|token|access_token|api_key|apikey)=)[^&;\s]+",
    re.IGNORECASE,
)
REDACTED = "***"


class TrackingServerUnreachableError(ConnectionError):
    """The configured MLflow tracking server does not answer."""


def redact(text: str) -> str:
    """Mask passwords in URLs: ``postgresql://user:***@host/db``, ``...?password=***``."""
    text = _USERINFO_SECRET.sub(lambda m: f"{m.group('keep')}:{REDACTED}@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('keep')}{REDACTED}", text)


_REDACTION_LOCK = threading.Lock()
_REDACTING_FACTORIES: set[int] = set()


def redact_secrets_in_logs() -> None:
    """Redact URL passwords from every log record this process creates, whatever its logger.

    A record factory (not a handler filter) survives the logging reconfiguration
    Hydra does for each job, and covers libraries that log URLs themselves (the
    Optuna sweeper logs its storage URL). Installing it twice is a no-op.
    """
    with _REDACTION_LOCK:
        current = logging.getLogRecordFactory()
        if id(current) in _REDACTING_FACTORIES:
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = current(*args, **kwargs)
            message = record.getMessage()
            if "://" in message or "=" in message:
                cleaned = redact(message)
                if cleaned != message:
                    record.msg, record.args = cleaned, None
            return record

        _REDACTING_FACTORIES.add(id(factory))
        logging.setLogRecordFactory(factory)


class Terminated(SystemExit):
    """SIGTERM arrived: unwind (ending runs as KILLED) and exit with status 143."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


class StopSignals:
    """Turn SIGTERM and SIGINT into exceptions while installed, and remember which came.

    SIGTERM raises :class:`Terminated` (a ``SystemExit``), SIGINT raises
    ``KeyboardInterrupt``, so ``with`` blocks and ``finally`` clauses run and
    the run can be marked KILLED. Without a handler Python dies on SIGTERM
    without unwinding, and as PID 1 in a container it ignores SIGTERM until
    the kubelet sends SIGKILL. A second SIGTERM while stopping is ignored (the
    clean-up runs to its end; SIGKILL still forces); a second Ctrl-C interrupts
    the clean-up. A signal already ignored (SIGINT in a background job of a
    script) stays ignored. Handlers exist only in the main thread; elsewhere
    this does nothing. Installs nest: each restores what it found.
    """

    received: str | None = None

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}

    @classmethod
    def _handle(cls, signum: int, frame: FrameType | None) -> None:
        del frame
        first = cls.received is None
        if first:
            cls.received = signal.Signals(signum).name
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        if first:
            raise Terminated()

    def install(self) -> StopSignals:
        """Install the handlers (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN:
                continue
            self._previous[signum] = previous
            signal.signal(signum, self._handle)
        return self

    def restore(self) -> None:
        """Put back the handlers found by :meth:`install`."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def __enter__(self) -> StopSignals:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.restore()


def stop_signal() -> str | None:
    """Name of the signal (``SIGTERM``, ``SIGINT``) that is stopping this process, if any."""
    return StopSignals.received


@contextlib.contextmanager
def short_retries(max_retries: int = 1, timeout: int = 10) -> Iterator[None]:
    """Bound MLflow's HTTP retries (7 with backoff, about 4 minutes by default) for a block.

    Used for the calls that end a run: when the server is gone they fail in
    seconds instead of holding a stopping pod past its grace period.
    """
    names = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(max_retries),
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    }
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def end_status(error: BaseException | None) -> str:
    """MLflow status for a block that ended with ``error``: FINISHED, KILLED or FAILED."""
    if error is None:
        return RunStatus.to_string(RunStatus.FINISHED)
    if isinstance(error, (KeyboardInterrupt, Terminated)):
        return RunStatus.to_string(RunStatus.KILLED)
    return RunStatus.to_string(RunStatus.FAILED)


@contextlib.contextmanager
def tracked_run(
    experiment_id: str, parent_run_id: str | None, tags: Mapping[str, str]
) -> Iterator[Any]:
    """Start an MLflow run that ends FINISHED, FAILED or KILLED, whatever happens.

    Unlike ``mlflow.start_run`` (FAILED for any exception, and an end call that
    retries for minutes against a dead server and then replaces the original
    error), a signal ends the run KILLED, and ending it is tried briefly: when
    the server is gone the run stays RUNNING in the store, which is logged,
    and the original error propagates.
    """
    redact_secrets_in_logs()
    with StopSignals():
        run = mlflow.start_run(
            experiment_id=experiment_id,
            parent_run_id=parent_run_id,
            tags={key: redact(str(value)) for key, value in tags.items()},
        )
        error: BaseException | None = None
        try:
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


#: How the stores word a broken uniqueness constraint (SQLite, PostgreSQL, MySQL).
_UNIQUE_CONFLICT = re.compile(
    r"UNIQUE constraint failed|duplicate key value|Duplicate entry", re.IGNORECASE
)


def retry_on_unique_conflict(call: Callable[[], Any], attempts: int = 3) -> Any:
    """Run ``call``; run it again when the store reports a uniqueness conflict.

    MLflow logs a dataset input by looking the dataset up, then inserting it when it
    is new: two runs that log the same dataset at the same moment (parallel sweep
    workers) can both miss it, and the second insert breaks the store's uniqueness
    (seen with four workers on one store: the trial failed). Run again, the lookup
    finds the row the other run wrote, and only the link to this run is added.
    """
    for attempt in range(1, attempts):
        try:
            return call()
        except MlflowException as error:
            if not _UNIQUE_CONFLICT.search(str(error)):
                raise
            LOGGER.info("Another run logged the same record at the same moment; retrying.")
            time.sleep(0.05 * attempt)
    return call()


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
    """Flatten a nested mapping into ``{"a.b.c": "value"}`` for ``log_params``, secrets redacted."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = redact(str(value))
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
    return {key: redact(value) for key, value in tags.items()}


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
