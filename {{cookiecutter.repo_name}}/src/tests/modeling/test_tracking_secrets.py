"""No password in argv, logs, MLflow params or tags: a planted one is searched for.

Each test gives a real run a PostgreSQL URL holding a fresh random password
(a real role with that password, so the run works) and then greps what anyone
on the machine or the project could read: ``ps`` output while it runs, its
console output and log files, Hydra's saved config, and MLflow params and tags.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from pipeline_testkit import REPO_ROOT, stop_process
from serving_support import free_port, wait_until_answering

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


class CommandLines:
    """Every process command line on the machine, sampled every 50 ms in a thread."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            # -ww: whole lines whatever COLUMNS says (pytest sets it; ps would cut at 80).
            command = ["ps", "-ww", "-eo", "args", "--no-headers"]
            listing = subprocess.run(command, capture_output=True, text=True, check=False).stdout
            self.seen.update(listing.splitlines())
            self._stop.wait(0.05)

    def __enter__(self) -> CommandLines:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _files_containing(folder: Path, secret: str) -> list[str]:
    return [
        str(path) for path in folder.rglob("*")
        if path.is_file() and secret.encode() in path.read_bytes()
    ]


@pytest.fixture
def env_without_tracking() -> Iterator[dict[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"),
           "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    for name in ("MLFLOW_TRACKING_URI", "OPTUNA_STORAGE", "POLYAXON_RUN_UUID"):
        env.pop(name, None)
    yield env


def test_tracking_server_script_keeps_the_store_password_off_argv(
    tmp_path: Path, postgres_database: tuple[str, str], env_without_tracking: dict[str, str]
) -> None:
    url, password = postgres_database
    port = free_port()
    log = tmp_path / "server.log"
    env = {
        **env_without_tracking, "WORKING_DIR": str(tmp_path),
        "MLFLOW_BACKEND_STORE_URI": url.replace("postgresql://", "postgresql+psycopg2://", 1),
        "MLFLOW": str(Path(sys.executable).parent / "mlflow"),
        "MLFLOW_PORT": str(port), "MLFLOW_WORKERS": "1",
    }
    with CommandLines() as lines, log.open("w") as out:
        proc = subprocess.Popen([REPO_ROOT / "scripts" / "mlflow-tracking-server.sh"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until_answering(f"http://127.0.0.1:{port}/health", proc, log)
            mlflow.set_tracking_uri(f"http://127.0.0.1:{port}")
            mlflow.MlflowClient().create_experiment("stored-in-postgres")  # the store works
        finally:
            stop_process(proc)
    assert any("mlflow" in line and "server" in line for line in lines.seen)
    assert not [line for line in lines.seen if password in line]
    assert password not in log.read_text()


def test_tuning_run_leaks_no_storage_password(
    tmp_path: Path, tiny_dataset: Path, postgres_database: tuple[str, str],
    env_without_tracking: dict[str, str],
) -> None:
    url, password = postgres_database
    storage = url.replace("postgresql://", "postgresql+psycopg2://", 1)
    env = {
        **env_without_tracking, "WORKING_DIR": str(tmp_path), "PYTHON": sys.executable,
        "OPTUNA_STORAGE": storage, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
        "INPUT_DATA_DIR": str(tiny_dataset), "N_TRIALS": "1", "MLFLOW_HPTUNING_TAG": "secret",
    }
    # The scripts run from WORKING_DIR: give it the project's conf/ and src/.
    for name in ("conf", "src"):
        (tmp_path / name).symlink_to(REPO_ROOT / name)
    with CommandLines() as lines:
        result = subprocess.run(
            [REPO_ROOT / "scripts" / "train-model-hptuning.sh", "train.model.hash_bits=16",
             "train.val_split=0.3", f"train.mlflow_artifact_location={tmp_path}/mlartifacts",
             f"hydra.sweep.dir={tmp_path}/multirun"],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Storage: postgresql+psycopg2://" in result.stdout + result.stderr  # it is logged...
    assert password not in result.stdout + result.stderr  # ...redacted
    assert any("train_model_hptuning.py" in line for line in lines.seen)
    assert not [line for line in lines.seen if password in line]
    assert not _files_containing(tmp_path / "multirun", password)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert len(runs) == 2  # the parent run and its trial
    for run in runs:
        assert not [v for v in {**run.data.params, **run.data.tags}.values() if password in v]
