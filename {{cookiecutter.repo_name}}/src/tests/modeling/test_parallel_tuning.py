"""Sweep workers sharing one Optuna study: a start step, the workers, a finish step.

PostgreSQL comes from ``TEST_POSTGRES_URL`` (see ``src/tests/conftest.py``: the
test fails under ``CI=true`` when it is missing). Each run uses a study name of
its own and deletes the study afterwards. The workers get the storage URL from
``OPTUNA_STORAGE``, as the sweep script gives it, not on their command line.
The MLflow store is a fresh SQLite file: the start step creates it, and the
workers write to it at once.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import optuna
import pytest
from pipeline_testkit import REPO_ROOT, mlflow_overrides

from {{ cookiecutter.src_package_name }}.modeling import sweep_steps

pytestmark = pytest.mark.slow
MODEL = "parallel-model"


def _env(tmp_path: Path, storage: str, tag: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "PYTHON": sys.executable,
           "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "OPTUNA_STORAGE": storage,
           "MLFLOW_HPTUNING_TAG": tag, **extra}  # fmt: skip
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _overrides(tmp_path: Path, data: Path, study: str) -> list[str]:
    return [*mlflow_overrides(tmp_path, data), f"train.registered_model_name={MODEL}",
            "train.model.hash_bits=16", "train.val_split=0.3",
            f"hydra.sweeper.study_name={study}"]  # fmt: skip


def _assert_one_sweep_one_champion(tmp_path: Path, storage: str, study: str, tag: str,
                                   n_trials: int) -> None:  # fmt: skip
    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    assert len(trials) == n_trials
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(n_trials))
    assert len({tuple(sorted(t.params.items())) for t in trials}) == n_trials  # no repeats

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list",
                              filter_string=f"tags.hptuning_tag = '{tag}'")  # fmt: skip
    parents = [r for r in runs if r.data.tags.get("run_role") == "hptuning_parent"]
    children = [r for r in runs if r.data.tags.get("run_role") == "hptuning_trial"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == n_trials and all(c.info.status == "FINISHED" for c in children)
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    assert parents[0].info.end_time >= max(c.info.end_time for c in children)
    client = mlflow.MlflowClient()
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == 1  # crowned once
    champion = client.get_model_version_by_alias(MODEL, "champion")
    best = max(c.data.metrics["val_accuracy"] for c in children)
    assert mlflow.get_run(champion.run_id).data.metrics["val_accuracy"] == best


@pytest.fixture
def postgres_study(postgres_url: str) -> Iterator[tuple[str, str]]:
    """Storage URL and a fresh study name; the study is deleted afterwards."""
    storage = postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    name = f"test-parallel-{uuid.uuid4().hex[:12]}"
    yield storage, name
    with contextlib.suppress(KeyError):  # the start step did not create it
        optuna.delete_study(study_name=name, storage=storage)


@pytest.mark.postgres
def test_workers_started_by_hand_share_the_sweep_the_steps_start_and_finish(
    tmp_path: Path, tiny_dataset: Path, postgres_study: tuple[str, str]
) -> None:
    """The multi-pod way: start step, workers that do not crown, finish step."""
    storage, study = postgres_study
    env = _env(tmp_path, storage, "by-hand")
    overrides = _overrides(tmp_path, tiny_dataset, study)

    def step(name: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", sweep_steps.__name__, name, *overrides]
        return subprocess.run(command, cwd=tmp_path, env=env, text=True,
                              capture_output=True, timeout=300, check=False)  # fmt: skip

    started = step("start")
    assert started.returncode == 0, started.stderr[-4000:]
    script = str(REPO_ROOT / "src" / "train_model_hptuning.py")
    workers = [
        subprocess.Popen(
            [sys.executable, script, "--multirun", *overrides, "hptuning.promote=false",
             "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={tmp_path}/multirun-{index}"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for index in range(2)
    ]
    try:
        outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output[-4000:]
        assert "the sweep's finish step crowns" in output and "Sweep finished" not in output
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    [parent] = mlflow.search_runs(search_all_experiments=True, output_format="list",
                                  filter_string="tags.run_role = 'hptuning_parent'")
    assert parent.info.status == "RUNNING"  # the workers have ended; the sweep has not
    assert mlflow.MlflowClient().search_model_versions(f"name = '{MODEL}'") == []

    finished = step("finish")
    assert finished.returncode == 0, finished.stderr[-4000:]
    assert "Sweep finished" in finished.stderr + finished.stdout
    _assert_one_sweep_one_champion(tmp_path, storage, study, "by-hand", 4)


def _script_sweep(tmp_path: Path, data: Path, storage: str, study: str, workers: int) -> str:
    """``train-model-hptuning.sh`` with ``workers`` workers, one trial each; its output."""
    env = _env(tmp_path, storage, study, WORKING_DIR=str(tmp_path), N_WORKERS=str(workers),
               N_TRIALS=str(workers), SWEEP_DIR=str(tmp_path / "multirun"))
    for name in ("conf", "src"):  # the script runs from WORKING_DIR
        (tmp_path / name).symlink_to(REPO_ROOT / name)
    result = subprocess.run(
        [REPO_ROOT / "scripts" / "train-model-hptuning.sh", *_overrides(tmp_path, data, study)],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert output.count("Sweep finished") == 1
    return output


@pytest.mark.postgres
def test_the_sweep_script_runs_four_workers_on_an_empty_database(
    tmp_path: Path, tiny_dataset: Path, postgres_database: tuple[str, str]
) -> None:
    """Four workers at once on a database with no Optuna tables yet, and a fresh MLflow store.

    Processes creating Optuna's tables at the same moment collide (PostgreSQL:
    duplicate key in pg_type); four bare ``optuna.create_study`` calls started together
    on an empty database failed in 4 of 8 tries. The start step creates them first.
    """
    url, password = postgres_database
    storage = url.replace("postgresql://", "postgresql+psycopg2://", 1)
    output = _script_sweep(tmp_path, tiny_dataset, storage, "empty-database", 4)
    assert "Study 'empty-database' (maximize) is ready in postgresql+psycopg2://" in output
    assert password not in output
    _assert_one_sweep_one_champion(tmp_path, storage, "empty-database", "empty-database", 4)


def test_the_sweep_script_runs_two_workers_on_sqlite(tmp_path: Path, tiny_dataset: Path) -> None:
    """The laptop way: the study and the MLflow store in SQLite files, two workers."""
    storage = f"sqlite:///{tmp_path}/optuna.db"
    _script_sweep(tmp_path, tiny_dataset, storage, "on-sqlite", 2)
    _assert_one_sweep_one_champion(tmp_path, storage, "on-sqlite", "on-sqlite", 2)
