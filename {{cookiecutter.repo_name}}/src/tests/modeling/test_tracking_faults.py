"""Runs end, and models survive, when a run is stopped or its tracking server goes away.

Real processes get real signals; a real ``mlflow server`` sits behind a proxy
that holds one request (so the signal arrives mid-run, while the model is
being logged) or makes the server vanish at that moment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import optuna
import pytest
from pipeline_testkit import (
    REPO_ROOT,
    FaultyProxy,
    start_tracking_server,
    stop_process,
    wait_for,
)
from serving_support import free_port, wait_until_answering

from {{ cookiecutter.src_package_name }}.modeling.predictor import Predictor

pytestmark = pytest.mark.slow
#: The first request of logging the trained model's lineage: the fit is done by then.
AFTER_FIT = "/runs/log-inputs"
#: In a sweep, the first artifact a trial uploads (after its fit): the parent run logs its
#: dataset input when the sweep starts, but no artifact.
TRIAL_AFTER_FIT = "/mlflow-artifacts/artifacts/"


def _start(script: str, args: list[str], tmp_path: Path, **env: str) -> subprocess.Popen:
    full_env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT / "src"),
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        **env,
    }
    for name in ("POLYAXON_RUN_UUID", "OPTUNA_STORAGE", "MLFLOW_HPTUNING_TAG"):
        if name not in env:
            full_env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "src" / script), *args],
        cwd=tmp_path, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _training_args(tmp_path: Path, data: Path) -> list[str]:
    return [
        f"train.data_path={data}", "train.model.hash_bits=16", "train.val_split=0.3",
        f"train.local_model_dir={tmp_path}/models/model", "train.register_model=false",
        f"train.mlflow_exp_name={tmp_path.name}",
    ]


def _serve(folder: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    proc = start_tracking_server(folder, port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/health", proc, folder / "server.log")
        yield url, proc
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow server for the tests that leave it running; each uses its own experiment."""
    for url, _ in _serve(tmp_path_factory.mktemp("server")):
        yield url


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A real MLflow server (URL and process) of this test alone, stopped after it."""
    yield from _serve(tmp_path / "server")


def _runs(url: str, experiment: str) -> list:
    mlflow.set_tracking_uri(url)
    return mlflow.search_runs(experiment_names=[experiment], output_format="list")


@pytest.mark.parametrize(
    ("signum", "exit_codes"),
    [(signal.SIGTERM, {143}), (signal.SIGINT, {130, -signal.SIGINT, 1})],
    ids=["SIGTERM", "SIGINT"],
)
def test_a_signal_ends_the_run_killed(
    tmp_path: Path, tiny_dataset: Path, shared_server: str, signum: int, exit_codes: set[int],
) -> None:
    """SIGTERM or Ctrl-C while the model is being logged: the run ends KILLED, not RUNNING."""
    url = shared_server
    with FaultyProxy(url, AFTER_FIT, mode="stall") as proxy:
        proc = _start("train_model.py", _training_args(tmp_path, tiny_dataset), tmp_path,
                      MLFLOW_TRACKING_URI=proxy.url)
        try:
            assert proxy.triggered.wait(timeout=180), "training never reached model logging"
            proc.send_signal(signum)
            output = proc.communicate(timeout=120)[0]
        finally:
            stop_process(proc)
    assert proc.returncode in exit_codes, output[-3000:]
    (run,) = _runs(url, tmp_path.name)
    assert run.info.status == "KILLED", output[-3000:]
    assert run.data.tags["stopped_by_signal"] == signal.Signals(signum).name
    assert f"ended KILLED ({signal.Signals(signum).name} received)" in output


def test_a_lost_tracking_server_keeps_the_trained_model(
    tmp_path: Path, tiny_dataset: Path, server: tuple[str, subprocess.Popen]
) -> None:
    """The server dies after the fit: the model is saved locally, its path logged."""
    url, server_proc = server
    with FaultyProxy(url, AFTER_FIT, mode="gone",
                     on_trigger=lambda: stop_process(server_proc)) as proxy:
        proc = _start("train_model.py", _training_args(tmp_path, tiny_dataset), tmp_path,
                      MLFLOW_TRACKING_URI=proxy.url, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
        try:
            output = proc.communicate(timeout=240)[0]
        finally:
            stop_process(proc)
        assert proxy.triggered.is_set()
    assert proc.returncode == 1, output[-3000:]
    saved = tmp_path / "models" / "model"
    assert f"The trained model is saved at {saved}" in output, output[-3000:]
    predictor = Predictor.load(str(saved))
    probabilities = predictor.predict_proba(["wonderful brilliant superb", "awful boring dull"])
    assert probabilities[0, 1] > probabilities[1, 1]  # P(positive)
    assert "stays RUNNING" in output  # the run could not be ended: said, not hidden


def test_a_stopped_sweep_fails_its_trial_and_kills_its_runs(
    tmp_path: Path, tiny_dataset: Path, shared_server: str
) -> None:
    """SIGTERM mid-trial: the Optuna trial ends FAIL, the trial and parent runs KILLED."""
    url = shared_server
    storage = f"sqlite:///{tmp_path}/optuna.db"
    with FaultyProxy(url, TRIAL_AFTER_FIT, mode="stall") as proxy:
        proc = _start(
            "train_model_hptuning.py",
            ["--multirun", *_training_args(tmp_path, tiny_dataset), "hydra.sweeper.n_trials=3",
             f"hydra.sweep.dir={tmp_path}/multirun", "hydra.sweeper.study_name=stopped"],
            tmp_path, MLFLOW_TRACKING_URI=proxy.url, OPTUNA_STORAGE=storage,
            MLFLOW_HPTUNING_TAG="stopped-sweep",
        )
        try:
            assert proxy.triggered.wait(timeout=180), "the first trial never reached model logging"
            proc.send_signal(signal.SIGTERM)
            output = proc.communicate(timeout=120)[0]
        finally:
            stop_process(proc)
    assert proc.returncode == 143, output[-3000:]
    trials = optuna.load_study(study_name="stopped", storage=storage).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL], output[-3000:]
    runs = _runs(url, tmp_path.name)
    roles = {r.data.tags["run_role"]: r.info.status for r in runs}
    assert roles == {"hptuning_parent": "KILLED", "hptuning_trial": "KILLED"}, output[-3000:]
    assert "Sweep stopped by SIGTERM: Optuna trial(s) [0] marked FAIL" in output


WORKER = """
import os, signal, sys, time
from pathlib import Path
out = Path(os.environ["MARKERS"])
assert (out / "step-start").exists(), "a worker started before the start step"
(out / f"{os.getpid()}.started").touch()
if os.environ.get("FAIL_ONE"):
    try:  # the first worker here fails, the other succeeds
        os.close(os.open(out / "failed", os.O_CREAT | os.O_EXCL))
        sys.exit(3)
    except FileExistsError:
        sys.exit(0)
def stop(signum, frame):
    time.sleep(1)  # ending runs takes a moment: the script must wait for it
    (out / f"{os.getpid()}.{signal.Signals(signum).name}").touch()
    sys.exit(143)
signal.signal(signal.SIGTERM, stop)
time.sleep(60)
"""
#: Stands in for the sweep's steps: records the step and how many workers had ended by then.
STEP = """
import os, sys
from pathlib import Path
out = Path(os.environ["MARKERS"])
ended = len(list(out.glob("*.SIGTERM"))) + out.joinpath("failed").exists()
(out / f"step-{sys.argv[1]}").write_text(str(ended))
"""


def _fake_sweep(tmp_path: Path, **env: str) -> tuple[subprocess.Popen, Path]:
    """``train-model-hptuning.sh`` with N_WORKERS=2, whose workers and steps are stand-ins."""
    src = tmp_path / "src"
    steps = src / "{{ cookiecutter.src_package_name }}" / "modeling"
    steps.mkdir(parents=True)
    for package in (steps, steps.parent):
        (package / "__init__.py").touch()
    (steps / "sweep_steps.py").write_text(STEP)
    (src / "train_model_hptuning.py").write_text(WORKER)
    markers = tmp_path / "markers"
    markers.mkdir()
    env = {**os.environ, "WORKING_DIR": str(tmp_path), "PYTHON": sys.executable, "N_WORKERS": "2",
           "OPTUNA_STORAGE": "sqlite:///unused.db", "MARKERS": str(markers), **env}
    return subprocess.Popen([REPO_ROOT / "scripts" / "train-model-hptuning.sh"], env=env), markers


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_sweep_script_hands_a_signal_to_its_workers_and_waits(
    tmp_path: Path, signum: int
) -> None:
    """N_WORKERS=2: the script forwards SIGTERM (Ctrl-C too), waits, then cancels the sweep."""
    proc, markers = _fake_sweep(tmp_path)
    try:
        wait_for(lambda: len(list(markers.glob("*.started"))) == 2, 60, "two workers")
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 143
    finally:
        stop_process(proc)
    assert len(list(markers.glob("*.SIGTERM"))) == 2  # both ended cleanly before the script
    assert (markers / "step-cancel").read_text() == "2"  # the parent run ends KILLED after them
    assert not (markers / "step-finish").exists()  # no champion


def test_the_sweep_script_fails_when_a_worker_fails(tmp_path: Path) -> None:
    """One worker of two fails: the sweep still finishes (the other's trials count), status 3."""
    proc, markers = _fake_sweep(tmp_path, FAIL_ONE="1")
    try:
        assert proc.wait(timeout=60) == 3
    finally:
        stop_process(proc)
    assert (markers / "step-finish").read_text() == "1"
