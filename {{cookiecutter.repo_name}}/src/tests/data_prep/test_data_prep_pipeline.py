"""The processed dataset: sources combined, labels from the data, manifest, rejects, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pipeline_testkit import (
    PROCESSED_LABELS,
    data_prep_config,
    table_rows,
    write_raw_tree,
    write_table,
)

from {{ cookiecutter.src_package_name }}.configuration import ConfigError, typed_section
from {{ cookiecutter.src_package_name }}.data_prep import processed_dataset
from {{ cookiecutter.src_package_name }}.data_prep.config import DataPrepConfig
from {{ cookiecutter.src_package_name }}.data_prep.pipeline import (
    TooManyRejectsError,
    prepare_dataset,
    summarise,
)
from {{ cookiecutter.src_package_name }}.data_prep.processed_dataset import (
    IncompleteDatasetError,
    load_manifest,
    load_split,
)
from {{ cookiecutter.src_package_name }}.data_prep.readers import DataError


def _prepare(raw_dirs: list[Path], out: Path | str, *overrides: str):
    return prepare_dataset(data_prep_config(raw_dirs, out, *overrides), progress=False)


def test_combines_folders_into_parquet_splits_with_manifest(tmp_path: Path) -> None:
    set1 = write_raw_tree(tmp_path / "set1", n_train=4, n_test=2, seed=1)
    set2 = write_raw_tree(tmp_path / "set2", n_train=3, n_test=1, seed=2)
    out = tmp_path / "processed" / "combined"
    result = _prepare([set1, set2], out)

    assert sorted(p.name for p in out.iterdir()) == [
        ".written-by-pipeline", "manifest.json", "rejects.jsonl", "test.parquet", "train.parquet"
    ]
    manifest = load_manifest(str(out))
    assert manifest["labels"] == ["negative", "positive"]
    assert manifest["counts"]["train"] == {"negative": 7, "positive": 7, "total": 14}
    assert manifest["counts"]["test"] == {"negative": 3, "positive": 3, "total": 6}
    assert manifest["sources"] == {str(set1): 12, str(set2): 8}
    assert manifest["items_seen"] == 20 and manifest["n_rejects"] == 0
    train = load_split(str(out), "train")
    assert list(train.columns) == ["text", "label", "source"]
    assert set(train["label"]) == {"negative", "positive"}
    assert train["source"].str.startswith(str(set2)).sum() == 6
    assert not train["text"].str.contains("<br").any()
    assert "20 raw items" in summarise(result)
    assert "labels ['negative', 'positive']" in summarise(result)


@pytest.mark.parametrize("labels", ["binary", "three"])
def test_the_labels_come_from_the_data(tmp_path: Path, labels: str) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=3, n_test=1, labels=labels)
    manifest = _prepare([raw], tmp_path / "out").manifest
    assert manifest["labels"] == PROCESSED_LABELS[labels]
    assert set(manifest["counts"]["train"]) == {*PROCESSED_LABELS[labels], "total"}


def test_a_table_makes_a_dataset_with_its_labels_and_split(tmp_path: Path) -> None:
    table = write_table(tmp_path / "news.jsonl", table_rows(30))
    result = _prepare([table], tmp_path / "out", "data_prep.source_format=jsonl")
    assert result.manifest["labels"] == PROCESSED_LABELS["three"]
    assert result.manifest["items_seen"] == 90
    sizes = {split: len(load_split(str(tmp_path / "out"), split)) for split in ("train", "test")}
    assert sum(sizes.values()) == 90 and 8 < sizes["test"] < 30  # test_fraction 0.2


def test_content_hash_depends_on_content_only(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=3, n_test=1)
    first = _prepare([raw], tmp_path / "a").manifest["content_sha256"]
    again = _prepare([raw], tmp_path / "b").manifest["content_sha256"]
    assert first == again
    (raw / "train" / "pos" / "extra_10.txt").write_text("A new great review", encoding="utf-8")
    assert _prepare([raw], tmp_path / "c").manifest["content_sha256"] != first


def test_rejects_are_listed_and_tolerated_up_to_the_limit(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=10, n_test=5)  # 30 files
    (raw / "train" / "pos" / "bad_1.txt").write_bytes(b"\xff\xfeawful")
    out = tmp_path / "out"
    result = _prepare([raw], out, "data_prep.max_reject_fraction=0.05")
    assert [Path(r.path).name for r in result.rejects] == ["bad_1.txt"]
    lines = (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["path"] for line in lines] == [str(raw / "train/pos/bad_1.txt")]
    assert load_manifest(str(out))["reject_reasons"] == {"not UTF-8": 1}
    assert "Rejected: 1" in summarise(result)


def test_too_many_rejects_fail_and_leave_the_previous_dataset(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=2, n_test=1)
    out = tmp_path / "out"
    _prepare([raw], out)
    before = load_split(str(out), "train")
    (raw / "train" / "neg" / "empty_1.txt").write_text("", encoding="utf-8")
    with pytest.raises(TooManyRejectsError, match=r"empty_1\.txt"):
        _prepare([raw], out, "data_prep.max_reject_fraction=0.0")
    pd.testing.assert_frame_equal(load_split(str(out), "train"), before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "raw"]


def test_a_crash_while_writing_leaves_no_half_written_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=2, n_test=1)
    out = tmp_path / "out"
    _prepare([raw], out)
    before = load_manifest(str(out))
    real_write = processed_dataset._write_files

    def write_then_crash(folder: str, *args: object) -> None:
        real_write(folder, *args)
        raise OSError("disk full")

    monkeypatch.setattr(processed_dataset, "_write_files", write_then_crash)
    with pytest.raises(OSError, match="disk full"):
        _prepare([raw], out)
    assert load_manifest(str(out)) == before  # the previous dataset is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "raw"]  # no temp folder left

    with pytest.raises(OSError, match="disk full"):
        _prepare([raw], tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


def test_loading_needs_a_manifest(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    pd.DataFrame({"text": ["x"], "label": ["a"], "source": ["s"]}).to_parquet(
        tmp_path / "half" / "train.parquet"
    )
    with pytest.raises(IncompleteDatasetError, match=r"process_data\.py"):
        load_split(str(tmp_path / "half"), "train")


def test_a_dataset_of_an_older_format_is_refused_with_what_to_do(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=1, n_test=1)
    out = tmp_path / "out"
    _prepare([raw], out)
    manifest = out / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"format_version": 2', '"format_version": 1'))
    with pytest.raises(IncompleteDatasetError, match=r"format_version 1, not 2: run process_data"):
        load_split(str(out), "train")


def test_one_folder_may_be_given_without_a_list(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=1, n_test=1)
    section = {**_section(tmp_path / "out"), "raw_dirs_paths": str(raw)}
    result = prepare_dataset(typed_section(section, DataPrepConfig, "data_prep"), progress=False)
    assert result.manifest["sources"] == {str(raw): 4}
    assert result.manifest["n_records"] == 4


def _section(out: Path) -> dict[str, object]:
    return data_prep_config(["x"], out).model_dump()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("max_reject_fraction", 2.0, "less than or equal to 1"),
     ("raw_dirs_paths", [], "at least 1 item"),
     ("source_format", "xml", "'tree', 'csv', 'parquet' or 'jsonl'"),
     ("test_fraction", 1.0, "less than 1")],
)
def test_bad_settings_are_refused_naming_the_key(
    tmp_path: Path, key: str, value: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=rf"data_prep\.{key}: .*{message}"):
        typed_section({**_section(tmp_path / "out"), key: value}, DataPrepConfig, "data_prep")


def test_test_labels_that_train_lacks_are_refused(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=2, n_test=1)
    (raw / "test" / "mixed").mkdir()
    (raw / "test" / "mixed" / "m_1.txt").write_text("so so", encoding="utf-8")
    with pytest.raises(DataError, match=r"test split has labels that train lacks: \['mixed'\]"):
        _prepare([raw], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_writes_and_reads_a_dataset_at_an_fsspec_url(tmp_path: Path) -> None:
    """Also: a rerun with fewer splits leaves no split file of the old dataset behind."""
    import fsspec  # pylint: disable=import-outside-toplevel

    raw = write_raw_tree(tmp_path / "raw", n_train=2, n_test=1)
    url = "memory://processed-test/combined"
    try:
        result = _prepare([raw], url)
        assert load_manifest(url)["content_sha256"] == result.manifest["content_sha256"]
        assert len(load_split(url, "test")) == 2
        for path in (raw / "test").rglob("*.txt"):
            path.unlink()
        assert "test" not in _prepare([raw], url).manifest["files"]
        assert not fsspec.filesystem("memory").exists("/processed-test/combined/test.parquet")
    finally:
        fsspec.filesystem("memory").rm("/processed-test", recursive=True)
