"""Read raw review trees in the IMDB layout: ``{train,test}/{pos,neg}/*.txt``.

Files are read and decoded by the rules of :mod:`.review_files`, shared with
batch inference. A file that is not a regular file inside its tree, is too
large, cannot be read, is not UTF-8 or holds no text after cleaning is not a
crash: it becomes a :class:`Reject` with its path and the reason, and the
caller decides whether the share of rejects is acceptable.

Local trees with many files are read by several processes; ``gs://`` and
other fsspec URLs are fetched in batches through fsspec.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import fsspec
from tqdm.auto import tqdm

from .review_files import (
    DEFAULT_MAX_FILE_BYTES,
    ReviewFileError,
    check_size,
    decode_review,
    read_local_review,
)

SPLITS = ("train", "test")
#: Folder name of each label; 1 = positive, 0 = negative (see modeling.predictor).
LABEL_DIRS = {"pos": 1, "neg": 0}
#: Files handed to a worker process at a time.
CHUNK_SIZE = 500


@dataclass(frozen=True)
class RawFile:
    """One review file to read."""

    path: str
    split: str
    label: int
    source: str
    protocol: str = "file"
    #: The tree the file was listed from (a local link may not lead outside it).
    root: str = ""


@dataclass(frozen=True)
class Review:
    """A cleaned review."""

    split: str
    label: int
    text: str
    source: str


@dataclass(frozen=True)
class Reject:
    """A file left out of the dataset, and why."""

    path: str
    reason: str


def is_local(path: str) -> bool:
    """Whether ``path`` is a plain local path (no URL scheme other than ``file://``)."""
    return "://" not in path or path.startswith("file://")


def list_raw_files(raw_dir: str) -> list[RawFile]:
    """List the review files of one raw tree.

    Parameters
    ----------
    raw_dir : str
        Local folder or fsspec URL holding ``train/`` and/or ``test/``, each with
        ``pos/`` and ``neg/`` folders of ``.txt`` files.

    Returns
    -------
    list of RawFile
        Sorted by path, so the dataset does not depend on listing order.

    Raises
    ------
    FileNotFoundError
        When the folder does not exist or holds no review in the IMDB layout.
    """
    fs, root = fsspec.core.url_to_fs(raw_dir)
    root = root.rstrip("/")
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if not fs.isdir(root):
        raise FileNotFoundError(f"Raw data folder not found: {raw_dir}")
    files: list[RawFile] = []
    for split in SPLITS:
        for label_dir, label in LABEL_DIRS.items():
            folder = f"{root}/{split}/{label_dir}"
            if not fs.isdir(folder):
                continue
            names = (
                sorted(entry.name for entry in os.scandir(folder) if entry.name.endswith(".txt"))
                if is_local(raw_dir)
                else sorted(p.rsplit("/", 1)[-1] for p in fs.glob(f"{folder}/*.txt"))
            )
            files.extend(
                RawFile(
                    path=f"{folder}/{name}",
                    split=split,
                    label=label,
                    source=f"{raw_dir.rstrip('/')}/{split}/{label_dir}/{name}",
                    protocol=protocol,
                    root=root,
                )
                for name in names
            )
    if not files:
        raise FileNotFoundError(
            f"No review found in {raw_dir}: expected the IMDB layout, train/ and/or "
            "test/ folders each holding pos/ and neg/ folders of .txt files"
        )
    return files


def _review(raw: RawFile, content: bytes) -> Review | Reject:
    """Decode and clean the bytes of one file, or say why it is rejected."""
    try:
        return Review(raw.split, raw.label, decode_review(content).cleaned, raw.source)
    except ReviewFileError as error:
        return Reject(raw.source, str(error))


def _read_local_chunk(
    chunk: Sequence[RawFile], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> list[Review | Reject]:
    """Read and clean local files (runs in a worker process)."""
    results: list[Review | Reject] = []
    for raw in chunk:
        try:
            content = read_local_review(raw.path, raw.root, max_file_bytes)
        except ReviewFileError as error:
            results.append(Reject(raw.source, str(error)))
            continue
        results.append(_review(raw, content))
    return results


def _read_remote_chunk(
    chunk: Sequence[RawFile], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> list[Review | Reject]:
    """Fetch and clean files through fsspec (one batched request per chunk, in this process)."""
    fs = fsspec.filesystem(chunk[0].protocol)
    contents = fs.cat([raw.path for raw in chunk], on_error="return")
    results: list[Review | Reject] = []
    for raw in chunk:
        content = contents.get(raw.path, FileNotFoundError(raw.path))
        if not isinstance(content, bytes):
            results.append(Reject(raw.source, f"unreadable ({content})"))
            continue
        try:
            results.append(_review(raw, check_size(content, max_file_bytes)))
        except ReviewFileError as error:
            results.append(Reject(raw.source, str(error)))
    return results


def _is_local_chunk(chunk: Sequence[RawFile]) -> bool:
    return chunk[0].protocol in ("file", "local")


def _read_chunk(
    chunk: Sequence[RawFile], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> list[Review | Reject]:
    """Read a chunk with the reader of its filesystem (every file of a chunk shares one)."""
    reader = _read_local_chunk if _is_local_chunk(chunk) else _read_remote_chunk
    return reader(chunk, max_file_bytes)


def _chunks(files: Sequence[RawFile], size: int) -> Iterator[Sequence[RawFile]]:
    """Runs of at most ``size`` consecutive files of one filesystem (raw folders may mix them)."""
    for _, same_fs in itertools.groupby(files, key=lambda raw: raw.protocol):
        group = list(same_fs)
        for start in range(0, len(group), size):
            yield group[start : start + size]


def read_reviews(
    files: Sequence[RawFile],
    n_jobs: int | None = None,
    parallel_min_files: int = 2000,
    progress: bool = True,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> tuple[list[Review], list[Reject]]:
    """Read, decode and clean review files.

    Parameters
    ----------
    files : sequence of RawFile
        Files from :func:`list_raw_files`.
    n_jobs : int or None
        Worker processes for local files; ``None`` uses every core.
    parallel_min_files : int
        Below this many local files one process is faster than starting workers.
    progress : bool
        Show a tqdm progress bar (files read).
    max_file_bytes : int
        Larger files are rejects (never read whole).

    Returns
    -------
    reviews, rejects : list of Review, list of Reject
        In the order of ``files``.
    """
    reviews: list[Review] = []
    rejects: list[Reject] = []
    if not files:
        return reviews, rejects
    workers = n_jobs or os.cpu_count() or 1
    reader = functools.partial(_read_chunk, max_file_bytes=max_file_bytes)
    chunks = list(_chunks(files, CHUNK_SIZE))
    local_files = sum(len(chunk) for chunk in chunks if _is_local_chunk(chunk))
    parallel = workers > 1 and local_files >= parallel_min_files
    progress_bar = tqdm(total=len(files), unit="file", desc="Reading reviews", disable=not progress)
    with progress_bar, ProcessPoolExecutor(workers) if parallel else nullcontext() as pool:
        # Local chunks go to the worker processes; remote ones are fetched in this process.
        futures = [
            pool.submit(reader, chunk) if pool and _is_local_chunk(chunk) else None
            for chunk in chunks
        ]
        for chunk, future in zip(chunks, futures, strict=True):
            _collect(future.result() if future else reader(chunk), reviews, rejects)
            progress_bar.update(len(chunk))
    return reviews, rejects


def _collect(results: list[Review | Reject], reviews: list[Review], rejects: list[Reject]) -> None:
    for item in results:
        (reviews if isinstance(item, Review) else rejects).append(item)
