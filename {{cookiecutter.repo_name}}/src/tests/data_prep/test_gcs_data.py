"""The guide's data steps on ``gs://`` paths, against the GCS emulator (fake-gcs-server).

Each step runs as a user runs it (``python src/get_data.py``, ``python src/process_data.py``
in a subprocess); each test has a bucket of its own (the ``gcs_bucket`` fixture).
"""

from __future__ import annotations

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
