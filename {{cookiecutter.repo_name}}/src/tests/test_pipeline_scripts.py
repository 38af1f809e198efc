"""The guide's commands, run as scripts: process_data.py then train_model.py."""

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
    assert "Processed 40 files" in prep.stderr

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
    assert result.returncode != 0
    assert "Raw data folder not found" in result.stderr
    assert not (tmp_path / "data" / "processed").exists()
