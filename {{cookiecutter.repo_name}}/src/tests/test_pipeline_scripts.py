"""The guide's commands, run as scripts: their outputs, their log files, their exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipeline_testkit import mlflow_overrides, run_script, write_raw_tree

pytestmark = pytest.mark.slow


def test_process_then_train_from_the_command_line(tmp_path: Path) -> None:
    write_raw_tree(tmp_path / "data" / "raw" / "set1", n_train=8, n_test=3, seed=1)
    write_raw_tree(tmp_path / "data" / "raw" / "set2", n_train=7, n_test=2, seed=2)
    processed = tmp_path / "data" / "processed" / "combined"
    prep = run_script(
        "process_data.py",
        ["data_prep.raw_dirs_paths=[data/raw/set1,data/raw/set2]",
         "data_prep.processed_data_path=data/processed/combined"],
        cwd=tmp_path,
    )
    assert prep.returncode == 0, prep.stderr[-3000:]
    manifest = json.loads((processed / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["train"]["total"] == 30
    assert "Processed 40 raw items" in prep.stderr

    train = run_script(
        "train_model.py",
        [*mlflow_overrides(tmp_path, processed), "train.setup_mlflow=true",
         "train.model.hash_bits=16", "train.val_split=0.2"],
        cwd=tmp_path,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    assert "val_accuracy" in train.stderr and "Registered as models:/" in train.stderr
    assert (tmp_path / "mlflow.db").exists() and (tmp_path / "mlartifacts").is_dir()


def test_bad_input_gives_a_clear_error_and_no_output(tmp_path: Path) -> None:
    result = run_script(
        "process_data.py",
        ["data_prep.raw_dirs_paths=[data/raw/missing]",
         "data_prep.processed_data_path=data/processed/out"],
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Raw data folder not found" in result.stderr
    assert not (tmp_path / "data" / "processed").exists()


def test_each_run_keeps_its_records_in_its_own_hydra_log_file(tmp_path: Path) -> None:
    """Hydra owns logging: the library's and the script's records reach outputs/.../<job>.log."""
    raw = write_raw_tree(tmp_path / "raw", n_train=3, n_test=1)
    (raw / "train" / "pos" / "bad_1.txt").write_bytes(b"\xff")  # a reject, warned about
    result = run_script(
        "process_data.py",
        [f"data_prep.raw_dirs_paths=[{raw}]", "data_prep.max_reject_fraction=0.2",
         f"data_prep.processed_data_path={tmp_path / 'out'}", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    log = (tmp_path / "run" / "process_data.log").read_text(encoding="utf-8")
    assert "[__main__][INFO] - Processed 9 raw items" in log  # the script's summary
    library = "[{{ cookiecutter.src_package_name }}.data_prep.pipeline][WARNING] - 1 of 9 items"
    assert library in log  # a record of the library, after it ran
    assert "Processed 9 raw items" in result.stderr  # and the console still has them


@pytest.mark.parametrize(
    ("script", "args", "what", "reason"),
    [
        ("get_data.py", ["--source", "{tmp}/absent.tar.gz", "--dest", "{tmp}/raw"],
         "Fetching the data", "Source not found"),
        ("process_data.py", ["data_prep.raw_dirs_paths=[{tmp}/absent]"], "Data preparation",
         "Raw data folder not found"),
        ("train_model.py", ["train.data_path={tmp}/absent"], "Training", "No processed dataset"),
        ("train_model_hptuning.py", ["--multirun", "train.data_path={tmp}/absent",
                                     "hydra.sweeper.n_trials=1", "train.setup_mlflow=false"],
         "Training", "No processed dataset"),
        ("train_model_hptuning.py", ["--multirun", "train.data_path={tmp}/absent",
                                     "hydra.sweeper.n_trials=1",
                                     "train.mlflow_tracking_uri=sqlite:///{tmp}/mlflow.db"],
         "Tuning", "No processed dataset"),
        ("batch_inferencing.py", ["inference.model_path={tmp}/absent",
                                  "inference.input_data_dir={tmp}"], "Batch inference",
         "no such file or directory"),
    ],
)
def test_every_entry_script_ends_a_user_error_the_same_way(
    tmp_path: Path, script: str, args: list[str], what: str, reason: str
) -> None:
    """One error line saying what failed and why, exit status 2, no traceback.

    (Before its first trial, a sweep logs through Hydra's own format, without the level.)
    """
    hydra_dir = [] if script == "get_data.py" else [f"hydra.run.dir={tmp_path}/run",
                                                     f"hydra.sweep.dir={tmp_path}/sweep"]
    result = run_script(script, [a.format(tmp=tmp_path) for a in args] + hydra_dir,
                        cwd=tmp_path, timeout=180)
    assert result.returncode == 2, result.stderr[-3000:]
    output = result.stderr + result.stdout  # Hydra's own log lines go to stdout
    errors = [line for line in output.splitlines() if " failed: " in line]
    assert len(errors) == 1 and f"{what} failed: " in errors[0] and reason in errors[0]
    assert "[ERROR]" in errors[0] or "[HYDRA]" in errors[0]
    assert "Traceback" not in output
