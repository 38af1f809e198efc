"""Two sweep workers sharing one Optuna study on PostgreSQL (the cluster path).

Skipped when no PostgreSQL server answers at ``TEST_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/test``). Each run uses a study
name of its own and deletes the study afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import mlflow
import pytest
from pipeline_testkit import REPO_ROOT, mlflow_overrides

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
).replace("postgresql://", "postgresql+psycopg2://", 1)
N_TRIALS_PER_WORKER = 2


@pytest.fixture
def postgres_study() -> str:
    """A fresh, pre-created study (avoids the creation race of parallel workers)."""
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        psycopg2.connect(POSTGRES_URL.replace("+psycopg2", ""), connect_timeout=3).close()
    except psycopg2.OperationalError as error:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {error}")
    import optuna  # pylint: disable=import-outside-toplevel

    name = f"test-parallel-{uuid.uuid4().hex[:12]}"
    optuna.create_study(storage=POSTGRES_URL, study_name=name, direction="maximize",
                        load_if_exists=True)
    yield name
    optuna.delete_study(study_name=name, storage=POSTGRES_URL)


def test_two_workers_share_one_study_and_one_parent_run(
    tmp_path: Path, tiny_dataset: Path, postgres_study: str
) -> None:
    import optuna  # pylint: disable=import-outside-toplevel

    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT / "src"),
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "MLFLOW_HPTUNING_TAG": "parallel-1",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    workers = [
        subprocess.Popen(
            [
                sys.executable, str(REPO_ROOT / "src" / "train_model_hptuning.py"), "--multirun",
                *mlflow_overrides(tmp_path, tiny_dataset),
                "train.registered_model_name=parallel-model", "train.model.hash_bits=16",
                "train.val_split=0.3",
                f"hydra.sweep.dir={tmp_path}/multirun-{worker}",
                f"hydra.sweeper.storage={POSTGRES_URL}",
                f"hydra.sweeper.study_name={postgres_study}",
                f"hydra.sweeper.n_trials={N_TRIALS_PER_WORKER}",
                "hydra.sweeper.sampler.seed=null",
            ],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for worker in range(2)
    ]
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output[-4000:]

    study = optuna.load_study(study_name=postgres_study, storage=POSTGRES_URL)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 2 * N_TRIALS_PER_WORKER
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(2 * N_TRIALS_PER_WORKER))
    assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)  # no repeats

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    runs = mlflow.search_runs(search_all_experiments=True,
                              filter_string="tags.hptuning_tag = 'parallel-1'",
                              output_format="list")
    parents = [r for r in runs if r.data.tags.get("run_role") == "hptuning_parent"]
    children = [r for r in runs if r.data.tags.get("run_role") == "hptuning_trial"]
    assert len(parents) == 1
    assert len(children) == 2 * N_TRIALS_PER_WORKER
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    champion = mlflow.MlflowClient().get_model_version_by_alias("parallel-model", "champion")
    best = max(c.data.metrics["val_accuracy"] for c in children)
    assert mlflow.get_run(champion.run_id).data.metrics["val_accuracy"] == best
