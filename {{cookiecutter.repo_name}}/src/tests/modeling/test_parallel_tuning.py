"""Two sweep workers sharing one Optuna study on PostgreSQL (the cluster path).

PostgreSQL comes from ``TEST_POSTGRES_URL`` (see ``src/tests/conftest.py``: the
test fails under ``CI=true`` when it is missing). Each run uses a study name of
its own and deletes the study afterwards. The workers get the storage URL from
``OPTUNA_STORAGE``, as the sweep script gives it, not on their command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from pipeline_testkit import REPO_ROOT, mlflow_overrides

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
#: Worker 0 runs one trial and ends long before worker 1, which runs twelve (a trial on
#: the tiny dataset takes about a second; a worker starts in several).
TRIALS = (1, 12)


@pytest.fixture
def postgres_study(postgres_url: str) -> Iterator[tuple[str, str]]:
    """A fresh, pre-created study (avoids the creation race of parallel workers)."""
    import optuna  # pylint: disable=import-outside-toplevel

    storage = postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    name = f"test-parallel-{uuid.uuid4().hex[:12]}"
    optuna.create_study(storage=storage, study_name=name, direction="maximize",
                        load_if_exists=True)
    yield storage, name
    optuna.delete_study(study_name=name, storage=storage)


def _parent_status(tmp_path: Path) -> str | None:
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    parents = mlflow.search_runs(
        search_all_experiments=True, output_format="list",
        filter_string="tags.hptuning_tag = 'parallel-1' and tags.run_role = 'hptuning_parent'",
    )
    return parents[0].info.status if parents else None


def test_two_workers_share_one_study_one_parent_run_and_crown_once(
    tmp_path: Path, tiny_dataset: Path, postgres_study: tuple[str, str]
) -> None:
    import optuna  # pylint: disable=import-outside-toplevel

    storage, study_name = postgres_study
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT / "src"),
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "MLFLOW_HPTUNING_TAG": "parallel-1",
        "OPTUNA_STORAGE": storage,
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    def start(worker: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable, str(REPO_ROOT / "src" / "train_model_hptuning.py"), "--multirun",
                *mlflow_overrides(tmp_path, tiny_dataset),
                "train.registered_model_name=parallel-model", "train.model.hash_bits=16",
                "train.val_split=0.3",
                f"hydra.sweep.dir={tmp_path}/multirun-{worker}",
                f"hydra.sweeper.study_name={study_name}",
                f"hydra.sweeper.n_trials={TRIALS[worker]}",
                "hydra.sweeper.sampler.seed=null",
            ],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    # The long worker joins the parent run first (its first trial folder appears only
    # after it has joined), so the short one cannot end before the other has joined:
    # a worker that joins after every other has ended reopens the parent, by design.
    long_worker = start(1)
    first_trial = tmp_path / "multirun-1" / "0"
    deadline = time.monotonic() + 300
    while not first_trial.exists() and long_worker.poll() is None:
        assert time.monotonic() < deadline, "worker 1 did not start a trial in 300 s"
        time.sleep(0.2)
    workers = [start(0), long_worker]
    try:
        first_output = workers[0].communicate(timeout=300)[0]
        assert workers[0].returncode == 0, first_output[-4000:]
        # Worker 1 still runs its trials: the shared parent run must still be open.
        assert workers[1].poll() is None, "worker 1 ended too early for this test to tell"
        assert _parent_status(tmp_path) == "RUNNING"
        last_output = workers[1].communicate(timeout=300)[0]
        assert workers[1].returncode == 0, last_output[-4000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert "Sweep finished" not in first_output and "still running" in first_output
    assert "Sweep finished" in last_output

    study = optuna.load_study(study_name=study_name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == sum(TRIALS)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(sum(TRIALS)))
    assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)  # no repeats

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    runs = mlflow.search_runs(search_all_experiments=True,
                              filter_string="tags.hptuning_tag = 'parallel-1'",
                              output_format="list")
    parents = [r for r in runs if r.data.tags.get("run_role") == "hptuning_parent"]
    children = [r for r in runs if r.data.tags.get("run_role") == "hptuning_trial"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].info.end_time >= max(c.info.end_time for c in children)
    assert len(children) == sum(TRIALS)
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    client = mlflow.MlflowClient()
    assert len(client.search_model_versions("name = 'parallel-model'")) == 1  # crowned once
    champion = client.get_model_version_by_alias("parallel-model", "champion")
    best = max(c.data.metrics["val_accuracy"] for c in children)
    assert mlflow.get_run(champion.run_id).data.metrics["val_accuracy"] == best


def test_the_sweep_script_starts_parallel_workers_on_an_empty_database(
    tmp_path: Path, tiny_dataset: Path, postgres_database: tuple[str, str]
) -> None:
    """Four workers at once on a database with no Optuna tables yet.

    Processes creating Optuna's tables at the same moment collide (PostgreSQL:
    duplicate key in pg_type); four bare ``optuna.create_study`` calls started together
    on an empty database failed in 4 of 8 tries. The script creates the study first.
    """
    import optuna  # pylint: disable=import-outside-toplevel

    url, password = postgres_database
    storage = url.replace("postgresql://", "postgresql+psycopg2://", 1)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "PYTHON": sys.executable,
           "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "WORKING_DIR": str(tmp_path),
           "OPTUNA_STORAGE": storage, "OPTUNA_STUDY_NAME": "empty-database",
           "N_WORKERS": "4", "N_TRIALS": "4", "MLFLOW_HPTUNING_TAG": "empty-database"}
    env.pop("MLFLOW_TRACKING_URI", None)
    for name in ("conf", "src"):  # the script runs from WORKING_DIR
        (tmp_path / name).symlink_to(REPO_ROOT / name)
    result = subprocess.run(
        [REPO_ROOT / "scripts" / "train-model-hptuning.sh",
         *mlflow_overrides(tmp_path, tiny_dataset), "train.model.hash_bits=16",
         "train.val_split=0.3", f"hydra.sweep.dir={tmp_path}/multirun"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Study 'empty-database' (maximize) is ready in postgresql+psycopg2://" in output
    assert password not in output
    trials = optuna.load_study(study_name="empty-database", storage=storage).get_trials()
    assert len(trials) == 4
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
