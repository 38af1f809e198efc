"""Fetching raw data: archives, folders, checksums, atomic extraction, offline errors."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import tarfile
from pathlib import Path

import pytest
from pipeline_testkit import serve_folder, table_rows, write_raw_tree, write_table

from {{ cookiecutter.src_package_name }}.data_prep import fetch
from {{ cookiecutter.src_package_name }}.data_prep.fetch import FetchError, fetch_dataset


def _tarball(tmp_path: Path) -> Path:
    tree = write_raw_tree(tmp_path / "src" / "aclImdb", n_train=2, n_test=1)
    archive = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="aclImdb")
    return archive


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_archive_is_verified_extracted_and_then_skipped(tmp_path: Path) -> None:
    archive = _tarball(tmp_path)
    dest = tmp_path / "data" / "raw" / "aclImdb"
    assert fetch_dataset(str(archive), dest, _sha256(archive), progress=False) == dest
    assert sorted(p.name for p in dest.iterdir()) == [".written-by-pipeline", "test", "train"]
    assert len(list((dest / "train" / "pos").glob("*.txt"))) == 2
    assert _leftovers(dest.parent) == []

    marker = dest / "train" / "pos" / "kept.txt"
    marker.write_text("already here")
    fetch_dataset(str(archive), dest, progress=False)  # present: skipped
    assert marker.exists()
    fetch_dataset(str(archive), dest, force=True, progress=False)  # replaced
    assert not marker.exists()


def test_checksum_mismatch_extracts_nothing(tmp_path: Path) -> None:
    archive = _tarball(tmp_path)
    dest = tmp_path / "raw" / "aclImdb"
    with pytest.raises(FetchError, match="Checksum mismatch"):
        fetch_dataset(str(archive), dest, "sha256:" + "0" * 64, progress=False)
    assert not dest.exists()
    assert _leftovers(dest.parent) == []


def test_folder_in_imdb_layout_is_copied(tmp_path: Path) -> None:
    tree = write_raw_tree(tmp_path / "tree", n_train=1, n_test=1)
    dest = fetch_dataset(str(tree), tmp_path / "raw" / "copy", progress=False)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.txt")) == sorted(
        p.relative_to(tree).as_posix() for p in tree.rglob("*.txt")
    )


def test_a_single_file_such_as_a_table_is_copied_into_the_destination(tmp_path: Path) -> None:
    table = write_table(tmp_path / "news.csv", table_rows(2))
    dest = fetch_dataset(str(table), tmp_path / "raw" / "news", progress=False)
    assert sorted(p.name for p in dest.iterdir()) == [".written-by-pipeline", "news.csv"]
    assert (dest / "news.csv").read_bytes() == table.read_bytes()


def test_archive_escaping_its_folder_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(FetchError, match="Could not extract"):
        fetch_dataset(str(archive), tmp_path / "raw" / "evil", progress=False)
    assert not (tmp_path / "raw" / "escaped.txt").exists()
    assert not (tmp_path / "raw" / "evil").exists()


def test_unreachable_url_says_how_to_use_a_local_copy(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dest = tmp_path / "raw" / "aclImdb"
    with pytest.raises(FetchError, match=r"--source /path/to/aclImdb_v1\.tar\.gz"):
        fetch_dataset(f"http://127.0.0.1:{port}/aclImdb_v1.tar.gz", dest, progress=False)
    assert not dest.exists()


def test_missing_source_and_bad_checksum_format(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="not found"):
        fetch_dataset(str(tmp_path / "absent.tar.gz"), tmp_path / "raw" / "x", progress=False)
    archive = _tarball(tmp_path)
    with pytest.raises(ValueError, match="checksum"):
        fetch_dataset(str(archive), tmp_path / "raw" / "y", "deadbeef", progress=False)


def test_sample_source_writes_the_shipped_corpus(tmp_path: Path) -> None:
    pytest.importorskip("{{ cookiecutter.src_package_name }}.sample_data")
    dest = fetch_dataset("sample", tmp_path / "raw" / "sample", progress=False)
    assert any((dest / "train" / "pos").glob("*.txt"))
    assert any((dest / "test" / "neg").glob("*.txt"))
    assert _leftovers(dest.parent) == []


def _archive_with(tmp_path: Path, *extra: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    """The tiny IMDB tarball plus extra members."""
    tree = write_raw_tree(tmp_path / "src" / "aclImdb", n_train=2, n_test=1)
    archive = tmp_path / "crafted.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="aclImdb")
        for info, content in extra:
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    return archive


def test_a_link_re_rooted_by_the_move_is_refused(tmp_path: Path) -> None:
    # Inside the extraction folder this link stays within it, so tar's data filter
    # accepts it; once aclImdb/ is moved to data/raw/aclImdb it points at data/raw/other.
    (tmp_path / "data" / "raw" / "other").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "other" / "private.txt").write_text("another team's data")
    link = tarfile.TarInfo("aclImdb/train/neg/2_1.txt")
    link.type = tarfile.SYMTYPE
    link.linkname = "../../../other/private.txt"
    archive = _archive_with(tmp_path, (link, None))
    dest = tmp_path / "data" / "raw" / "aclImdb"
    with pytest.raises(FetchError, match="link"):
        fetch_dataset(str(archive), dest, progress=False)
    assert not dest.exists()
    assert _leftovers(dest.parent) == []


def test_archives_beyond_the_member_or_size_limits_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _tarball(tmp_path)
    dest = tmp_path / "raw" / "aclImdb"
    for limit, value, message in (("MAX_MEMBERS", 5, "more than 5 members"),
                                  ("MAX_EXTRACTED_BYTES", 100, "more than 100 bytes"),
                                  ("MAX_DOWNLOAD_BYTES", 10, "more than 10 bytes")):
        with monkeypatch.context() as patch, pytest.raises(FetchError, match=message):
            patch.setattr(fetch, limit, value)
            fetch_dataset(str(archive), dest, progress=False)
    assert not dest.exists()
    assert _leftovers(dest.parent) == []


def test_force_never_replaces_a_folder_the_pipeline_did_not_write(tmp_path: Path) -> None:
    archive = _tarball(tmp_path)
    dest = tmp_path / "data"
    (dest / "raw").mkdir(parents=True)
    (dest / "raw" / "notes.md").write_text("mine", encoding="utf-8")
    with pytest.raises(FetchError, match="not written by this pipeline"):
        fetch_dataset(str(archive), dest, force=True, progress=False)
    assert (dest / "raw" / "notes.md").read_text(encoding="utf-8") == "mine"


def test_an_interpreter_without_the_tar_data_filter_is_refused_clearly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delattr(tarfile, "data_filter")
    archive = _tarball(tmp_path)
    with pytest.raises(FetchError, match=r"Python 3\.11\.13"):
        fetch_dataset(str(archive), tmp_path / "raw" / "x", progress=False)


def test_a_folder_source_copies_no_link_and_no_special_file(tmp_path: Path) -> None:
    tree = write_raw_tree(tmp_path / "tree", n_train=1, n_test=1)
    secret = tmp_path / "secret.txt"
    secret.write_text("the service account key", encoding="utf-8")
    pos = tree / "train" / "pos"
    (pos / "link_1.txt").symlink_to(secret)
    os.mkfifo(pos / "fifo_1.txt")
    dest = fetch_dataset(str(tree), tmp_path / "raw" / "copy", progress=False)
    copied = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.txt"))
    assert copied == sorted(
        p.relative_to(tree).as_posix() for p in tree.rglob("r*.txt")
    )
    assert not any("service account" in p.read_text() for p in dest.rglob("*.txt"))


def test_a_signed_archive_url_is_an_archive(tmp_path: Path) -> None:
    archive = _tarball(tmp_path)
    with serve_folder(tmp_path) as base:
        url = f"{base}/{archive.name}?X-Goog-Signature=abc"
        dest = fetch_dataset(url, tmp_path / "raw" / "signed", _sha256(archive), progress=False)
    assert len(list((dest / "train" / "pos").glob("*.txt"))) == 2


def test_a_dest_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    archive = _tarball(tmp_path)
    dest = tmp_path / "raw"
    dest.write_text("a file", encoding="utf-8")
    with pytest.raises(FetchError, match=str(dest)):
        fetch_dataset(str(archive), dest, progress=False)
    assert dest.read_text(encoding="utf-8") == "a file"
