"""Optuna sweeps through ``src/train_model_hptuning.py --multirun`` (subprocesses)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import optuna
import pytest
from pipeline_testkit import mlflow_overrides, run_script

from {{ cookiecutter.src_package_name }}.modeling import sweep_steps

pytestmark = pytest.mark.slow
MODEL_NAME = "sweep-model"


def _sweep(tmp_path: Path, data: Path, tag: str, *extra: str):
    result = run_script(
        "train_model_hptuning.py",
        [
            "--multirun",
            *mlflow_overrides(tmp_path, data),
            f"train.registered_model_name={MODEL_NAME}",
            "train.val_split=0.3",
            "train.model.hash_bits=16",
            f"hydra.sweep.dir={tmp_path}/multirun",
            "hydra.sweeper.n_trials=2",
            *extra,
        ],
        cwd=tmp_path,
        env={"MLFLOW_HPTUNING_TAG": tag},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    runs = mlflow.search_runs(
        search_all_experiments=True, filter_string=f"tags.hptuning_tag = '{tag}'",
        output_format="list",
    )
    parents = [r for r in runs if r.data.tags.get("run_role") == "hptuning_parent"]
    trials = [r for r in runs if r.data.tags.get("run_role") == "hptuning_trial"]
    return result, parents, trials


def test_two_trials_under_one_parent_and_a_tested_champion(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    result, parents, trials = _sweep(tmp_path, tiny_dataset, "sweep-1",
                                     "hydra.sweeper.sampler.seed=7")
    assert len(parents) == 1 and len(trials) == 2
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert {t.data.tags["mlflow.parentRunId"] for t in trials} == {parent.info.run_id}
    assert all(t.info.status == "FINISHED" for t in trials)
    assert trials[0].data.params["model.C"] != trials[1].data.params["model.C"]
    assert len({t.data.tags["model_uri"] for t in trials}) == 2  # one model per trial

    best = max(trials, key=lambda t: t.data.metrics["val_accuracy"])
    other = next(t for t in trials if t.info.run_id != best.info.run_id)
    assert parent.data.tags["best_run_id"] == best.info.run_id
    best_now = mlflow.get_run(best.info.run_id)
    assert "test_accuracy" in best_now.data.metrics  # tested once, after the sweep
    assert not any(k.startswith("test_") for k in mlflow.get_run(other.info.run_id).data.metrics)
    assert "test_accuracy" in mlflow.get_run(parent.info.run_id).data.metrics

    champion = mlflow.MlflowClient().get_model_version_by_alias(MODEL_NAME, "champion")
    assert champion.run_id == best.info.run_id
    versions = mlflow.MlflowClient().search_model_versions(f"name = '{MODEL_NAME}'")
    assert len(versions) == 1  # trials are not registered one by one
    assert "Champion: models:/sweep-model@champion" in result.stdout + result.stderr


def test_a_failed_trial_is_recorded_and_the_sweep_goes_on(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    # Random sampler, seed 0: C is drawn as 1.0, -1.0, 1.0. The second trial fails at
    # start-up (config validation names train.model.C) before any MLflow run starts.
    result, parents, trials = _sweep(
        tmp_path, tiny_dataset, "sweep-fail",
        "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=0",
        "hydra.sweeper.n_trials=3", "train.model.C=choice(-1.0,1.0)",
        "train.model.ngram_max=1", "train.model.nb_alpha=1.0",
    )
    ordered = sorted(trials, key=lambda t: t.info.start_time)
    assert [t.info.status for t in ordered] == ["FINISHED", "FINISHED"]
    assert "train.model.C: Input should be greater than 0" in result.stdout + result.stderr
    assert parents[0].data.tags["best_run_id"] in {ordered[0].info.run_id, ordered[1].info.run_id}
    assert parents[0].info.status == "FINISHED"


#: One trial with fixed hyperparameters: a strong model (val_accuracy 1.0 on the tiny data),
#: then a weakly regularised one that cannot do better (a tie does not move the champion).
GOOD = ["train.model.C=10.0", "train.model.ngram_max=1", "train.model.nb_alpha=1.0"]
NO_BETTER = ["train.model.C=0.000001", "train.model.ngram_max=1", "train.model.nb_alpha=1.0"]


def test_champion_moves_only_when_beaten_or_forced(tmp_path: Path, tiny_dataset: Path) -> None:
    client = mlflow.MlflowClient
    _, (first,), (good,) = _sweep(tmp_path, tiny_dataset, "good", "hydra.sweeper.n_trials=1", *GOOD)
    assert first.data.tags["champion_decision"] == "promoted"
    assert client().get_model_version_by_alias(MODEL_NAME, "champion").run_id == good.info.run_id

    result, (second,), (useless,) = _sweep(
        tmp_path, tiny_dataset, "no-better", "hydra.sweeper.n_trials=1", *NO_BETTER
    )
    assert useless.data.metrics["val_accuracy"] <= good.data.metrics["val_accuracy"]
    assert client().get_model_version_by_alias(MODEL_NAME, "champion").run_id == good.info.run_id
    assert client().get_model_version_by_alias(MODEL_NAME, "challenger").run_id == (
        useless.info.run_id
    )
    assert second.data.tags["champion_decision"] == "kept"
    assert "does not beat the champion's" in second.data.tags["champion_reason"]
    assert second.data.metrics["champion_previous_val_accuracy"] == (
        good.data.metrics["val_accuracy"]
    )
    assert "Champion kept" in result.stdout + result.stderr

    _, (third,), (forced,) = _sweep(
        tmp_path, tiny_dataset, "forced", "hydra.sweeper.n_trials=1", *NO_BETTER,
        "hptuning.force_champion=true",
    )
    assert third.data.tags["champion_decision"] == "promoted"
    assert "forced" in third.data.tags["champion_reason"]
    assert client().get_model_version_by_alias(MODEL_NAME, "champion").run_id == forced.info.run_id


def test_the_start_step_makes_the_study_and_the_parent_run_the_workers_find(
    tmp_path: Path, tiny_dataset: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    monkeypatch.setenv("OPTUNA_STORAGE", storage)
    monkeypatch.setenv("MLFLOW_HPTUNING_TAG", "steps")
    overrides = [*mlflow_overrides(tmp_path, tiny_dataset), "hydra.sweeper.study_name=shared",
                 "train.model.C=3", "search_space.train.model.C=tag(log, interval(0.1, 10))"]
    assert sweep_steps.main(["start", *overrides]) == 0
    assert sweep_steps.main(["start", *overrides]) == 0  # a second time: the same, kept
    said = capsys.readouterr().out
    assert "Study 'shared' (maximize) is ready in sqlite:///" in said
    assert "parent MLflow run" in said
    [summary] = optuna.get_all_study_summaries(storage)
    assert summary.study_name == "shared" and summary.direction.name == "MAXIMIZE"
    [parent] = mlflow.search_runs(search_all_experiments=True, output_format="list",
                                  filter_string="tags.hptuning_tag = 'steps'")
    assert parent.data.tags["run_role"] == "hptuning_parent" and parent.info.status == "RUNNING"
    # The dataset is recorded once, before any worker logs it (see open_parent_run).
    [dataset] = parent.inputs.dataset_inputs
    assert dataset.dataset.name == "processed" and dataset.tags[0].value == "tuning"

    # No trial finished: finishing crowns nothing, fails, and ends the parent FAILED.
    assert sweep_steps.main(["finish", *overrides]) == 1
    assert "no champion" in capsys.readouterr().err
    assert mlflow.get_run(parent.info.run_id).info.status == "FAILED"
    assert sweep_steps.main(["cancel", *overrides]) == 0
    assert mlflow.get_run(parent.info.run_id).info.status == "KILLED"


@pytest.mark.parametrize(
    ("argv", "unset", "message"),
    [
        (["start"], "OPTUNA_STORAGE", "set OPTUNA_STORAGE"),
        (["start"], "MLFLOW_HPTUNING_TAG", "set MLFLOW_HPTUNING_TAG"),
        (["finish"], None, "no parent run tagged hptuning_tag=nothing-started"),
        (["crown"], None, "usage: python -m"),
    ],
)
def test_a_sweep_step_without_what_it_needs_says_so(
    tmp_path: Path, tiny_dataset: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], argv: list[str], unset: str | None, message: str,
) -> None:
    monkeypatch.setenv("OPTUNA_STORAGE", f"sqlite:///{tmp_path}/optuna.db")
    monkeypatch.setenv("MLFLOW_HPTUNING_TAG", "nothing-started")
    if unset:
        monkeypatch.delenv(unset)
    assert sweep_steps.main([*argv, *mlflow_overrides(tmp_path, tiny_dataset)]) == 2
    assert message in capsys.readouterr().err
