"""Data preparation never deletes what it did not write, never blocks on a special file,
follows links unless told not to, and judges every source on its own."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pipeline_testkit import compose_config, data_prep_config, run_script, write_raw_tree

from {{ cookiecutter.src_package_name }}.configuration import ConfigError, typed_section
from {{ cookiecutter.src_package_name }}.data_prep.config import DataPrepConfig
from {{ cookiecutter.src_package_name }}.data_prep.pipeline import TooManyRejectsError, prepare_dataset
from {{ cookiecutter.src_package_name }}.data_prep.processed_dataset import load_split
from {{ cookiecutter.src_package_name }}.data_prep.readers import DataError
from {{ cookiecutter.src_package_name }}.general_utils import UnownedDestinationError


def _prepare(raw_dirs: list[Path], out: Path | str, *overrides: str):
    return prepare_dataset(data_prep_config(raw_dirs, out, *overrides), progress=False)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _within(seconds: float, work: Callable[[], Any]) -> Any:
    """Run ``work`` in a thread; fail (instead of hanging the suite) if it blocks."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:  # pylint: disable=broad-exception-caught
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s (blocked on a file?)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_a_destination_holding_other_data_is_refused_and_nothing_is_deleted(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    raw = write_raw_tree(data / "raw" / "set1", n_train=2, n_test=1)
    _prepare([raw], data / "processed" / "older")
    (data / "MY_NOTES.md").write_text("my notes", encoding="utf-8")
    before = _files(data)
    with pytest.raises(UnownedDestinationError, match=str(data)):
        _prepare([raw], data)  # the typo data_prep.processed_data_path=data
    assert _files(data) == before


def test_rerunning_replaces_the_pipelines_own_dataset(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=2, n_test=1)
    out = tmp_path / "processed"
    _prepare([raw], out)
    (raw / "train" / "pos" / "new_10.txt").write_text("A new great review", encoding="utf-8")
    assert _prepare([raw], out).manifest["items_seen"] == 7
    assert load_split(str(out), "train")["text"].str.contains("A new great review").any()


def test_the_entry_script_refuses_the_typo_and_deletes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    raw = write_raw_tree(data / "raw" / "set1", n_train=2, n_test=1)
    before = _files(data)
    result = run_script(
        "process_data.py",
        [f"data_prep.raw_dirs_paths=[{raw}]", f"data_prep.processed_data_path={data}",
         f"hydra.run.dir={tmp_path}/hydra"],
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert str(data) in result.stderr
    assert "Data preparation failed:" in result.stderr
    assert "not written by this pipeline" in result.stderr
    assert "Traceback" not in result.stderr
    assert _files(data) == before


def _linked_tree(tmp_path: Path, n_links: int) -> tuple[Path, Path]:
    """A tree whose train/pos files are links into another folder, as DVC's link cache makes."""
    store = write_raw_tree(tmp_path / "store", n_train=n_links, n_test=0)
    raw = write_raw_tree(tmp_path / "raw", n_train=n_links, n_test=1)
    pos = raw / "train" / "pos"
    for i, target in enumerate(sorted((store / "train" / "pos").iterdir())):
        (pos / f"link{i}_1.txt").symlink_to(target)
    return raw, pos


def test_links_are_followed_by_default_and_special_files_are_never_read(
    tmp_path: Path,
) -> None:
    raw, pos = _linked_tree(tmp_path, 25)
    (pos / "zero_1.txt").symlink_to("/dev/zero")
    os.mkfifo(pos / "fifo_1.txt")
    result = _within(30, lambda: _prepare([raw], tmp_path / "out",
                                          "data_prep.max_reject_fraction=0.2"))
    reasons = {Path(r.path).name: r.reason for r in result.rejects}
    assert reasons.keys() == {"zero_1.txt", "fifo_1.txt"}  # the 25 links are texts
    assert all(reason.startswith("not a regular file") for reason in reasons.values())
    sources = load_split(str(tmp_path / "out"), "train")["source"]
    assert sources.str.contains("/link").sum() == 25


def test_refuse_outside_links_refuses_links_leaving_the_tree_without_reading_them(
    tmp_path: Path,
) -> None:
    raw, pos = _linked_tree(tmp_path, 2)
    secret = tmp_path / "secret.txt"
    secret.write_text("the service account key", encoding="utf-8")
    (pos / "secret_1.txt").symlink_to(secret)
    (pos / "inside_1.txt").symlink_to(next(pos.glob("r*.txt")))
    result = _prepare([raw], tmp_path / "out", "data_prep.max_reject_fraction=0.5",
                      "data_prep.refuse_outside_links=true")
    reasons = {Path(r.path).name: r.reason for r in result.rejects}
    assert reasons.keys() == {"secret_1.txt", "link0_1.txt", "link1_1.txt"}
    assert all("outside the input folder" in reason for reason in reasons.values())
    texts = load_split(str(tmp_path / "out"), "train")["text"]
    assert not texts.str.contains("service account").any()  # inside_1.txt is read


def test_an_oversized_file_is_a_reject_with_its_size(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=40, n_test=1)
    big = raw / "train" / "neg" / "big_1.txt"
    big.write_text("boring " * 200, encoding="utf-8")
    result = _prepare([raw], tmp_path / "out", "data_prep.max_file_bytes=1000",
                      "data_prep.max_reject_fraction=0.05")
    reasons = {Path(r.path).name: r.reason for r in result.rejects}
    assert reasons == {"big_1.txt": "larger than max_file_bytes=1000 (1400 bytes)"}


def test_a_bom_is_dropped_and_a_markup_only_file_is_rejected(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=40, n_test=1)
    (raw / "train" / "pos" / "bom_1.txt").write_bytes("\ufeffA bom review".encode())
    (raw / "train" / "pos" / "markup_1.txt").write_text("<br /><br />", encoding="utf-8")
    result = _prepare([raw], tmp_path / "out", "data_prep.max_reject_fraction=0.05")
    train: pd.DataFrame = load_split(str(tmp_path / "out"), "train")
    assert "A bom review" in set(train["text"])
    assert {Path(r.path).name: r.reason for r in result.rejects} == {
        "markup_1.txt": "empty (no text after cleaning)"
    }


def test_the_reject_limit_applies_to_each_source_folder(tmp_path: Path) -> None:
    big = write_raw_tree(tmp_path / "big", n_train=75, n_test=75)  # 300 good files
    small = tmp_path / "small" / "train" / "pos"
    small.mkdir(parents=True)
    for i in range(2):
        (small / f"latin_{i}.txt").write_bytes(b"caf\xe9 \xff")
    # 2 of 302 files (0.7 %) overall, but every file of the second source.
    with pytest.raises(TooManyRejectsError, match=str(tmp_path / "small")):
        _prepare([big, tmp_path / "small"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_train_split_with_one_label_is_refused_before_writing(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=3, n_test=1)
    for path in (raw / "train" / "neg").iterdir():
        path.unlink()
    (raw / "train" / "neg").rmdir()
    with pytest.raises(DataError, match=r"train split has 1 label\(s\) \['positive'\]"):
        _prepare([raw], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_train_test_overlap_is_counted_in_the_manifest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=3, n_test=1)
    (raw / "train" / "pos" / "dup_1.txt").write_text("Same words in both.", encoding="utf-8")
    (raw / "test" / "pos" / "dup_1.txt").write_text("Same words in both.", encoding="utf-8")
    manifest = _prepare([raw], tmp_path / "out").manifest
    assert manifest["train_test_overlap"] == 1
    assert "1 test text(s) also in train" in caplog.text


def test_the_data_prep_section_is_validated_with_one_line_per_problem() -> None:
    default = typed_section(compose_config().data_prep, DataPrepConfig, "data_prep")
    assert default.max_file_bytes == 1_000_000 and default.max_reject_fraction == 0.01
    bad = compose_config(
        overrides=[
            "data_prep.max_file_bytes=0", "data_prep.max_reject_fraction=2", "+data_prep.typo=1"
        ]
    )
    with pytest.raises(ConfigError) as raised:
        typed_section(bad.data_prep, DataPrepConfig, "data_prep")
    lines = str(raised.value).splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == [
        "data_prep.max_reject_fraction", "data_prep.max_file_bytes", "data_prep.typo"
    ]
