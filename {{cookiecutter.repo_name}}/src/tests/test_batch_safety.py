"""Batch inference on async filesystems, linked and hostile input folders, resumes across models."""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf
from pipeline_testkit import compose_config, serve_folder
from serving_support import save_tiny_model

from {{ cookiecutter.src_package_name }}.configuration import ConfigError, UserError, typed_section
from {{ cookiecutter.src_package_name }}.inference.batch import (
    BatchSettings,
    Summary,
    run_batch_inference,
)

RESULTS = "batch-infer-res.jsonl"
WORDS = ["awesome", "great", "boring", "awful", "plot", "fun"]


@pytest.fixture(name="model_dir", scope="module")
def fixture_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real model in MLflow's format."""
    return save_tiny_model(tmp_path_factory.mktemp("model") / "model")


@functools.cache
def inference_defaults() -> dict[str, Any]:
    """The ``inference`` section as composed from ``conf/base/pipelines.yaml``."""
    section = OmegaConf.to_container(compose_config("pipelines").inference, resolve=True)
    assert isinstance(section, dict)
    return section


def make_settings(model: Path, input_dir: Path | str, output_dir: Path,
                  **values: Any) -> BatchSettings:
    """The composed ``inference`` section, validated, with small batches and no progress bar."""
    section = {**inference_defaults(), "model_path": str(model), "input_data_dir": str(input_dir),
               "output_dir": str(output_dir), "batch_size": 3, "num_workers": 1,
               "progress": False, **values}
    return typed_section(section, BatchSettings, "inference")


def write_reviews(root: Path, count: int, prefix: str = "r") -> list[Path]:
    """``count`` small review files under pos/ and neg/."""
    paths = []
    for i in range(count):
        folder = root / ("pos" if i % 2 else "neg")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{prefix}{i:03d}.txt"
        path.write_text(f"Review {i}: {WORDS[i % 6]} {WORDS[(i + 2) % 6]}.", encoding="utf-8")
        paths.append(path)
    return paths


def records(path: Path) -> list[dict[str, Any]]:
    """The JSON Lines records of a results file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def errors_by_name(path: Path) -> dict[str, str]:
    """File name -> error of the error records of a results file."""
    return {Path(r["filepath"]).name: r["error"] for r in records(path) if "error" in r}


@pytest.fixture(name="http_folder")
def fixture_http_folder(tmp_path: Path) -> Iterator[tuple[str, Path]]:
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
    assert (summary.items, summary.predicted, summary.errors) == (12, 12, 0)
    written = records(tmp_path / "out" / RESULTS)
    assert sorted(r["filepath"] for r in written) == sorted(
        f"{url}/in/{'pos' if i % 2 else 'neg'}/r{i:03d}.txt" for i in range(12)
    )
    assert all(r["label"] in {"positive", "negative"} for r in written)


def link_cache(tmp_path: Path, count: int) -> Path:
    """``count`` reviews kept outside the input folder, linked into it (as DVC's cache does)."""
    cache = write_reviews(tmp_path / "cache", count)
    linked = tmp_path / "in"
    for target in cache:
        link = linked / target.relative_to(tmp_path / "cache")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    return linked


def test_links_are_followed_by_default(model_dir: Path, tmp_path: Path) -> None:
    linked = link_cache(tmp_path, 25)
    summary = run_batch_inference(make_settings(model_dir, linked, tmp_path / "out"))
    assert (summary.items, summary.predicted, summary.errors) == (25, 25, 0)
    written = records(tmp_path / "out" / RESULTS)
    assert sorted(r["filepath"] for r in written) == sorted(map(str, linked.rglob("*.txt")))
    assert all(r["label"] in {"positive", "negative"} for r in written)


def test_links_leaving_the_folder_are_refused_on_request(model_dir: Path, tmp_path: Path) -> None:
    linked = link_cache(tmp_path, 25)
    write_reviews(linked / "own", 2, prefix="own")
    (linked / "inside.txt").symlink_to(linked / "own" / "pos" / "own001.txt")
    (linked / "zero.txt").symlink_to("/dev/zero")
    summary = run_batch_inference(
        make_settings(model_dir, linked, tmp_path / "out", refuse_outside_links=True)
    )
    errors = errors_by_name(tmp_path / "out" / RESULTS)
    assert len(errors) == 26 and "inside.txt" not in errors
    assert all("symbolic link leading outside the input folder" in e for e in errors.values())
    assert (summary.items, summary.predicted, summary.errors) == (29, 3, 26)


def run_with_deadline(config: BatchSettings, seconds: float) -> Summary:
    """Run batch inference in a thread; fail if it has not ended after ``seconds``."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["summary"] = run_batch_inference(config)
        except BaseException as error:  # pylint: disable=broad-exception-caught
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"batch inference still running after {seconds:.0f} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["summary"]


def test_fifos_and_devices_are_error_records_and_never_block(
    model_dir: Path, tmp_path: Path
) -> None:
    write_reviews(tmp_path / "in", 4)
    os.mkfifo(tmp_path / "in" / "pos" / "fifo.txt")  # opening it to read waits for a writer
    (tmp_path / "in" / "pos" / "zero.txt").symlink_to("/dev/zero")  # reading never ends
    summary = run_with_deadline(make_settings(model_dir, tmp_path / "in", tmp_path / "out"), 60)
    errors = errors_by_name(tmp_path / "out" / RESULTS)
    assert errors == {"fifo.txt": "not a regular file (a FIFO; not read)",
                      "zero.txt": "not a regular file (a character device; not read)"}
    assert (summary.predicted, summary.errors) == (4, 2)


def test_oversized_and_markup_only_files_are_error_records(model_dir: Path, tmp_path: Path) -> None:
    write_reviews(tmp_path / "in", 2)
    (tmp_path / "in" / "big.txt").write_text("<" * 5000, encoding="utf-8")
    (tmp_path / "in" / "markup.txt").write_text("<br /><br />", encoding="utf-8")
    (tmp_path / "in" / "bom.txt").write_bytes("\ufeffgreat fun".encode())
    run_batch_inference(
        make_settings(model_dir, tmp_path / "in", tmp_path / "out", max_file_bytes=4096)
    )
    by_name = {Path(r["filepath"]).name: r for r in records(tmp_path / "out" / RESULTS)}
    assert by_name["big.txt"]["error"] == "larger than max_file_bytes=4096 (5000 bytes)"
    assert by_name["markup.txt"]["error"] == "empty (no text after cleaning)"
    assert "error" not in by_name["bom.txt"]


def test_a_resume_with_another_model_is_refused(model_dir: Path, tmp_path: Path) -> None:
    other = save_tiny_model(tmp_path / "other-model")
    write_reviews(tmp_path / "in", 6)
    out = tmp_path / "out"
    run_batch_inference(make_settings(model_dir, tmp_path / "in", out))
    complete = (out / RESULTS).read_bytes()
    with pytest.raises(UserError, match="another model"):
        run_batch_inference(make_settings(other, tmp_path / "in", out))
    assert (out / RESULTS).read_bytes() == complete

    # An interrupted run's .partial by the first model is not continued by the second.
    (out / RESULTS).rename(out / f"{RESULTS}.partial")
    with pytest.raises(UserError, match="another model"):
        run_batch_inference(make_settings(other, tmp_path / "in", out))
    assert (out / f"{RESULTS}.partial").read_bytes() == complete
    # The same model resumes as before.
    summary = run_batch_inference(make_settings(model_dir, tmp_path / "in", out))
    assert summary.resumed == 6


@pytest.mark.parametrize("name", ["../escape.jsonl", "sub/x.jsonl", ".."])
def test_output_filename_must_be_a_plain_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="output_filename"):
        make_settings(tmp_path, tmp_path, tmp_path, output_filename=name)
