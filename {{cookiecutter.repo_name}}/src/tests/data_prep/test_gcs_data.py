"""The guide's data steps on ``gs://`` paths, against the GCS emulator (fake-gcs-server).

Each step runs as a user runs it (``python src/get_data.py``, ``python src/process_data.py``
in a subprocess); each test has a bucket of its own (the ``gcs_bucket`` fixture).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pipeline_testkit import GcsBucket, run_script, write_raw_tree

pytestmark = [pytest.mark.gcs, pytest.mark.slow]


def _process(raw_dirs: list[str], processed: str, cwd: Path) -> tuple[int, str]:
    """Run ``python src/process_data.py`` on these raw folders; return its status and log."""
    result = run_script(
        "process_data.py",
        [f"data_prep.raw_dirs_paths=[{','.join(raw_dirs)}]",
         f"data_prep.processed_data_path={processed}"],
        cwd=cwd,
    )  # fmt: skip
    return result.returncode, result.stderr


def _local_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _manifest(text: str) -> dict:
    manifest = json.loads(text)
    manifest.pop("created_at")
    return manifest


def test_a_rerun_on_gs_replaces_the_dataset_and_leaves_no_stale_split(
    gcs_bucket: GcsBucket, tmp_path: Path
) -> None:
    """Train and test first, then train only: the bucket holds what a local run writes."""
    both = gcs_bucket.upload(write_raw_tree(tmp_path / "both", n_train=6, n_test=3), "raw/both")
    train_only = write_raw_tree(tmp_path / "train-only", n_train=5, n_test=0, seed=1, prefix="t")
    shutil.rmtree(train_only / "test")
    train_only_url = gcs_bucket.upload(train_only, "raw/train-only")
    processed = gcs_bucket.url("processed/reviews")

    assert _process([both], processed, tmp_path)[0] == 0
    assert "test.parquet" in gcs_bucket.objects("processed/reviews")
    code, log = _process([train_only_url], processed, tmp_path)
    assert code == 0, log[-3000:]
    code, log = _process([train_only_url], str(tmp_path / "local"), tmp_path)
    assert code == 0, log[-3000:]

    local = tmp_path / "local"
    # Before the fix the first run's test.parquet stayed beside the train-only manifest.
    assert gcs_bucket.objects("processed/reviews") == _local_files(local)
    fs, remote = gcs_bucket.fs, "processed/reviews"
    assert _manifest(fs.cat_file(f"{gcs_bucket.name}/{remote}/manifest.json")) == _manifest(
        (local / "manifest.json").read_text(encoding="utf-8")
    )
    for name in _local_files(local):
        if name.endswith(".parquet"):
            with fs.open(f"{gcs_bucket.name}/{remote}/{name}", "rb") as handle:
                pd.testing.assert_frame_equal(pd.read_parquet(handle), pd.read_parquet(local / name))


def test_gs_and_local_raw_folders_are_combined(gcs_bucket: GcsBucket, tmp_path: Path) -> None:
    """Raw folders on ``gs://`` and local ones, in any order, in one run."""
    first = gcs_bucket.upload(write_raw_tree(tmp_path / "a", seed=1, prefix="a"), "raw/a")
    local = write_raw_tree(tmp_path / "b", seed=2, prefix="b")
    third = gcs_bucket.upload(write_raw_tree(tmp_path / "c", seed=3, prefix="c"), "raw/c")
    processed = gcs_bucket.url("processed/combined")
    # Before the fix every file of the second folder was rejected as unreadable: one reader
    # and one filesystem were chosen from the first file for all of them.
    code, log = _process([first, str(local), third], processed, tmp_path)
    assert code == 0, log[-3000:]
    rows = 0
    for name in gcs_bucket.objects("processed/combined"):
        if name.endswith(".parquet"):
            with gcs_bucket.fs.open(f"{gcs_bucket.name}/processed/combined/{name}", "rb") as handle:
                rows += len(pd.read_parquet(handle))
    assert rows == 3 * 40  # every review of the three folders
