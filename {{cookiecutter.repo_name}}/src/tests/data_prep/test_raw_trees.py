"""Listing and reading raw review trees, with rejects."""

from __future__ import annotations

import os
from pathlib import Path

import fsspec
import pytest
from pipeline_testkit import write_raw_tree

from {{ cookiecutter.src_package_name }}.data_prep.raw_trees import (
    Reject,
    Review,
    list_raw_files,
    read_reviews,
)


def test_lists_every_review_with_split_and_label(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=3, n_test=2)
    files = list_raw_files(str(raw))
    assert len(files) == 10
    assert {(f.split, f.label) for f in files} == {
        ("train", 1), ("train", 0), ("test", 1), ("test", 0)
    }
    for f in files:
        folder = Path(f.path).parent
        assert folder.name == ("pos" if f.label == 1 else "neg")
        assert folder.parent.name == f.split
    for folder in {Path(f.path).parent for f in files}:
        listed = [f.path for f in files if Path(f.path).parent == folder]
        assert listed == sorted(listed)  # listing order never changes the dataset


def test_missing_folder_and_wrong_layout_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        list_raw_files(str(tmp_path / "nope"))
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"IMDB layout"):
        list_raw_files(str(tmp_path / "flat"))


def test_bad_files_become_rejects_with_reasons(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=2, n_test=1)
    neg = raw / "train" / "neg"
    (neg / "latin1_1.txt").write_bytes("Caf\xe9 awful".encode("latin-1"))
    (neg / "blank_1.txt").write_text("  <br /> \n ", encoding="utf-8")
    os.symlink(neg / "missing-target", neg / "dangling_1.txt")
    reviews, rejects = read_reviews(list_raw_files(str(raw)), n_jobs=1, progress=False)
    reasons = {Path(r.path).name: r.reason for r in rejects}
    assert reasons.keys() == {"latin1_1.txt", "blank_1.txt", "dangling_1.txt"}
    assert reasons["latin1_1.txt"].startswith("not UTF-8")
    assert reasons["blank_1.txt"].startswith("empty")
    assert reasons["dangling_1.txt"].startswith("unreadable")
    assert len(reviews) == 6
    assert all("<br" not in r.text and r.text == r.text.strip() for r in reviews)


def test_parallel_reading_gives_the_same_result_as_serial(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=20, n_test=5)
    (raw / "test" / "pos" / "bad_1.txt").write_bytes(b"\xff\xfe\x00")
    files = list_raw_files(str(raw))
    serial = read_reviews(files, n_jobs=1, progress=False)
    parallel = read_reviews(files, n_jobs=2, parallel_min_files=1, progress=False)
    assert parallel == serial
    assert len(serial[1]) == 1


def test_reads_fsspec_urls(tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    fs.pipe(
        {
            "/imdb-test/train/pos/1_9.txt": b"Loved it<br />great",
            "/imdb-test/train/neg/2_1.txt": b"Awful, boring.",
            "/imdb-test/train/neg/3_1.txt": b"\xe9t\xe9",
        }
    )
    try:
        files = list_raw_files("memory://imdb-test")
        reviews, rejects = read_reviews(files, progress=False)
    finally:
        fs.rm("/imdb-test", recursive=True)
    assert sorted(r.text for r in reviews) == ["Awful, boring.", "Loved it great"]
    assert all(isinstance(r, Review) for r in reviews)
    assert rejects == [Reject("memory://imdb-test/train/neg/3_1.txt", rejects[0].reason)]
    assert rejects[0].reason.startswith("not UTF-8")
