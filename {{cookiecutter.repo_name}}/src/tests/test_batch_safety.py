"""Batch inference on async filesystems, hostile input trees and resumes across models."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pipeline_testkit import serve_folder
from serving_support import save_tiny_model

from {{ cookiecutter.src_package_name }}.inference.batch import BatchSettings, run_batch_inference

WORDS = ["awesome", "great", "boring", "awful", "plot", "fun"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real model in MLflow's format."""
    return save_tiny_model(tmp_path_factory.mktemp("model") / "model")


def write_reviews(root: Path, count: int) -> list[Path]:
    """``count`` small review files under pos/ and neg/."""
    paths = []
    for i in range(count):
        folder = root / ("pos" if i % 2 else "neg")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"r{i:03d}.txt"
        path.write_text(f"Review {i}: {WORDS[i % 6]} {WORDS[(i + 2) % 6]}.", encoding="utf-8")
        paths.append(path)
    return paths


def make_settings(model: Path, input_dir: Path | str, output_dir: Path, **values: Any):
    """Settings with small batches and no progress bar."""
    return BatchSettings(
        input_data_dir=str(input_dir), output_dir=str(output_dir), model_path=str(model),
        **{"batch_size": 3, "num_workers": 1, "progress": False, **values},
    )


def records(path: Path) -> list[dict[str, Any]]:
    """The JSON Lines records of a results file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture()
def http_folder(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A folder served by a real HTTP server on 127.0.0.1 (fsspec's HTTP filesystem is async)."""
    root = tmp_path / "served"
    root.mkdir()
    with serve_folder(root) as url:
        yield url, root


def test_two_workers_read_an_async_filesystem(
    model_dir: Path, tmp_path: Path, http_folder: tuple[str, Path]
) -> None:
    url, root = http_folder
    write_reviews(root / "in", 12)
    summary = run_batch_inference(
        make_settings(model_dir, f"{url}/in/", tmp_path / "out", num_workers=2)
    )
    assert (summary.files, summary.predicted, summary.errors) == (12, 12, 0)
    written = records(tmp_path / "out" / "batch-infer-res.jsonl")
    assert sorted(r["filepath"] for r in written) == sorted(
        f"{url}/in/{'pos' if i % 2 else 'neg'}/r{i:03d}.txt" for i in range(12)
    )
    assert all(r["sentiment"] in {"positive", "negative"} for r in written)


def test_links_leaving_the_folder_and_fifos_become_error_records(
    model_dir: Path, tmp_path: Path
) -> None:
    write_reviews(tmp_path / "in", 4)
    secret = tmp_path / "secret.txt"
    secret.write_text("the service account key", encoding="utf-8")
    (tmp_path / "in" / "pos" / "link.txt").symlink_to(secret)
    (tmp_path / "in" / "pos" / "zero.txt").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "in" / "pos" / "fifo.txt")
    summary = run_batch_inference(make_settings(model_dir, tmp_path / "in", tmp_path / "out"))
    errors = {
        Path(r["filepath"]).name: r["error"]
        for r in records(tmp_path / "out" / "batch-infer-res.jsonl")
        if "error" in r
    }
    assert "outside" in errors["link.txt"] and "outside" in errors["zero.txt"]
    assert "not a regular file" in errors["fifo.txt"]
    assert (summary.predicted, summary.errors) == (4, 3)


def test_oversized_and_markup_only_files_are_error_records(model_dir: Path, tmp_path: Path) -> None:
    write_reviews(tmp_path / "in", 2)
    (tmp_path / "in" / "big.txt").write_text("<" * 5000, encoding="utf-8")
    (tmp_path / "in" / "markup.txt").write_text("<br /><br />", encoding="utf-8")
    (tmp_path / "in" / "bom.txt").write_bytes("\ufeffgreat fun".encode())
    run_batch_inference(
        make_settings(model_dir, tmp_path / "in", tmp_path / "out", max_file_bytes=4096)
    )
    results = records(tmp_path / "out" / "batch-infer-res.jsonl")
    by_name = {Path(r["filepath"]).name: r for r in results}
    assert by_name["big.txt"]["error"] == "larger than max_file_bytes=4096 (5000 bytes)"
    assert by_name["markup.txt"]["error"] == "empty (no text after cleaning)"
    assert "error" not in by_name["bom.txt"]


def test_a_resume_with_another_model_is_refused(model_dir: Path, tmp_path: Path) -> None:
    other = save_tiny_model(tmp_path / "other-model")
    write_reviews(tmp_path / "in", 6)
    out = tmp_path / "out"
    run_batch_inference(make_settings(model_dir, tmp_path / "in", out))
    complete = (out / "batch-infer-res.jsonl").read_bytes()
    with pytest.raises(ValueError, match="another model"):
        run_batch_inference(make_settings(other, tmp_path / "in", out))
    assert (out / "batch-infer-res.jsonl").read_bytes() == complete

    # An interrupted run's .partial by the first model is not continued by the second.
    (out / "batch-infer-res.jsonl").rename(out / "batch-infer-res.jsonl.partial")
    with pytest.raises(ValueError, match="another model"):
        run_batch_inference(make_settings(other, tmp_path / "in", out))
    assert (out / "batch-infer-res.jsonl.partial").read_bytes() == complete
    # The same model resumes as before.
    summary = run_batch_inference(make_settings(model_dir, tmp_path / "in", out))
    assert summary.resumed == 6


@pytest.mark.parametrize("name", ["../escape.jsonl", "sub/x.jsonl", ".."])
def test_output_filename_must_be_a_plain_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="output_filename"):
        make_settings(tmp_path, tmp_path, tmp_path, output_filename=name)
