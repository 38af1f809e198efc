"""Fetch a raw dataset into ``data/raw/``: download, verify, extract.

Sources:

* ``imdb``: the public aclImdb tarball (Maas et al. 2011), checksum known;
* an ``http(s)://`` URL or an fsspec URL (``gs://bucket/aclImdb_v1.tar.gz``)
  of a ``.tar.gz``; a local ``.tar.gz``;
* a folder (local or fsspec), copied as is (a tree, or a folder of tables);
* a single file, e.g. a table (``.csv``, ``.parquet``, ``.jsonl``), copied into the
  destination folder;
* ``sample``: the small corpus shipped with the package; ``sample-news``: the guide's
  three-label table (news headlines), copied as a file.

The destination is either absent or complete: archives are downloaded to a
temporary file, checked, extracted into a temporary folder and renamed into
place (:func:`..general_utils.install_folder`). An existing destination is left
alone; ``force`` replaces it only if this pipeline fetched it (its marker file),
never a folder of other data.

Archives are untrusted input: they are extracted with tar's ``data`` filter, and
links of any kind are refused (the IMDB layout has none; a relative link that
stays inside the extraction folder would point elsewhere once the tree is moved
to its destination, and the 2024-2025 bypasses of the filter all go through
links). The download size, the number of members and the extracted size are
capped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import fsspec
from fsspec.implementations.local import LocalFileSystem
from tqdm.auto import tqdm

from ..configuration import UserError
from ..general_utils import (
    RAW_DATA_KIND,
    UnownedDestinationError,
    check_replaceable,
    install_folder,
)
from ..redaction import redact

LOGGER = logging.getLogger(__name__)

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
#: MD5 of aclImdb_v1.tar.gz as published by dataset loaders (e.g. torchtext).
IMDB_CHECKSUM = "md5:7c2ac02c03563afcf9b574c7e56c153a"
CHUNK = 1 << 20
#: Default limits on an archive (aclImdb_v1.tar.gz: 84 MB, about 100k members, 0.5 GB).
MAX_DOWNLOAD_BYTES = 1 << 30
MAX_MEMBERS = 500_000
MAX_EXTRACTED_BYTES = 4 << 30


class FetchError(UserError, RuntimeError):
    """The dataset could not be fetched; the message says what to do."""


def _hasher(checksum: str | None) -> tuple[Any, str | None]:
    """A hash object for <algorithm>:<hex> and the expected hex digest (none: sha256, None)."""
    if not checksum:
        return hashlib.sha256(), None
    algorithm, _, expected = checksum.partition(":")
    if not expected or algorithm not in {"md5", "sha1", "sha256", "sha512"}:
        raise ValueError(f"checksum must look like 'sha256:<hex>' or 'md5:<hex>', got {checksum!r}")
    return hashlib.new(algorithm), expected.lower()


@contextmanager
def _open_source(source: str) -> Iterator[tuple[BinaryIO, int | None]]:
    """Open a local path, an HTTP(S) URL or an fsspec URL for reading bytes."""
    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=30) as response:
                length = response.headers.get("Content-Length")
                yield response, int(length) if length else None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise FetchError(
                f"Could not download {redact(source)} ({getattr(error, 'reason', error)}). "
                "Without internet access, download the archive elsewhere, copy it here and "
                "run: python src/get_data.py --source /path/to/aclImdb_v1.tar.gz"
            ) from error
    else:
        fs, path = fsspec.core.url_to_fs(source)
        if not fs.exists(path):
            raise FetchError(f"Source not found: {redact(source)}")
        with fs.open(path, "rb") as handle:
            yield handle, fs.size(path)


def download(source: str, target: Path, checksum: str | None, progress: bool = True) -> str:
    """Copy ``source`` to the local file ``target``, verifying its checksum and size.

    Returns
    -------
    str
        The ``sha256:<hex>`` of the file (logged, for pinning it next time).

    Raises
    ------
    FetchError
        On a checksum mismatch or when the source holds more than
        :data:`MAX_DOWNLOAD_BYTES`.
    """
    hasher, expected = _hasher(checksum)
    sha256 = hashlib.sha256()
    copied = 0
    with (
        _open_source(source) as (stream, size),
        target.open("wb") as file,
        tqdm.wrapattr(file, "write", total=size, desc="Downloading", disable=not progress) as out,
    ):
        while chunk := stream.read(CHUNK):
            copied += len(chunk)
            if max(copied, size or 0) > MAX_DOWNLOAD_BYTES:
                raise FetchError(
                    f"{redact(source)} holds more than {MAX_DOWNLOAD_BYTES} bytes (the download "
                    "limit); nothing was extracted."
                )
            out.write(chunk)
            sha256.update(chunk)
            hasher.update(chunk)
    if expected is not None and hasher.hexdigest() != expected:
        raise FetchError(
            f"Checksum mismatch for {redact(source)}: expected {checksum}, got "
            f"{hasher.name}:{hasher.hexdigest()}. The file is corrupt or not the expected "
            "release; nothing was extracted."
        )
    return f"sha256:{sha256.hexdigest()}"


def check_tar_support() -> None:
    """Refuse to extract on an interpreter without tar's ``data`` filter.

    The filter arrived in Python 3.11.4; its known bypasses (fixed in 3.11.13,
    3.12.11 and 3.13.4) all go through links, which :func:`extract` refuses itself.

    Raises
    ------
    FetchError
        Naming the interpreter and the version to install.
    """
    if not hasattr(tarfile, "data_filter"):
        raise FetchError(
            f"Python {platform.python_version()} has no safe tar extraction (tarfile's data "
            "filter). Use Python 3.11.13 or later (3.12.11+, 3.13.4+) to extract archives."
        )


def extract(archive: Path, folder: Path, progress: bool = True) -> None:
    """Extract a tar archive safely: tar's data filter, no links, bounded size and count.

    Raises
    ------
    FetchError
        For a link, a member the data filter refuses (absolute, ``..``, special
        file), more than :data:`MAX_MEMBERS` members or :data:`MAX_EXTRACTED_BYTES`
        bytes, or a corrupt archive.
    """
    check_tar_support()
    members = total = 0
    try:
        with (
            tarfile.open(archive, "r:*") as tar,
            tqdm(unit="file", desc="Extracting", disable=not progress) as progress_bar,
        ):
            for member in tar:  # one header at a time, not getmembers()
                members += 1
                total += max(member.size, 0)
                if members > MAX_MEMBERS:
                    raise FetchError(f"{archive.name} has more than {MAX_MEMBERS} members")
                if total > MAX_EXTRACTED_BYTES:
                    raise FetchError(
                        f"{archive.name} extracts to more than {MAX_EXTRACTED_BYTES} bytes"
                    )
                if member.issym() or member.islnk():
                    raise FetchError(
                        f"{archive.name} holds a link ({member.name} -> {member.linkname}); "
                        "links are refused in fetched archives"
                    )
                tar.extract(member, folder, filter="data")
                progress_bar.update(1)
    except (tarfile.TarError, OSError) as error:
        raise FetchError(f"Could not extract {archive.name}: {error}") from error


def _data_root(folder: Path) -> Path:
    """The folder holding the data: ``folder``'s only entry when it is a folder, else itself.

    (The aclImdb tarball holds one folder, ``aclImdb/``.)
    """
    entries = list(folder.iterdir())
    if not entries:
        raise FetchError("The fetched source is empty: nothing to install.")
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else folder


def _not_regular(directory: str, names: list[str]) -> set[str]:
    """Names in ``directory`` that are neither regular files nor folders (links included)."""
    skipped = set()
    for name in names:
        path = os.path.join(directory, name)
        mode = os.lstat(path).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            LOGGER.warning("Not copied: %s (a link or special file; only regular files are "
                           "fetched)", path)
            skipped.add(name)
    return skipped


def _copy_source(source: str, folder: Path) -> None:
    """Copy a folder's content, or one file, into ``folder``."""
    fs, path = fsspec.core.url_to_fs(source)
    if fs.isfile(path):
        fs.get(path, str(folder / path.rstrip("/").rsplit("/", 1)[-1]))
        return
    if not fs.isdir(path):
        raise FetchError(f"Source not found: {redact(source)}")
    if isinstance(fs, LocalFileSystem):
        # Never follow a link (its target may be any file on this machine) nor open a FIFO.
        shutil.copytree(path, folder, ignore=_not_regular, dirs_exist_ok=True)
        return
    fs.get(path.rstrip("/") + "/", str(folder), recursive=True)


def fetch_dataset(
    source: str, dest: str | Path, checksum: str | None = None, force: bool = False,
    progress: bool = True,
) -> Path:
    """Fetch a raw dataset into ``dest`` (see the module docstring for sources).

    Parameters
    ----------
    source : str
        ``imdb``, ``sample``, a URL, an fsspec URL or a local path (archive or folder).
    dest : str or Path
        Local folder to create, e.g. ``data/raw/aclImdb``.
    checksum : str or None
        ``sha256:<hex>`` or ``md5:<hex>`` the archive must match (``imdb``: known).
    force : bool
        Replace an existing ``dest`` that this pipeline fetched (never other data).
    progress : bool
        Show progress bars.

    Returns
    -------
    Path
        ``dest``, holding what the source held (for aclImdb: ``train/`` and ``test/``).

    Raises
    ------
    FetchError
        With what to do, when the data cannot be fetched or ``dest`` may not be replaced.
    """
    dest = Path(dest)
    if dest.is_dir() and any(dest.iterdir()) and not force:
        LOGGER.info("%s already exists: skipped (force=True replaces it).", dest)
        return dest
    try:
        check_replaceable(dest.absolute(), RAW_DATA_KIND)
        _fetch(source, dest, checksum, progress)
    except UnownedDestinationError as error:
        raise FetchError(str(error)) from None
    LOGGER.info("Raw data ready in %s", dest)
    return dest


def _fetch(source: str, dest: Path, checksum: str | None, progress: bool) -> None:
    """Fetch into a staging folder and install it as ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source == "sample":
        # pylint: disable-next=import-outside-toplevel
        from ..sample_data import write_sample_tree

        write_sample_tree(dest)  # staged and marked as a raw tree itself
        return
    if source == "imdb":
        source, checksum = IMDB_URL, checksum or IMDB_CHECKSUM
    if source == "sample-news":
        from ..sample_data import NEWS_TOPICS  # pylint: disable=import-outside-toplevel

        source = str(NEWS_TOPICS)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.tmp-") as tmp:
        work = Path(tmp)
        extracted = work / "extracted"
        extracted.mkdir()
        # An archive by its path, so that signed URLs count.
        if urllib.parse.urlsplit(source).path.endswith((".tar.gz", ".tgz", ".tar")):
            check_tar_support()  # before downloading, not after
            archive = work / "archive"
            digest = download(source, archive, checksum, progress)
            LOGGER.info("Downloaded %s (%s).", redact(source), digest)
            extract(archive, extracted, progress)
        else:
            _copy_source(source, extracted)
        install_folder(_data_root(extracted), dest.absolute(), RAW_DATA_KIND)
