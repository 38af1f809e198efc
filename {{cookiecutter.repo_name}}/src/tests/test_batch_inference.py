"""Batch inference over folders of text files, with tiny real models of two label sets."""

from __future__ import annotations

import functools
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
from omegaconf import OmegaConf
from pipeline_testkit import compose_config, run_script
from serving_support import TINY_LABELS, TINY_TEXTS, save_tiny_model

from {{ cookiecutter.src_package_name }}.configuration import ConfigError, typed_section
from {{ cookiecutter.src_package_name }}.inference import batch
from {{ cookiecutter.src_package_name }}.inference.batch import (
    BatchSettings,
    Summary,
    run_batch_inference,
)
from {{ cookiecutter.src_package_name }}.inference.inputs import InputFolder, Item, shard_of
from {{ cookiecutter.src_package_name }}.inference.results import PARTIAL_SUFFIX
from {{ cookiecutter.src_package_name }}.modeling.predictor import Predictor

SRC = Path(__file__).resolve().parents[1]
RESULTS = "batch-infer-res.jsonl"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$")
WORDS = ["awesome", "great", "wonderful", "boring", "awful", "dull", "plot", "fun"]
RECORD_FIELDS = {"time", "filepath", "label", "probability", "probabilities", "model_version",
                 "model_run_id"}


@pytest.fixture(name="model_dir", scope="module")
def fixture_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real binary model in MLflow's format."""
    return save_tiny_model(tmp_path_factory.mktemp("model") / "model")


@functools.cache
def inference_defaults() -> dict[str, Any]:
    """The ``inference`` section as composed from ``conf/base/pipelines.yaml``."""
    section = OmegaConf.to_container(compose_config("pipelines").inference, resolve=True)
    assert isinstance(section, dict)
    return section


def settings(model: Path, input_dir: Path | str, output_dir: Path, **values: Any) -> BatchSettings:
    """The composed ``inference`` section, validated, with small batches and no progress bar."""
    section = {**inference_defaults(), "model_path": str(model), "input_data_dir": str(input_dir),
               "output_dir": str(output_dir), "batch_size": 7, "num_workers": 1,
               "progress": False, **values}
    return typed_section(section, BatchSettings, "inference")


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


def read_records(path: Path | str) -> list[dict[str, Any]]:
    """The records of a results file."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.mark.parametrize("labels", ["binary", "three"])
def test_each_file_is_one_record_with_the_models_labels(labels: str, tmp_path: Path) -> None:
    model = save_tiny_model(tmp_path / "model", labels=labels)
    texts = {}
    for label, examples in TINY_TEXTS[labels].items():
        for i, text in enumerate(examples):
            path = tmp_path / "in" / label / f"{i}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            texts[str(path)] = text
    summary = run_batch_inference(settings(model, tmp_path / "in", tmp_path / "out"))
    records = read_records(tmp_path / "out" / RESULTS)
    assert [r["filepath"] for r in records] == sorted(texts)
    expected = Predictor.load(model).predict_proba([texts[r["filepath"]] for r in records])
    for record, row in zip(records, expected, strict=True):
        assert set(record) == RECORD_FIELDS, record
        assert TIME.match(record["time"]), record["time"]
        assert list(record["probabilities"]) == list(TINY_LABELS[labels])
        probabilities = np.array(list(record["probabilities"].values()))
        np.testing.assert_allclose(probabilities, row, rtol=1e-12)
        assert probabilities.sum() == pytest.approx(1.0)
        assert record["label"] == TINY_LABELS[labels][int(np.argmax(probabilities))]
        assert record["probability"] == record["probabilities"][record["label"]]
        assert record["label"] == Path(record["filepath"]).parent.name  # its training label
        assert record["model_version"] == str(model)
    count = len(texts)
    assert (summary.items, summary.predicted, summary.errors) == (count, count, 0)
    assert summary.output_path == str(tmp_path / "out" / RESULTS)
    assert f"{count} items" in summary.describe()
    assert not list((tmp_path / "out").glob("*.partial"))


def test_two_workers_write_the_same_records_in_the_same_order(
    model_dir: Path, tmp_path: Path
) -> None:
    write_reviews(tmp_path / "in", 45)
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        run_batch_inference(settings(model_dir, tmp_path / "in", out, num_workers=workers))
        outputs.append([{k: v for k, v in r.items() if k != "time"}
                        for r in read_records(out / RESULTS)])
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
        assert set(records[name]) == RECORD_FIELDS | {"error"}
        assert records[name]["label"] is None
        assert records[name]["probability"] is None and records[name]["probabilities"] is None
    assert records["bom.txt"]["label"] in {"positive", "negative"}
    assert (summary.items, summary.predicted, summary.errors) == (10, 6, 4)


def test_rerun_never_duplicates(model_dir: Path, tmp_path: Path) -> None:
    write_reviews(tmp_path / "in", 12)
    out = tmp_path / "out"
    first = run_batch_inference(settings(model_dir, tmp_path / "in", out))
    content = Path(first.output_path).read_text(encoding="utf-8")
    again = run_batch_inference(settings(model_dir, tmp_path / "in", out, resume=True))
    assert again.already_complete and again.items == 0
    assert Path(first.output_path).read_text(encoding="utf-8") == content
    clean = run_batch_inference(settings(model_dir, tmp_path / "in", out, resume=False))
    assert clean.items == 12
    assert len(read_records(clean.output_path)) == 12


#: Runs batch inference with settings given as JSON; reading m-blocker.txt blocks forever
#: (FIFOs cannot do that any more: they are refused without being opened for a writer).
BLOCKING_RUN = """
import sys, threading
from {{ cookiecutter.src_package_name }}.inference.batch import BatchSettings, run_batch_inference
from {{ cookiecutter.src_package_name }}.inference.inputs import InputFolder
read = InputFolder.read
def blocking_read(folder, path, *args):
    if path.endswith("m-blocker.txt"):
        threading.Event().wait()
    return read(folder, path, *args)
InputFolder.read = blocking_read
run_batch_inference(BatchSettings.model_validate_json(sys.argv[1]))
"""


def test_killed_run_leaves_no_complete_output_and_resume_finishes_it(
    model_dir: Path, tmp_path: Path
) -> None:
    """A file whose reading blocks stops the run mid-way, where it is killed."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(50):
        (inputs / f"a{i:03d}.txt").write_text(f"awesome {i}", encoding="utf-8")
        (inputs / f"z{i:03d}.txt").write_text(f"boring {i}", encoding="utf-8")
    (inputs / "m-blocker.txt").write_text("wonderful", encoding="utf-8")
    out = tmp_path / "out"
    final, partial = out / RESULTS, out / (RESULTS + PARTIAL_SUFFIX)
    config = settings(model_dir, inputs, out, batch_size=10)
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-c", BLOCKING_RUN, config.model_dump_json()],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
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
    paths = [r["filepath"] for r in read_records(final)]
    assert len(paths) == len(set(paths)) == 101
    assert set(paths) == {str(p) for p in inputs.iterdir()}
    assert (summary.resumed, summary.items) == (50, 51)
    assert not partial.exists()


def test_shards_cover_the_input_exactly_once(model_dir: Path, tmp_path: Path) -> None:
    reviews = write_reviews(tmp_path / "in", 60)
    seen: list[str] = []
    for index in range(3):
        summary = run_batch_inference(settings(
            model_dir, tmp_path / "in", tmp_path / f"shard-{index}", shard_index=index,
            num_shards=3,
        ))
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
        "from {{ cookiecutter.src_package_name }}.inference.inputs import shard_of\n"
        "print([shard_of(f'pos/{i}_7.txt', 4) for i in range(20)])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(SRC), "PYTHONHASHSEED": "123"},
        capture_output=True, text=True, check=True,
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
    assert [r["label"] for r in records] == ["positive", "negative", "positive"]


def test_batches_are_pulled_lazily(model_dir: Path, tmp_path: Path) -> None:
    """Only a window of batches is in flight: an endless input is never listed in full."""
    write_reviews(tmp_path / "in", 1)
    path = str(next((tmp_path / "in").rglob("*.txt")))
    pulled = itertools.count()

    def endless() -> Any:
        while True:
            next(pulled)
            yield Item(path, {"filepath": path})

    config = settings(model_dir, tmp_path / "in", tmp_path / "out", num_workers=2)
    results = batch._in_pool(  # pylint: disable=protected-access
        config, InputFolder.open(config.input_data_dir), Predictor.load(model_dir),
        batch._batches(endless(), config.batch_size),  # pylint: disable=protected-access
    )
    taken = list(itertools.islice(results, 3))
    results.close()
    assert [len(r) for r in taken] == [7, 7, 7]
    assert all(result.error is None and result.prediction for r in taken for result in r)
    assert next(pulled) <= (3 + 2 * config.num_workers + 1) * config.batch_size


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"shard_index": 3, "num_shards": 3}, "shard_index"),
        ({"num_shards": 0}, r"inference\.num_shards"),
        ({"batch_size": 0}, r"inference\.batch_size"),
        ({"model_path": None}, "model_path"),
        ({"batch_sise": 3}, r"inference\.batch_sise: Extra inputs are not permitted"),
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(tmp_path, tmp_path, tmp_path, **values)


def test_the_composed_section_gives_the_settings(tmp_path: Path) -> None:
    built = settings(Path("m"), "in", tmp_path)
    assert built.output_url == f"{tmp_path}/batch-infer-res.jsonl"
    assert built.model_source == "m"
    uri = settings(Path("m"), "in", tmp_path, model_uri="models:/reviews@champion")
    assert uri.model_source == "models:/reviews@champion"
    assert inference_defaults()["output_dir"] is None  # the script's run folder, by default


def test_missing_input_folder_is_named(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="input_data_dir"):
        run_batch_inference(settings(model_dir, tmp_path / "nope", tmp_path / "out"))


def test_summary_rate() -> None:
    summary = Summary(output_path="x", items=50, predicted=48, errors=2, seconds=3.0,
                      load_seconds=1.0)
    assert summary.rate == 25.0
    assert "48 predicted, 2 errors" in summary.describe()


def test_the_guides_command_writes_into_the_runs_output_folder(
    model_dir: Path, tmp_path: Path
) -> None:
    """``python src/batch_inferencing.py inference.model_path=... inference.input_data_dir=...``"""
    reviews = write_reviews(tmp_path / "in", 9)
    run_dir = tmp_path / "outputs" / "run"
    result = run_script(
        "batch_inferencing.py",
        [f"inference.model_path={model_dir}", f"inference.input_data_dir={tmp_path / 'in'}",
         "inference.progress=false", f"hydra.run.dir={run_dir}"],
        cwd=SRC.parent, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    records = read_records(run_dir / RESULTS)
    assert sorted(r["filepath"] for r in records) == sorted(reviews)
    assert "9 items" in result.stderr + result.stdout


def test_the_script_explains_bad_settings(tmp_path: Path) -> None:
    result = run_script(
        "batch_inferencing.py",
        [f"inference.input_data_dir={tmp_path / 'missing'}", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=SRC.parent, timeout=120,
    )
    assert result.returncode == 2
    assert "inference.input_data_dir" in result.stderr
    assert "Traceback" not in result.stderr
