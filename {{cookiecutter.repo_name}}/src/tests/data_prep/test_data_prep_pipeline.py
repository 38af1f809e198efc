"""The processed dataset: combining folders, manifest, rejects, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pipeline_testkit import write_raw_tree

from {{ cookiecutter.src_package_name }}.data_prep import processed_dataset
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


def _prepare(raw_dirs: list[Path], out: Path | str, **kwargs: object):
    return prepare_dataset([str(d) for d in raw_dirs], str(out), progress=False, **kwargs)


def test_combines_folders_into_parquet_splits_with_manifest(tmp_path: Path) -> None:
    set1 = write_raw_tree(tmp_path / "set1", n_train=4, n_test=2, seed=1)
    set2 = write_raw_tree(tmp_path / "set2", n_train=3, n_test=1, seed=2)
    out = tmp_path / "processed" / "combined"
    result = _prepare([set1, set2], out)

    assert sorted(p.name for p in out.iterdir()) == [
        ".written-by-pipeline", "manifest.json", "rejects.jsonl", "test.parquet", "train.parquet"
    ]
    manifest = load_manifest(str(out))
    assert manifest["counts"]["train"] == {"negative": 7, "positive": 7, "total": 14}
    assert manifest["counts"]["test"] == {"negative": 3, "positive": 3, "total": 6}
    assert manifest["source_dirs"] == [str(set1), str(set2)]
    assert manifest["files_seen"] == 20 and manifest["n_rejects"] == 0
    train = load_split(str(out), "train")
    assert list(train.columns) == ["text", "label", "source"]
    assert set(train["label"]) == {0, 1}
    assert train["source"].str.startswith(str(set2)).sum() == 6
    assert not train["text"].str.contains("<br").any()
    assert "20 files" in summarise(result)


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
    result = _prepare([raw], out, max_reject_fraction=0.05)
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
        _prepare([raw], out, max_reject_fraction=0.0)
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
    pd.DataFrame({"text": ["x"], "label": [1], "source": ["s"]}).to_parquet(
        tmp_path / "half" / "train.parquet"
    )
    with pytest.raises(IncompleteDatasetError, match=r"process_data\.py"):
        load_split(str(tmp_path / "half"), "train")


def test_one_folder_may_be_given_without_a_list(tmp_path: Path) -> None:
    raw = write_raw_tree(tmp_path / "raw", n_train=1, n_test=1)
    result = prepare_dataset(str(raw), str(tmp_path / "out"), progress=False)
    assert result.manifest["source_dirs"] == [str(raw)]
    assert result.manifest["n_reviews"] == 4


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_reject_fraction"):
        prepare_dataset(["x"], str(tmp_path / "out"), max_reject_fraction=2.0)
    with pytest.raises(ValueError, match="empty"):
        prepare_dataset([], str(tmp_path / "out"))


def test_writes_and_reads_a_dataset_at_an_fsspec_url(tmp_path: Path) -> None:
    import fsspec  # pylint: disable=import-outside-toplevel

    raw = write_raw_tree(tmp_path / "raw", n_train=2, n_test=1)
    url = "memory://processed-test/combined"
    try:
        result = _prepare([raw], url)
        assert load_manifest(url)["content_sha256"] == result.manifest["content_sha256"]
        assert len(load_split(url, "test")) == 2
    finally:
        fsspec.filesystem("memory").rm("/processed-test", recursive=True)
