"""Batch inference from a bucket into a bucket, against the GCS emulator (fake-gcs-server).

Run as the guide runs it: ``python src/batch_inferencing.py ...`` and the image's entry
point ``scripts/batch-inferencing.sh``. The records are checked by ``filepath``, their
count and the absence of an ``error`` field.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pipeline_testkit import REPO_ROOT, FaultyProxy, GcsBucket, run_script
from serving_support import save_tiny_model

pytestmark = [pytest.mark.gcs, pytest.mark.slow]

RESULTS = "batch-infer-res.jsonl"
WORDS = ["awesome", "great", "boring", "awful", "plot", "fun"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real model in MLflow's format, in a local folder."""
    return save_tiny_model(tmp_path_factory.mktemp("model") / "model")


def upload_reviews(bucket: GcsBucket, local: Path, names: list[str], path: str) -> set[str]:
    """Write one small review per name under ``local``, upload them; return their URLs."""
    for i, name in enumerate(names):
        file = local / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(f"Review {i}: {WORDS[i % 6]} {WORDS[(i + 2) % 6]}.", encoding="utf-8")
    bucket.upload(local, path)
    return {bucket.url(f"{path}/{name}") for name in names}


def bucket_records(bucket: GcsBucket, path: str) -> list[dict[str, Any]]:
    """The JSON Lines records of a results object."""
    text = bucket.fs.cat_file(f"{bucket.name}/{path}").decode("utf-8")
    return [json.loads(line) for line in text.splitlines()]


def assert_one_prediction_each(records: list[dict[str, Any]], inputs: set[str]) -> None:
    """One record per input file, none of them an error."""
    paths = [record["filepath"] for record in records]
    assert len(paths) == len(set(paths)) == len(inputs)
    assert set(paths) == inputs
    assert not [record for record in records if "error" in record]


def local_leftovers(folder: Path) -> list[str]:
    """Paths under ``folder`` named like a URL scheme (``gs:``) or a partial result."""
    return [str(p) for p in folder.rglob("*") if p.name == "gs:" or p.name.endswith(".partial")]


def test_the_guides_batch_commands_write_into_the_bucket(
    gcs_bucket: GcsBucket, model_dir: Path, tmp_path: Path
) -> None:
    """``OUTPUT_DIR=gs://...`` of the image's entry point, then the Python command again.

    Before the fix both exited 0 and logged a ``gs:/...`` path, but the records went to a
    local folder named ``gs:`` and nothing reached the bucket.
    """
    names = [f"{label}/r{i:02d}.txt" for label in ("pos", "neg") for i in range(6)]
    inputs = upload_reviews(gcs_bucket, tmp_path / "in", names, "in")
    work = tmp_path / "work"  # WORKING_DIR: the project's conf/ and src/, nothing else
    work.mkdir()
    for name in ("conf", "src"):
        (work / name).symlink_to(REPO_ROOT / name)
    env = {
        **os.environ, "WORKING_DIR": str(work), "PYTHON": sys.executable,
        "PYTHONPATH": str(REPO_ROOT / "src"), "PRED_MODEL_PATH": str(model_dir),
        "INPUT_DATA_DIR": gcs_bucket.url("in"), "OUTPUT_DIR": gcs_bucket.url("results"),
    }  # fmt: skip
    env.pop("PRED_MODEL_URI", None)
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "batch-inferencing.sh"), "inference.progress=false",
         "inference.batch_size=5"],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert gcs_bucket.objects("results") == {f"shard-0/{RESULTS}"}
    assert_one_prediction_each(bucket_records(gcs_bucket, f"results/shard-0/{RESULTS}"), inputs)
    assert local_leftovers(work) == []
    # Not a log line per file read (fsspec.caching says one at INFO for each gs:// open).
    assert len(result.stderr.splitlines()) < len(inputs), result.stderr

    # python src/batch_inferencing.py into the same folder: the complete result in the
    # bucket is kept (inference.resume=true), not redone.
    final = f"{gcs_bucket.name}/results/shard-0/{RESULTS}"
    generation = gcs_bucket.fs.info(final)["generation"]
    args = [
        f"inference.model_path={model_dir}", f"inference.input_data_dir={gcs_bucket.url('in')}",
        f"inference.output_dir={gcs_bucket.url('results/shard-0')}", "inference.progress=false",
    ]  # fmt: skip
    again = run_script("batch_inferencing.py", args, cwd=work, timeout=180)
    assert again.returncode == 0, again.stderr[-3000:]
    gcs_bucket.fs.invalidate_cache()
    assert gcs_bucket.fs.info(final)["generation"] == generation
    assert local_leftovers(work) == []


def test_a_run_killed_while_uploading_publishes_nothing_and_its_rerun_does(
    gcs_bucket: GcsBucket, model_dir: Path, tmp_path: Path
) -> None:
    """The run is killed when it sends the results' upload (a proxy in front of the emulator).

    What this shows: nothing exists under the final name before the upload has completed,
    and the rerun publishes the staged records as they were (resumed, not redone). That
    an upload cut half-way creates no object is the object store's own guarantee (GCS, and
    the emulator, create an object when its upload completes): the proxy drops the whole
    request, so the emulator never sees a part of it, and that guarantee is not tested here.
    """
    inputs = upload_reviews(gcs_bucket, tmp_path / "in", [f"r{i:02d}.txt" for i in range(9)], "in")
    work = tmp_path / "work"
    work.mkdir()
    args = [
        f"inference.model_path={model_dir}", f"inference.input_data_dir={gcs_bucket.url('in')}",
        f"inference.output_dir={gcs_bucket.url('out')}", "inference.progress=false",
    ]  # fmt: skip

    def kill_the_run() -> None:  # the upload request is not forwarded: the machine "dies"
        process.send_signal(signal.SIGKILL)

    upstream = os.environ["STORAGE_EMULATOR_HOST"]
    with FaultyProxy(upstream, trigger="/upload/", mode="gone", on_trigger=kill_the_run) as proxy:
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, str(REPO_ROOT / "src" / "batch_inferencing.py"), *args],
            cwd=work, env={**os.environ, "STORAGE_EMULATOR_HOST": proxy.url,
                           "PYTHONPATH": str(REPO_ROOT / "src")},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            assert proxy.triggered.wait(180), "the run did not upload its results"
        finally:
            process.kill()
            process.wait(30)
    assert gcs_bucket.objects("out") == set()  # nothing under the final name
    partial = list(work.rglob("*.partial"))
    assert len(partial) == 1  # kept on this machine, complete
    staged = partial[0].read_text(encoding="utf-8")

    result = run_script("batch_inferencing.py", args, cwd=work, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert gcs_bucket.fs.cat_file(f"{gcs_bucket.name}/out/{RESULTS}").decode("utf-8") == staged
    assert_one_prediction_each(bucket_records(gcs_bucket, f"out/{RESULTS}"), inputs)
    assert local_leftovers(work) == []
