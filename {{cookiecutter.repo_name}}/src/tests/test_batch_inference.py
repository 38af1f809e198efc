"""Batch inference over folders of review files, with a tiny real model."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest
from pipeline_testkit import run_script
from serving_support import save_tiny_model

from {{ cookiecutter.src_package_name }}.inference import batch
from {{ cookiecutter.src_package_name }}.inference.batch import (
    BatchSettings,
    Summary,
    run_batch_inference,
)
from {{ cookiecutter.src_package_name }}.inference.files import InputTree, shard_of
from {{ cookiecutter.src_package_name }}.modeling.predictor import SentimentPredictor

SRC = Path(__file__).resolve().parents[1]
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$")
WORDS = ["awesome", "great", "wonderful", "boring", "awful", "dull", "plot", "fun"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real model in MLflow's format."""
    return save_tiny_model(tmp_path_factory.mktemp("model") / "model")


def write_reviews(root: Path, count: int, prefix: str = "r") -> dict[str, str]:
    """Write ``count`` review files under two sub-folders; return {absolute path: text}."""
    written = {}
    for i in range(count):
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(4 + i % 5)]
        text = f"Review {i}: " + " ".join(words) + ".\nSecond line <br /> " + words[0]
        folder = root / ("pos" if i % 2 else "neg")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{prefix}{i:04d}_{i % 10}.txt"
        path.write_text(text, encoding="utf-8")
        written[str(path)] = text
    return written


def settings(
    model_dir: Path, input_dir: Path | str, output_dir: Path, **values: Any
) -> BatchSettings:
    """Batch settings for the tests: small batches, no progress bar."""
    defaults: dict[str, Any] = {"batch_size": 7, "num_workers": 1, "progress": False}
    return BatchSettings(
        input_data_dir=str(input_dir),
        output_dir=str(output_dir),
        model_path=str(model_dir),
        **{**defaults, **values},
    )


def read_records(path: Path | str) -> list[dict[str, Any]]:
    """The records of a results file."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_each_file_is_one_record_with_the_guides_fields(model_dir: Path, tmp_path: Path) -> None:
    reviews = write_reviews(tmp_path / "in", 30)
    summary = run_batch_inference(settings(model_dir, tmp_path / "in", tmp_path / "out"))
    records = read_records(tmp_path / "out" / "batch-infer-res.jsonl")
    assert [r["filepath"] for r in records] == sorted(reviews)
    predictor = SentimentPredictor.load(model_dir)
    expected = predictor.predict_proba([reviews[r["filepath"]] for r in records])
    np.testing.assert_allclose([r["logit_prob"] for r in records], expected, rtol=1e-12)
    for record in records:
        assert TIME.match(record["time"]), record["time"]
        assert record["sentiment"] == ("positive" if record["logit_prob"] >= 0.5 else "negative")
        assert record["model_version"] == str(model_dir)
        assert "error" not in record
    assert (summary.files, summary.predicted, summary.errors) == (30, 30, 0)
    assert summary.output_path == str(tmp_path / "out" / "batch-infer-res.jsonl")
    assert "30 files" in summary.describe()
    assert not list((tmp_path / "out").glob("*.partial"))


def test_two_workers_write_the_same_records_in_the_same_order(
    model_dir: Path, tmp_path: Path
) -> None:
    write_reviews(tmp_path / "in", 45)
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        run_batch_inference(settings(model_dir, tmp_path / "in", out, num_workers=workers))
        outputs.append(
            [
                {k: v for k, v in r.items() if k != "time"}
                for r in read_records(out / batch.OUTPUT_FILENAME)
            ]
        )
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == 45


def test_bad_files_become_error_records(model_dir: Path, tmp_path: Path) -> None:
    good = write_reviews(tmp_path / "in", 5)
    bad = tmp_path / "in" / "bad"
    bad.mkdir()
    (bad / "latin1.txt").write_bytes("caf\xe9 awful".encode("latin-1"))
    (bad / "empty.txt").write_bytes(b"")
    (bad / "blank.txt").write_text(" \n\t\n", encoding="utf-8")
    (bad / "gone.txt").symlink_to(bad / "does-not-exist.txt")
    (bad / "bom.txt").write_bytes("\ufeffawesome fun".encode())
    (bad / "notes.md").write_text("not a review", encoding="utf-8")
    summary = run_batch_inference(settings(model_dir, tmp_path / "in", tmp_path / "out"))
    records = {Path(r["filepath"]).name: r for r in read_records(summary.output_path)}
    assert "notes.md" not in records
    assert len(records) == len(good) + 5
    assert "not UTF-8" in records["latin1.txt"]["error"]
    assert records["empty.txt"]["error"] == "empty (no text after cleaning)"
    assert records["blank.txt"]["error"] == "empty (no text after cleaning)"
    assert "unreadable" in records["gone.txt"]["error"]
    for name in ("latin1.txt", "empty.txt", "blank.txt", "gone.txt"):
        assert records[name]["logit_prob"] is None and records[name]["sentiment"] is None
    assert records["bom.txt"]["sentiment"] in {"positive", "negative"}
    assert (summary.files, summary.predicted, summary.errors) == (10, 6, 4)


def test_rerun_never_duplicates(model_dir: Path, tmp_path: Path) -> None:
    write_reviews(tmp_path / "in", 12)
    out = tmp_path / "out"
    first = run_batch_inference(settings(model_dir, tmp_path / "in", out))
    content = Path(first.output_path).read_text(encoding="utf-8")
    again = run_batch_inference(settings(model_dir, tmp_path / "in", out, resume=True))
    assert again.already_complete and again.files == 0
    assert Path(first.output_path).read_text(encoding="utf-8") == content
    clean = run_batch_inference(settings(model_dir, tmp_path / "in", out, resume=False))
    assert clean.files == 12
    assert len(read_records(clean.output_path)) == 12


def _run_in_subprocess(model_dir: Path, input_dir: Path, output_dir: Path) -> subprocess.Popen:
    # Reading m-blocker.txt blocks forever in the child (FIFOs no longer can: they are refused).
    code = (
        "import sys, threading\n"
        "from {{ cookiecutter.src_package_name }}.inference import batch\n"
        "from {{ cookiecutter.src_package_name }}.inference.batch import BatchSettings, run_batch_inference\n"
        "read = batch.read_review\n"
        "def blocking_read(tree, path, *args):\n"
        "    if path.endswith('m-blocker.txt'):\n"
        "        threading.Event().wait()\n"
        "    return read(tree, path, *args)\n"
        "batch.read_review = blocking_read\n"
        "run_batch_inference(BatchSettings(input_data_dir=sys.argv[1], output_dir=sys.argv[2],"
        " model_path=sys.argv[3], batch_size=10, num_workers=1, progress=False))\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(input_dir), str(output_dir), str(model_dir)],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_killed_run_leaves_no_complete_output_and_resume_finishes_it(
    model_dir: Path, tmp_path: Path
) -> None:
    """A file whose reading blocks stops the run mid-way, where it is killed."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(50):
        (inputs / f"a{i:03d}.txt").write_text(f"awesome {i}", encoding="utf-8")
        (inputs / f"z{i:03d}.txt").write_text(f"boring {i}", encoding="utf-8")
    blocker = inputs / "m-blocker.txt"
    blocker.write_text("wonderful", encoding="utf-8")
    out = tmp_path / "out"
    final = out / batch.OUTPUT_FILENAME
    partial = out / (batch.OUTPUT_FILENAME + batch.PARTIAL_SUFFIX)
    process = _run_in_subprocess(model_dir, inputs, out)
    try:
        deadline = time.monotonic() + 60
        while not (partial.exists() and partial.read_text().count("\n") >= 50):
            assert process.poll() is None, "the run ended before reaching the blocking file"
            assert time.monotonic() < deadline, "the run did not reach the blocking file"
            time.sleep(0.05)
        time.sleep(0.2)  # give a wrongly-written run the chance to write more
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    assert not final.exists()
    assert partial.read_text().count("\n") == 50  # the batches before the blocking file
    with partial.open("a", encoding="utf-8") as handle:
        handle.write('{"time": "torn')  # a line cut short by the kill

    summary = run_batch_inference(settings(model_dir, inputs, out, resume=True))
    records = read_records(final)
    paths = [r["filepath"] for r in records]
    assert len(paths) == len(set(paths)) == 101
    assert set(paths) == {str(p) for p in inputs.iterdir()}
    assert (summary.resumed, summary.files) == (50, 51)
    assert not partial.exists()


def test_shards_cover_the_input_exactly_once(model_dir: Path, tmp_path: Path) -> None:
    reviews = write_reviews(tmp_path / "in", 60)
    seen: list[str] = []
    for index in range(3):
        summary = run_batch_inference(
            settings(
                model_dir,
                tmp_path / "in",
                tmp_path / f"shard-{index}",
                shard_index=index,
                num_shards=3,
            )
        )
        paths = [r["filepath"] for r in read_records(summary.output_path)]
        assert paths, f"shard {index} got no files"
        seen += paths
    assert sorted(seen) == sorted(reviews)


def test_shard_assignment_is_stable_and_spread() -> None:
    names = [f"pos/{i}_7.txt" for i in range(1000)]
    first = [shard_of(n, 4) for n in names]
    assert first == [shard_of(n, 4) for n in names]
    counts = np.bincount(first, minlength=4)
    assert counts.min() > 200, counts
    # Independent of the process (no salted hash()): recompute in a fresh interpreter.
    code = (
        "from {{ cookiecutter.src_package_name }}.inference.files import shard_of\n"
        "print([shard_of(f'pos/{i}_7.txt', 4) for i in range(20)])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(SRC), "PYTHONHASHSEED": "123"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == str(first[:20])


def test_fsspec_input_folders_are_read(model_dir: Path, tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    for i, word in enumerate(["awesome fun", "boring awful", "great plot"]):
        fs.pipe(f"/reviews-{os.getpid()}/sub/{i}.txt", word.encode())
    url = f"memory:///reviews-{os.getpid()}"
    summary = run_batch_inference(settings(model_dir, url, tmp_path / "out"))
    records = read_records(summary.output_path)
    assert [r["filepath"] for r in records] == [f"{url}/sub/{i}.txt" for i in range(3)]
    assert [r["sentiment"] for r in records] == ["positive", "negative", "positive"]


def test_batches_are_pulled_lazily(model_dir: Path, tmp_path: Path) -> None:
    """Only a window of batches is in flight: an endless input is never listed in full."""
    write_reviews(tmp_path / "in", 1)
    path = next((tmp_path / "in").rglob("*.txt"))
    pulled = itertools.count()

    def endless() -> Any:
        while True:
            next(pulled)
            yield str(path)

    config = settings(model_dir, tmp_path / "in", tmp_path / "out", num_workers=2)
    tree = InputTree.open(config.input_data_dir)
    predictor = SentimentPredictor.load(model_dir)
    results = batch._results(  # pylint: disable=protected-access
        config,
        tree,
        predictor,
        batch._batches(endless(), config.batch_size),  # pylint: disable=protected-access
    )
    taken = list(itertools.islice(results, 3))
    results.close()
    assert [len(r) for r in taken] == [7, 7, 7]
    assert next(pulled) <= (3 + 2 * config.num_workers + 1) * config.batch_size


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"shard_index": 3, "num_shards": 3}, "shard_index"),
        ({"num_shards": 0}, "shard_index"),
        ({"batch_size": 0}, "batch_size"),
        ({"model_path": None}, "model_path"),
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, values: dict[str, Any], message: str) -> None:
    base = {"input_data_dir": str(tmp_path), "output_dir": str(tmp_path), "model_path": "m"}
    with pytest.raises(ValueError, match=message):
        BatchSettings(**{**base, **values})


def test_config_section_maps_to_settings(tmp_path: Path) -> None:
    config = {"model_path": "m", "model_uri": None, "input_data_dir": "in", "output_dir": None}
    built = BatchSettings.from_config(config, default_output_dir=str(tmp_path))
    assert built.output_path == tmp_path / "batch-infer-res.jsonl"
    assert built.model_source == "m"
    with pytest.raises(ValueError, match=r"inference\.batch_sise: Extra inputs are not permitted"):
        BatchSettings.from_config({**config, "batch_sise": 3}, str(tmp_path))


def test_missing_input_folder_is_named(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="input_data_dir"):
        run_batch_inference(settings(model_dir, tmp_path / "nope", tmp_path / "out"))


def test_summary_rate() -> None:
    summary = Summary(
        output_path="x", files=50, predicted=48, errors=2, seconds=3.0, load_seconds=1.0
    )
    assert summary.rate == 25.0
    assert summary.as_dict()["rate"] == 25.0
    assert "48 predicted, 2 errors" in summary.describe()


def test_the_guides_command_writes_into_the_runs_output_folder(
    model_dir: Path, tmp_path: Path
) -> None:
    """``python src/batch_inferencing.py inference.model_path=... inference.input_data_dir=...``"""
    reviews = write_reviews(tmp_path / "in", 9)
    run_dir = tmp_path / "outputs" / "run"
    result = run_script(
        "batch_inferencing.py",
        [
            f"inference.model_path={model_dir}",
            f"inference.input_data_dir={tmp_path / 'in'}",
            "inference.progress=false",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=SRC.parent,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    records = read_records(run_dir / "batch-infer-res.jsonl")
    assert sorted(r["filepath"] for r in records) == sorted(reviews)
    assert "9 files" in result.stderr + result.stdout


def test_the_script_explains_bad_settings(tmp_path: Path) -> None:
    result = run_script(
        "batch_inferencing.py",
        [f"inference.input_data_dir={tmp_path / 'missing'}", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=SRC.parent,
        timeout=120,
    )
    assert result.returncode == 2
    assert "inference.input_data_dir" in result.stderr
    assert "Traceback" not in result.stderr
