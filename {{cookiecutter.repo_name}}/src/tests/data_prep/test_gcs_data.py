"""The guide's data steps on ``gs://`` paths, against the GCS emulator (fake-gcs-server).

Each step runs as a user runs it (``python src/get_data.py``, ``python src/process_data.py``
in a subprocess); each test has a bucket of its own (the ``gcs_bucket`` fixture).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from pipeline_testkit import GcsBucket, run_script, write_raw_tree

pytestmark = [pytest.mark.gcs, pytest.mark.slow]


def _reviews(root: Path) -> dict[str, bytes]:
    """The review files of a local raw tree: relative path -> content."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.txt")}


def _process(raw_dirs: list[str], processed: str, cwd: Path) -> tuple[int, str]:
    """Run ``python src/process_data.py`` on these raw folders; return its status and log."""
    result = run_script(
        "process_data.py",
        [f"data_prep.raw_dirs_paths=[{','.join(raw_dirs)}]",
         f"data_prep.processed_data_path={processed}"],
        cwd=cwd,
    )  # fmt: skip
    return result.returncode, result.stderr


def test_get_data_fetches_a_gs_tarball_checking_its_checksum(
    gcs_bucket: GcsBucket, tmp_path: Path
) -> None:
    tree = write_raw_tree(tmp_path / "delivery" / "aclImdb", n_train=3, n_test=2)
    archive = tmp_path / "delivery.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="aclImdb")
    source = gcs_bucket.upload(archive, "deliveries/2026-01.tar.gz")
    checksum = "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()

    wrong = run_script(
        "get_data.py", ["--source", source, "--checksum", "sha256:" + "0" * 64,
                        "--dest", "data/raw/bad"], cwd=tmp_path,
    )  # fmt: skip
    assert wrong.returncode == 2  # a user error, as in every entry script
    assert "Checksum mismatch" in wrong.stderr and "Traceback" not in wrong.stderr
    assert not (tmp_path / "data" / "raw" / "bad").exists()

    good = run_script(
        "get_data.py", ["--source", source, "--checksum", checksum, "--dest", "data/raw/jan"],
        cwd=tmp_path,
    )
    assert good.returncode == 0, good.stderr[-3000:]
    assert _reviews(tmp_path / "data" / "raw" / "jan") == _reviews(tree)


def test_get_data_copies_a_gs_folder(gcs_bucket: GcsBucket, tmp_path: Path) -> None:
    tree = write_raw_tree(tmp_path / "delivery", n_train=3, n_test=2)
    source = gcs_bucket.upload(tree, "deliveries/2026-02")
    result = run_script("get_data.py", ["--source", source, "--dest", "data/raw/feb"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert _reviews(tmp_path / "data" / "raw" / "feb") == _reviews(tree)


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
                in_bucket = pd.read_parquet(handle)
            pd.testing.assert_frame_equal(in_bucket, pd.read_parquet(local / name))


def test_a_foreign_gs_folder_is_refused_and_left_intact(
    gcs_bucket: GcsBucket, tmp_path: Path
) -> None:
    raw = gcs_bucket.upload(write_raw_tree(tmp_path / "raw", n_train=3, n_test=1), "raw/set1")
    gcs_bucket.fs.pipe_file(f"{gcs_bucket.name}/reports/notes.txt", b"not a dataset")
    code, log = _process([raw], gcs_bucket.url("reports"), tmp_path)
    assert code != 0
    assert "not written by this pipeline" in log and "Traceback" not in log
    assert gcs_bucket.objects("reports") == {"notes.txt"}
    assert gcs_bucket.fs.cat_file(f"{gcs_bucket.name}/reports/notes.txt") == b"not a dataset"


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
