"""Readers of raw data, chosen by ``data_prep.source_format``: folder trees or tables.

* ``tree``: ``<folder>/{train,test}/<label>/*.txt``, one text per file; the label is
  the folder's name, so any set of labels works (IMDB: ``pos`` and ``neg``). Files are
  read by the rules of :mod:`.review_files`, shared with batch inference.
* ``csv``, ``parquet``, ``jsonl``: a file, or a folder of such files, with a text
  column and a label column (``data_prep.text_column``, ``data_prep.label_column``);
  the split comes from ``data_prep.split_column`` (``train`` or ``test``) or, without
  one, from a seeded hash of the text (``data_prep.test_fraction``), so a row keeps its
  split when rows are added or reordered.

A file or row that cannot become a text (unreadable, not a regular file, too large,
not UTF-8, no text or no label) is not a crash: it becomes a :class:`Reject` with its
path and the reason. A table that cannot be used at all (unreadable, a column
missing, no rows, a split value other than train/test) is a :class:`DataError` naming
the file, and the row and column where there is one. Local trees with many files are
read by several processes; ``gs://`` and other fsspec URLs are fetched in batches.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, NamedTuple

import fsspec
import pandas as pd
from fsspec.implementations.local import LocalFileSystem
from tqdm.auto import tqdm

from ..configuration import UserError
from .config import DataPrepConfig
from .review_files import ReviewFileError, check_size, decode_review, read_local_review
from .text import clean_text

SPLITS = ("train", "test")
#: Files handed to a worker process (or fetched in one request) at a time.
CHUNK_SIZE = 500
TABLE_SUFFIXES = {"csv": (".csv",), "parquet": (".parquet", ".pq"), "jsonl": (".jsonl", ".json")}


class Record(NamedTuple):
    """One cleaned, labelled text."""

    split: str
    label: str
    text: str
    source: str


class Reject(NamedTuple):
    """A file or row left out of the dataset, and why."""

    path: str
    reason: str


class DataError(UserError):
    """Raw data that cannot become a dataset; the message names the file, row and column."""


class Source(NamedTuple):
    """What one raw folder or file gave: its records, its rejects, how many items it held."""

    records: list[Record]
    rejects: list[Reject]
    seen: int


def is_local(path: str) -> bool:
    """Whether ``path`` is a plain local path (no URL scheme other than ``file://``)."""
    return "://" not in path or path.startswith("file://")


def read_source(raw: str, cfg: DataPrepConfig, progress: bool = True) -> Source:
    """Read one entry of ``data_prep.raw_dirs_paths`` with the configured reader."""
    if cfg.source_format == "tree":
        return _read_tree(raw, cfg, progress)
    tables = [table_records(url, read_table(url, cfg), cfg)
              for url in list_tables(raw, cfg.source_format)]
    return Source([record for table in tables for record in table.records],
                  [reject for table in tables for reject in table.rejects],
                  sum(table.seen for table in tables))


# ---- trees ---------------------------------------------------------------------------------


class _File(NamedTuple):
    path: str
    split: str
    label: str
    source: str


def _subfolders(fs: Any, folder: str) -> list[str]:
    if isinstance(fs, LocalFileSystem):
        return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    return sorted(info["name"].rstrip("/").rsplit("/", 1)[-1]
                  for info in fs.ls(folder, detail=True) if info["type"] == "directory")


def _text_files(fs: Any, folder: str) -> list[str]:
    if isinstance(fs, LocalFileSystem):
        return sorted(entry.name for entry in os.scandir(folder) if entry.name.endswith(".txt"))
    return sorted(path.rsplit("/", 1)[-1] for path in fs.glob(f"{folder}/*.txt"))


def list_tree(raw_dir: str, label_names: dict[str, str]) -> tuple[Any, str, list[_File]]:
    """The filesystem, root and files (sorted) of one tree.

    Raises
    ------
    FileNotFoundError
        When the folder does not exist or holds no ``{train,test}/<label>/*.txt``.
    """
    fs, root = fsspec.core.url_to_fs(raw_dir)
    root = root.rstrip("/")
    if not fs.isdir(root):
        raise FileNotFoundError(f"Raw data folder not found: {raw_dir}")
    files = []
    for split in SPLITS:
        if not fs.isdir(f"{root}/{split}"):
            continue
        for folder in _subfolders(fs, f"{root}/{split}"):
            label = label_names.get(folder, folder)
            files += [_File(f"{root}/{split}/{folder}/{name}", split, label,
                            f"{raw_dir.rstrip('/')}/{split}/{folder}/{name}")
                      for name in _text_files(fs, f"{root}/{split}/{folder}")]
    if not files:
        raise FileNotFoundError(
            f"No text found in {raw_dir}: expected train/ and/or test/ folders each holding "
            "one folder of .txt files per label (data_prep.source_format=tree)"
        )
    return fs, root, files


def _record(file: _File, read: Callable[..., bytes], *args: Any) -> Record | Reject:
    """The file's record from the bytes ``read(*args)`` gives, or its reject."""
    try:
        return Record(file.split, file.label, decode_review(read(*args)).cleaned, file.source)
    except ReviewFileError as error:
        return Reject(file.source, str(error))


def _read_local_chunk(
    chunk: Sequence[_File], root: str, max_bytes: int, refuse_outside_links: bool
) -> list[Record | Reject]:
    """Read and clean local files (runs in a worker process)."""
    return [_record(file, read_local_review, file.path, root, max_bytes, refuse_outside_links)
            for file in chunk]


def _fetched(content: bytes | Exception, max_bytes: int) -> bytes:
    """A file's bytes from a batched fetch, which gives the error for a file it could not read."""
    if not isinstance(content, bytes):
        raise ReviewFileError(f"unreadable ({content})")
    return check_size(content, max_bytes)


def _read_remote_chunk(fs: Any, chunk: Sequence[_File], max_bytes: int) -> list[Record | Reject]:
    """Fetch and clean files through fsspec (one batched request per chunk)."""
    contents = fs.cat([file.path for file in chunk], on_error="return")
    return [_record(file, _fetched, contents.get(file.path, FileNotFoundError(file.path)),
                    max_bytes) for file in chunk]


def _read_tree(raw_dir: str, cfg: DataPrepConfig, progress: bool) -> Source:
    fs, root, files = list_tree(raw_dir, cfg.label_names)
    local = isinstance(fs, LocalFileSystem)
    reader = (
        functools.partial(_read_local_chunk, root=root, max_bytes=cfg.max_file_bytes,
                          refuse_outside_links=cfg.refuse_outside_links)
        if local else functools.partial(_read_remote_chunk, fs, max_bytes=cfg.max_file_bytes)
    )
    chunks = [files[start : start + CHUNK_SIZE] for start in range(0, len(files), CHUNK_SIZE)]
    workers = cfg.n_jobs or os.cpu_count() or 1
    parallel = local and workers > 1 and len(files) >= cfg.parallel_min_files
    source = Source([], [], len(files))
    with (ProcessPoolExecutor(workers) if parallel else contextlib.nullcontext()) as pool, \
            tqdm(total=len(files), unit="file", desc=f"Reading {raw_dir}",
                 disable=not progress) as bar:
        for chunk in (pool.map if pool else map)(reader, chunks):
            for item in chunk:
                (source.records if isinstance(item, Record) else source.rejects).append(item)
            bar.update(len(chunk))
    return source


# ---- tables --------------------------------------------------------------------------------


def list_tables(raw: str, source_format: str) -> list[str]:
    """``raw`` itself when it is a file, else the files of the format in the folder, sorted.

    Raises
    ------
    FileNotFoundError
        When ``raw`` does not exist or is a folder without such files.
    """
    fs, path = fsspec.core.url_to_fs(raw)
    if fs.isfile(path):
        return [raw]
    suffixes = TABLE_SUFFIXES[source_format]
    if fs.isdir(path):
        found = sorted(p for p in fs.find(path) if p.endswith(suffixes))
        if found:
            return [p if is_local(raw) else fs.unstrip_protocol(p) for p in found]
    raise FileNotFoundError(
        f"No {source_format} file found at {raw} (a file, or a folder of "
        f"{'/'.join(suffixes)} files; data_prep.source_format={source_format})"
    )


def read_frame(url: str, source_format: str) -> pd.DataFrame:
    """A table file as read, every CSV value as text.

    Raises
    ------
    DataError
        When the file cannot be read in ``source_format`` (csv, parquet, jsonl).
    """
    readers = {
        "csv": functools.partial(pd.read_csv, dtype=str, keep_default_na=False),
        "parquet": pd.read_parquet,
        "jsonl": functools.partial(pd.read_json, lines=True, dtype=False),
    }
    try:
        with fsspec.open(url, "rb") as handle:
            return readers[source_format](handle)
    except Exception as error:  # pylint: disable=broad-exception-caught
        # pandas, pyarrow and fsspec backends raise many types for an unreadable file.
        raise DataError(f"{url}: cannot be read as {source_format} "
                        f"({type(error).__name__}: {error})") from None


def require_columns(url: str, frame: pd.DataFrame, columns: dict[str, str | None]) -> None:
    """Raise a DataError naming the first of ``columns`` (setting: column) the table lacks."""
    for setting, column in columns.items():
        if column is not None and column not in frame.columns:
            raise DataError(f"{url}: no column {column!r} ({setting}); its columns are "
                            f"{list(map(str, frame.columns))}")


def read_table(url: str, cfg: DataPrepConfig) -> pd.DataFrame:
    """A table with its text, label and (if configured) split columns.

    Raises
    ------
    DataError
        When the file cannot be read in the configured format, lacks a column or has no rows.
    """
    frame = read_frame(url, cfg.source_format)
    require_columns(url, frame, {f"data_prep.{key}": getattr(cfg, key)
                                 for key in ("text_column", "label_column", "split_column")})
    if frame.empty:
        raise DataError(f"{url}: the table has no rows")
    return frame


def as_text(value: Any) -> str:
    """A cell as text: ``""`` for a missing value (None, NaN)."""
    if value is None or (isinstance(value, float) and value != value):  # NaN
        return ""
    return str(value)


def hash_split(text: str, seed: int, test_fraction: float) -> str:
    """``test`` for a stable, seeded ``test_fraction`` of texts, else ``train``."""
    digest = hashlib.blake2b(f"{seed}\0{text}".encode(), digest_size=8).digest()
    return "test" if int.from_bytes(digest, "big") < test_fraction * 2**64 else "train"


def table_records(url: str, frame: pd.DataFrame, cfg: DataPrepConfig) -> Source:
    """The records of a table's rows; rows without text or label are rejects.

    Raises
    ------
    DataError
        For a split value other than ``train`` or ``test``.
    """
    splits = frame[cfg.split_column] if cfg.split_column else [None] * len(frame)
    records: list[Record] = []
    rejects: list[Reject] = []
    for row, (text, label, split) in enumerate(
        zip(frame[cfg.text_column], frame[cfg.label_column], splits, strict=True), start=1
    ):
        where, label = f"{url}:row {row}", as_text(label).strip()
        cleaned = clean_text(as_text(text))
        if split is not None and as_text(split).strip() not in SPLITS:
            raise DataError(f"{where}, column {cfg.split_column!r}: {split!r} is neither "
                            "'train' nor 'test' (data_prep.split_column)")
        if not cleaned or not label:
            rejects.append(Reject(where, "empty (no text after cleaning)" if not cleaned
                                  else f"no label (column {cfg.label_column!r})"))
            continue
        split = as_text(split).strip() if split is not None else hash_split(
            cleaned, cfg.split_seed, cfg.test_fraction)
        records.append(Record(split, cfg.label_names.get(label, label), cleaned, where))
    return Source(records, rejects, len(frame))
