"""The readers of raw data: folder trees with any labels, and tables (CSV, Parquet, JSON Lines)."""

from __future__ import annotations

import os
from pathlib import Path

import fsspec
import pandas as pd
import pytest
from pipeline_testkit import (
    LABEL_SETS,
    PROCESSED_LABELS,
    data_prep_config,
    table_rows,
    write_raw_tree,
    write_table,
)

from {{ cookiecutter.src_package_name }}.data_prep.readers import (
    DataError,
    Reject,
    hash_split,
    list_tree,
    read_source,
)


def _read(raw: Path | str, *overrides: str):
    return read_source(str(raw), data_prep_config([raw], "unused", *overrides), progress=False)


@pytest.mark.parametrize("labels", ["binary", "three"])
def test_a_tree_gives_every_text_with_its_split_and_folder_label(
    tmp_path: Path, labels: str
) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=3, n_test=2, labels=labels)
    source = _read(raw)
    names = {"pos": "positive", "neg": "negative"}  # data_prep.label_names of the sample
    assert source.seen == 5 * len(LABEL_SETS[labels]) and not source.rejects
    assert {(r.split, r.label) for r in source.records} == {
        (split, label) for split in ("train", "test") for label in PROCESSED_LABELS[labels]
    }
    for record in source.records:
        folder = Path(record.source).parent
        assert (folder.parent.name, names.get(folder.name, folder.name)) == (
            record.split, record.label)
    for folder in {Path(r.source).parent for r in source.records}:
        listed = [r.source for r in source.records if Path(r.source).parent == folder]
        assert listed == sorted(listed)  # listing order never changes the dataset


def test_label_names_rename_the_folders_and_leave_others_as_they_are(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=1, n_test=0)
    (raw / "train" / "mixed").mkdir()
    (raw / "train" / "mixed" / "m_1.txt").write_text("so so", encoding="utf-8")
    labels = {r.label for r in _read(raw).records}  # the shipped names: pos and neg
    assert labels == {"positive", "negative", "mixed"}


def test_missing_folder_and_wrong_layout_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        list_tree(str(tmp_path / "nope"), {})
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"train/ and/or test/ folders"):
        list_tree(str(tmp_path / "flat"), {})


def test_bad_files_become_rejects_with_reasons(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=2, n_test=1)
    neg = raw / "train" / "neg"
    (neg / "latin1_1.txt").write_bytes("Caf\xe9 awful".encode("latin-1"))
    (neg / "blank_1.txt").write_text("  <br /> \n ", encoding="utf-8")
    os.symlink(neg / "missing-target", neg / "dangling_1.txt")
    source = _read(raw, "data_prep.n_jobs=1")
    reasons = {Path(r.path).name: r.reason for r in source.rejects}
    assert reasons.keys() == {"latin1_1.txt", "blank_1.txt", "dangling_1.txt"}
    assert reasons["latin1_1.txt"].startswith("not UTF-8")
    assert reasons["blank_1.txt"].startswith("empty")
    assert reasons["dangling_1.txt"].startswith("unreadable")
    assert len(source.records) == 6
    assert all("<br" not in r.text and r.text == r.text.strip() for r in source.records)


def test_parallel_reading_gives_the_same_result_as_serial(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=20, n_test=5)
    (raw / "test" / "pos" / "bad_1.txt").write_bytes(b"\xff\xfe\x00")
    serial = _read(raw, "data_prep.n_jobs=1")
    parallel = _read(raw, "data_prep.n_jobs=2", "data_prep.parallel_min_files=1")
    assert parallel == serial
    assert len(serial.rejects) == 1


def test_reads_fsspec_urls(tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    fs.pipe({
        "/imdb-test/train/pos/1_9.txt": b"Loved it<br />great",
        "/imdb-test/train/neg/2_1.txt": b"Awful, boring.",
        "/imdb-test/train/neg/3_1.txt": b"\xe9t\xe9",
    })
    try:
        source = _read("memory://imdb-test")
    finally:
        fs.rm("/imdb-test", recursive=True)
    assert sorted(r.text for r in source.records) == ["Awful, boring.", "Loved it great"]
    assert source.rejects == [Reject("memory://imdb-test/train/neg/3_1.txt",
                                     source.rejects[0].reason)]
    assert source.rejects[0].reason.startswith("not UTF-8")


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_a_table_gives_a_record_per_row_with_its_label(tmp_path: Path, suffix: str) -> None:
    frame = table_rows(4)
    table = write_table(tmp_path / f"news{suffix}", frame)
    source = _read(table, f"data_prep.source_format={suffix.lstrip('.')}")
    assert source.seen == 12 and not source.rejects
    assert [r.label for r in source.records] == frame["label"].tolist()
    assert [r.source for r in source.records] == [f"{table}:row {i}" for i in range(1, 13)]
    assert all("<br" not in r.text for r in source.records)


def test_a_folder_of_tables_is_read_in_order_and_other_files_ignored(tmp_path: Path) -> None:
    write_table(tmp_path / "in" / "b.csv", table_rows(1, seed=2))
    write_table(tmp_path / "in" / "a.csv", table_rows(1, seed=1))
    (tmp_path / "in" / "README.md").write_text("not data", encoding="utf-8")
    source = _read(tmp_path / "in", "data_prep.source_format=csv")
    assert [r.source.rsplit("/", 1)[-1] for r in source.records] == [
        f"{name}.csv:row {i}" for name in "ab" for i in (1, 2, 3)
    ]


def test_the_split_column_gives_the_split(tmp_path: Path) -> None:
    frame = table_rows(2).assign(part=["train", "test"] * 3)
    table = write_table(tmp_path / "t.csv", frame)
    source = _read(table, "data_prep.source_format=csv", "data_prep.split_column=part")
    assert [r.split for r in source.records] == ["train", "test"] * 3


def test_without_split_column_a_seeded_hash_of_the_text_splits_stably(tmp_path: Path) -> None:
    frame = table_rows(100, labels="binary")
    table = write_table(tmp_path / "t.csv", frame)
    first = _read(table, "data_prep.source_format=csv", "data_prep.test_fraction=0.25")
    shuffled = write_table(tmp_path / "shuffled.csv", frame.sample(frac=1.0, random_state=3))
    again = _read(shuffled, "data_prep.source_format=csv", "data_prep.test_fraction=0.25")
    split_of = {r.text: r.split for r in first.records}
    assert {r.text: r.split for r in again.records} == split_of  # order does not matter
    share = sum(s == "test" for s in split_of.values()) / len(split_of)
    assert 0.15 < share < 0.35
    assert hash_split("a text", 1, 0.25) == hash_split("a text", 1, 0.25)
    assert {hash_split(f"t{i}", 1, 0.5) == hash_split(f"t{i}", 2, 0.5) for i in range(50)} == {
        True, False}  # the seed changes the split


def test_rows_without_text_or_label_are_rejects_with_a_reason(tmp_path: Path) -> None:
    frame = pd.DataFrame({"text": ["fine goal", "", "<br />", "market up"],
                          "label": ["sports", "tech", "tech", ""]})
    table = write_table(tmp_path / "t.csv", frame)
    source = _read(table, "data_prep.source_format=csv")
    assert [r.text for r in source.records] == ["fine goal"]
    assert source.rejects == [
        Reject(f"{table}:row 2", "empty (no text after cleaning)"),
        Reject(f"{table}:row 3", "empty (no text after cleaning)"),
        Reject(f"{table}:row 4", "no label (column 'label')"),
    ]


def test_numeric_labels_are_read_as_text_and_can_be_named(tmp_path: Path) -> None:
    frame = pd.DataFrame({"text": ["great", "awful", "great fun"], "label": [1, 0, 1]})
    table = write_table(tmp_path / "t.parquet", frame)
    source = _read(table, "data_prep.source_format=parquet", "+data_prep.label_names.1=good")
    assert [r.label for r in source.records] == ["good", "0", "good"]


@pytest.mark.parametrize(
    ("content", "overrides", "message"),
    [
        ("words,label\nhi,a\n", [], r"t\.csv: no column 'text' \(data_prep\.text_column\)"),
        ("text,label\nhi,a\n", ["data_prep.label_column=topic"], r"no column 'topic'"),
        ("text,label\n", [], r"t\.csv: the table has no rows"),
        ("", [], r"t\.csv: cannot be read as csv"),
        ("text,label,part\nhi,a,train\nho,b,validation\n", ["data_prep.split_column=part"],
         r"t\.csv:row 2, column 'part': 'validation' is neither 'train' nor 'test'"),
    ],
    ids=["missing-text-column", "missing-label-column", "no-rows", "empty-file", "bad-split"],
)
def test_a_bad_table_is_one_clear_error_naming_file_row_and_column(
    tmp_path: Path, content: str, overrides: list[str], message: str
) -> None:
    (tmp_path / "t.csv").write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        _read(tmp_path / "t.csv", "data_prep.source_format=csv", *overrides)


def test_a_missing_table_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"No csv file found at .*absent"):
        _read(tmp_path / "absent", "data_prep.source_format=csv")
