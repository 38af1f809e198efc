"""The container entrypoints run on the host against tiny data, with the baked project installed.

Each script is called as an image would call it, with its inputs in the environment and the
interpreter from the project's venv: data preparation, training tracked in MLflow, a
two-worker Optuna sweep on one SQLite study, sharded batch inference, the API under gunicorn,
and the MLflow tracking server. Nothing is downloaded: the reviews are written by the test.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from helpers import run

pytestmark = pytest.mark.slow

# "awesome" and "boring": the guide's two requests get an answer known in advance.
POSITIVE = "great wonderful superb moving brilliant delightful touching masterpiece loved awesome".split()
NEGATIVE = "awful boring terrible dull waste poor clumsy tedious hated disappointing".split()
NEUTRAL = "movie film plot actor scene story director cast script ending music camera".split()


def write_reviews(root: Path, per_label: int, seed: int) -> None:
    """An IMDB-layout tree ({train,test}/{pos,neg}/<id>_<rating>.txt) of synthetic reviews."""
    rng = random.Random(seed)
    for split in ("train", "test"):
        for label, words, ratings in (("pos", POSITIVE, (7, 8, 9, 10)), ("neg", NEGATIVE, (1, 2, 3, 4))):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(per_label):
                text = " ".join(rng.choice(words if rng.random() < 0.6 else NEUTRAL) for _ in range(25))
                (folder / f"{seed * 1000 + i}_{rng.choice(ratings)}.txt").write_text(f"The {text}.")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def script_env(project_venv: Path, project: Path, **env: str) -> dict[str, str]:
    return {
        "WORKING_DIR": str(project),
        "PYTHON": str(project_venv / "python"),
        "PATH": f"{project_venv}{os.pathsep}{os.environ.get('PATH', '')}",
        **env,
    }


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 120) -> bytes:
    """GET url until it answers 200; fail early if the server process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}:\n{proc.stdout.read()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return response.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    """Stop a server this test started: SIGTERM to its process group, SIGKILL if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def start(args: list, env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = log.open("w")
    return subprocess.Popen(
        [str(a) for a in args], env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT,
        start_new_session=True, text=True,
    )


@pytest.fixture(scope="module")
def pipeline(baked_default: Path, project_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Data prep from two raw trees, then one tracked training run; returns paths and the model URI."""
    work = tmp_path_factory.mktemp("host-runs")
    write_reviews(work / "raw" / "set1", per_label=40, seed=1)
    write_reviews(work / "raw" / "set2", per_label=20, seed=2)
    processed = work / "processed"
    tracking = f"sqlite:///{work / 'mlflow.db'}"
    run(
        [baked_default / "scripts" / "process-data.sh"],
        env=script_env(
            project_venv, baked_default,
            RAW_DATA_DIRS=json.dumps([str(work / "raw" / "set1"), str(work / "raw" / "set2")]),
            PROCESSED_DATA_DIR=str(processed),
        ),
        timeout=600,
    )
    assert processed.is_dir() and any(processed.iterdir())
    run(
        [baked_default / "scripts" / "train-model.sh"],
        env=script_env(
            project_venv, baked_default, INPUT_DATA_DIR=str(processed), SETUP_MLFLOW="true",
            MLFLOW_AUTOLOG="false", MLFLOW_TRACKING_URI=tracking, MLFLOW_EXP_NAME="host-runs",
        ),
        timeout=900,
    )
    # The newest registered version, else the newest logged model of the experiment.
    finder = (
        "import sys, mlflow\n"
        "client = mlflow.MlflowClient(sys.argv[1])\n"
        "versions = client.search_model_versions(f\"name='{sys.argv[2]}'\")\n"
        "if versions:\n"
        "    print(f'models:/{sys.argv[2]}/' + str(max(int(v.version) for v in versions)))\n"
        "else:\n"
        "    exp = client.get_experiment_by_name('host-runs')\n"
        "    print(mlflow.search_logged_models(experiment_ids=[exp.experiment_id], output_format='list')[0].model_uri)\n"
    )
    model_uri = run([project_venv / "python", "-c", finder, tracking, baked_default.name]).stdout.strip().splitlines()[-1]
    batch_input = work / "batch-input"
    batch_input.mkdir()
    for i, source in enumerate(sorted((work / "raw" / "set2" / "test").rglob("*.txt"))[:10]):
        (batch_input / f"{i}.txt").write_text(source.read_text())
    return {"work": work, "processed": processed, "tracking": tracking, "model_uri": model_uri, "batch_input": batch_input}


def test_batch_inference_shards_cover_the_input(baked_default: Path, project_venv: Path, pipeline: dict) -> None:
    out = pipeline["work"] / "batch-output"
    for index in (0, 1):
        run(
            [baked_default / "scripts" / "batch-inferencing.sh"],
            env=script_env(
                project_venv, baked_default, PRED_MODEL_URI=pipeline["model_uri"],
                MLFLOW_TRACKING_URI=pipeline["tracking"], INPUT_DATA_DIR=str(pipeline["batch_input"]),
                OUTPUT_DIR=str(out), NUM_SHARDS="2", JOB_COMPLETION_INDEX=str(index),
            ),
            timeout=600,
        )
    records = [
        json.loads(line)
        for index in (0, 1)
        for line in (out / f"shard-{index}" / "batch-infer-res.jsonl").read_text().splitlines()
    ]
    assert sorted(Path(r["filepath"]).name for r in records) == sorted(f"{i}.txt" for i in range(10))
    assert {r["label"] for r in records} <= {"positive", "negative"}


def test_tuning_workers_share_one_study(baked_default: Path, project_venv: Path, pipeline: dict) -> None:
    storage = f"sqlite:///{pipeline['work'] / 'optuna.db'}"
    run(
        [baked_default / "scripts" / "train-model-hptuning.sh"],
        env=script_env(
            project_venv, baked_default, INPUT_DATA_DIR=str(pipeline["processed"]), SETUP_MLFLOW="true",
            MLFLOW_TRACKING_URI=pipeline["tracking"], MLFLOW_EXP_NAME="host-tuning", MLFLOW_HPTUNING_TAG="42",
            OPTUNA_STORAGE=storage, OPTUNA_STUDY_NAME="host-study", N_WORKERS="2", N_TRIALS="2",
            SWEEP_DIR=str(pipeline["work"] / "multirun"),
        ),
        timeout=1200,
    )
    count = run([
        project_venv / "python", "-c",
        "import sys, optuna; print(len(optuna.load_study(study_name='host-study', storage=sys.argv[1]).trials))",
        storage,
    ]).stdout.strip().splitlines()[-1]
    assert count == "2"
    assert (pipeline["work"] / "multirun" / "worker-0").is_dir() and (pipeline["work"] / "multirun" / "worker-1").is_dir()


def test_api_entrypoint_serves_the_model(baked_default: Path, project_venv: Path, pipeline: dict, tmp_path: Path) -> None:
    port = free_port()
    env = script_env(
        project_venv, baked_default, GUNICORN=str(project_venv / "gunicorn"), PRED_MODEL_URI=pipeline["model_uri"],
        MLFLOW_TRACKING_URI=pipeline["tracking"], API_HOST="127.0.0.1", API_PORT=str(port), API_WORKERS="1",
        HOME=str(tmp_path),
    )
    proc = start([baked_default / "scripts" / "api-entrypoint.sh"], env, tmp_path / "api.log")
    try:
        wait_for(f"http://127.0.0.1:{port}/api/v1/health/ready", proc)
        body = json.dumps(
            {"reviews": [{"id": 9176, "text": "This movie is quite boring."}, {"id": 71, "text": "This movie is awesome."}]}
        ).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/model/predict", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert [(d["review_id"], d["label"]) for d in answer["data"]] == [(9176, "negative"), (71, "positive")]
        wait_for(f"http://127.0.0.1:{port}/api/v1/model/version", proc)
        wait_for(f"http://127.0.0.1:{port}/api/v1/health/live", proc)
    finally:
        stop(proc)
        print((tmp_path / "api.log").read_text()[-3000:])


def test_mlflow_server_entrypoint_starts(project_venv: Path, baked_default: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {
        "WORKING_DIR": str(tmp_path), "MLFLOW": str(project_venv / "mlflow"), "MLFLOW_HOST": "127.0.0.1",
        "MLFLOW_PORT": str(port), "MLFLOW_WORKERS": "1", "HOME": str(tmp_path),
        "PATH": f"{project_venv}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    proc = start([baked_default / "scripts" / "mlflow-tracking-server.sh"], env, tmp_path / "mlflow.log")
    try:
        wait_for(f"http://127.0.0.1:{port}/health", proc)
        answer = json.loads(wait_for(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=5", proc))
        assert [e["name"] for e in answer["experiments"]] == ["Default"]
        assert (tmp_path / "mlflow.db").exists(), "the default backend store is sqlite:///mlflow.db in WORKING_DIR"
    finally:
        stop(proc)
