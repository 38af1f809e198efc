"""Fetch a raw review dataset into ``data/raw/``: download, verify, extract.

Sources:

* ``imdb``: the public aclImdb tarball (Maas et al. 2011), checksum known;
* an ``http(s)://`` URL or an fsspec URL (``gs://bucket/aclImdb_v1.tar.gz``)
  of a ``.tar.gz``; a local ``.tar.gz``;
* a folder (local or fsspec) already in the IMDB layout, copied as is;
* ``sample``: the small corpus shipped with the package.

The destination is either absent or complete: archives are downloaded to a
temporary file, checked, extracted into a temporary folder and renamed into
place. An existing destination is left alone (pass ``force`` to replace it).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import fsspec
from tqdm.auto import tqdm

LOGGER = logging.getLogger(__name__)

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
#: MD5 of aclImdb_v1.tar.gz as published by dataset loaders (e.g. torchtext).
IMDB_CHECKSUM = "md5:7c2ac02c03563afcf9b574c7e56c153a"
CHUNK = 1 << 20


class FetchError(RuntimeError):
    """The dataset could not be fetched; the message says what to do."""


def _hasher(checksum: str | None) -> tuple[Any, str | None]:
    """A hash object for <algorithm>:<hex> and the expected hex digest."""
    if not checksum:
        return None, None
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
                f"Could not download {source} ({getattr(error, 'reason', error)}). "
                "Without internet access, download the archive elsewhere, copy it here and "
                "run: python src/get_data.py --source /path/to/aclImdb_v1.tar.gz"
            ) from error
        return
    fs, path = fsspec.core.url_to_fs(source)
    if not fs.exists(path):
        raise FetchError(f"Source not found: {source}")
    with fs.open(path, "rb") as handle:
        yield handle, fs.size(path)


def download(source: str, target: Path, checksum: str | None, progress: bool = True) -> str:
    """Copy ``source`` to the local file ``target``, verifying its checksum.

    Returns
    -------
    str
        The ``sha256:<hex>`` of the file (logged, for pinning it next time).
    """
    hasher, expected = _hasher(checksum)
    sha256 = hashlib.sha256()
    with (
        _open_source(source) as (stream, size),
        target.open("wb") as out,
        tqdm(total=size, unit="B", unit_scale=True, desc="Downloading",
             disable=not progress) as progress_bar,
    ):
        while chunk := stream.read(CHUNK):
            out.write(chunk)
            sha256.update(chunk)
            if hasher is not None:
                hasher.update(chunk)
            progress_bar.update(len(chunk))
    if hasher is not None and hasher.hexdigest() != expected:
        raise FetchError(
            f"Checksum mismatch for {source}: expected {checksum}, got "
            f"{hasher.name}:{hasher.hexdigest()}. The file is corrupt or not the expected "
            "release; nothing was extracted."
        )
    return f"sha256:{sha256.hexdigest()}"


def extract(archive: Path, folder: Path, progress: bool = True) -> None:
    """Extract a tar archive safely (no absolute paths, links or ``..`` escapes)."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in tqdm(members, unit="file", desc="Extracting", disable=not progress):
                tar.extract(member, folder, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise FetchError(f"Could not extract {archive.name}: {error}") from error


def _tree_root(folder: Path) -> Path:
    """The folder holding train/ or test/: ``folder`` itself or its only subfolder."""
    if (folder / "train").is_dir() or (folder / "test").is_dir():
        return folder
    children = [child for child in folder.iterdir() if child.is_dir()]
    if len(children) == 1 and any((children[0] / s).is_dir() for s in ("train", "test")):
        return children[0]
    raise FetchError(
        f"The fetched data has no train/ or test/ folder (found: "
        f"{sorted(p.name for p in folder.iterdir())}); expected the IMDB layout."
    )


def _copy_folder(source: str, folder: Path) -> None:
    fs, path = fsspec.core.url_to_fs(source)
    if not fs.isdir(path):
        raise FetchError(f"Source not found: {source}")
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
        Replace an existing ``dest``.
    progress : bool
        Show progress bars.

    Returns
    -------
    Path
        ``dest``, holding ``train/`` and/or ``test/`` with ``pos/`` and ``neg/``.
    """
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()) and not force:
        LOGGER.info("%s already exists: skipped (force=True replaces it).", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source == "sample":
        # pylint: disable-next=import-outside-toplevel
        from ..sample_data import write_sample_tree

        staging = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            write_sample_tree(staging)
            _replace(staging, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return dest
    if source == "imdb":
        source, checksum = IMDB_URL, checksum or IMDB_CHECKSUM
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.tmp-") as tmp:
        work = Path(tmp)
        extracted = work / "extracted"
        extracted.mkdir()
        is_archive = source.endswith((".tar.gz", ".tgz", ".tar"))
        if is_archive:
            archive = work / "archive"
            digest = download(source, archive, checksum, progress)
            LOGGER.info("Downloaded %s (%s).", source, digest)
            extract(archive, extracted, progress)
        else:
            _copy_folder(source, extracted)
        _replace(_tree_root(extracted), dest)
    LOGGER.info("Raw data ready in %s", dest)
    return dest


def _replace(ready: Path, dest: Path) -> None:
    """Move a complete folder to ``dest``, replacing an old one only once it is ready."""
    retired = dest.parent / f".{dest.name}.old-{uuid.uuid4().hex[:8]}"
    if dest.exists():
        dest.rename(retired)
    ready.rename(dest)
    shutil.rmtree(retired, ignore_errors=True)
