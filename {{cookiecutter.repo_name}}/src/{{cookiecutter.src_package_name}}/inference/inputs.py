"""The inputs of a batch: a folder of ``.txt`` files, or a table with one text per row.

A folder (local or any fsspec URL, ``gs://bucket/reviews``) is walked lazily, one
directory at a time, in sorted order, so that a folder of a million files is never
held in memory as contents and two runs see the same order; each file is read by
the rules of data preparation (:mod:`..data_prep.review_files`), in the worker that
predicts it. A table (``.csv``, ``.parquet``, ``.jsonl``) is read whole; each row is
an item, with its ``inference.text_column`` and, when set, its ``inference.id_column``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import fsspec
from fsspec.implementations.local import LocalFileSystem

from ..data_prep.readers import TABLE_SUFFIXES, as_text, read_frame, require_columns
from ..data_prep.review_files import (
    ReviewFileError,
    decode_review,
    read_fs_review,
    read_local_review,
)
from ..data_prep.text import clean_text


class Item(NamedTuple):
    """One text to predict.

    Attributes
    ----------
    key : str
        Unique within the input (the file's path, or ``<table>:row <n>``): what resume
        and sharding go by.
    fields : dict
        Written into the item's record: ``filepath``, and for a table ``row`` and ``id``.
    text : str or None
        A table row's text; ``None`` for a file (read in the worker).
    """

    key: str
    fields: dict[str, Any]
    text: str | None = None


def record_key(record: dict[str, Any]) -> str:
    """The :attr:`Item.key` of a written record."""
    row = record.get("row")
    return record["filepath"] if row is None else f"{record['filepath']}:row {row}"


def table_format(url: str) -> str | None:
    """The table format a path's suffix names (``csv``, ``parquet``, ``jsonl``), else ``None``."""
    return next((fmt for fmt, suffixes in TABLE_SUFFIXES.items() if url.endswith(suffixes)), None)


@dataclass(frozen=True)
class InputFolder:
    """A folder of text files, local or remote.

    Attributes
    ----------
    url : str
        The folder as the user gave it.
    fs : fsspec.AbstractFileSystem
        The filesystem that holds it.
    root : str
        The folder's path within ``fs``.
    """

    url: str
    fs: Any
    root: str

    @classmethod
    def open(cls, url: str) -> InputFolder:
        """Resolve ``url`` to its filesystem; fail clearly when it is not a folder."""
        fs, root = fsspec.core.url_to_fs(url)
        if not fs.isdir(root):
            raise FileNotFoundError(
                f"inference.input_data_dir={url!r} is neither a folder nor a table file "
                f"({', '.join(s for suffixes in TABLE_SUFFIXES.values() for s in suffixes)})"
            )
        return cls(url, fs, root)

    @property
    def is_local(self) -> bool:
        """Whether the folder is on the local filesystem (read with plain ``open``)."""
        return isinstance(self.fs, LocalFileSystem)

    def iter_files(self, suffix: str) -> Iterator[tuple[str, str]]:
        """``(path, relative path)`` of every file ending in ``suffix``, depth first, sorted.

        The path is absolute for local files and a full URL for remote ones; the relative
        path (to the folder, with ``/`` separators) identifies the file for sharding.
        """
        local = self.is_local
        root = self.root.rstrip("/")  # (fsspec makes a local path absolute)
        walk = os.walk(root) if local else self.fs.walk(root)
        for dirpath, dirnames, filenames in walk:
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(suffix):
                    path = f"{dirpath.rstrip('/')}/{name}"
                    yield (path if local else self.fs.unstrip_protocol(path)), path[len(root) + 1 :]

    def read(self, path: str, max_bytes: int, refuse_outside_links: bool) -> str:
        """One file as one text (as decoded; the predictor cleans it).

        Raises
        ------
        ReviewFileError
            When the file is refused, cannot be read, is not UTF-8 or holds no text.
        """
        data = (read_local_review(path, self.root, max_bytes, refuse_outside_links)
                if self.is_local else read_fs_review(self.fs, path, max_bytes))
        return decode_review(data).text


def shard_of(key: str, num_shards: int) -> int:
    """The shard that owns an item: a stable hash of its key (relative path or row).

    The assignment does not depend on listing order, on which other items exist or
    on the Python process (unlike ``hash()``), so the pods of an Indexed Job split
    the input without overlap or gaps.

    Examples
    --------
    >>> shard_of("pos/1_9.txt", 1)
    0
    >>> shard_of("pos/1_9.txt", 4) == shard_of("pos/1_9.txt", 4)
    True
    """
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % num_shards


def table_items(url: str, text_column: str, id_column: str | None) -> Iterator[tuple[Item, str]]:
    """``(item, shard key)`` of each row of a table; rows are numbered from 1.

    The table is read and checked here, before a run writes anything; its rows are
    listed as they are used.

    Raises
    ------
    DataError
        When the table cannot be read or lacks a column.
    """
    frame = read_frame(url, table_format(url) or "")
    require_columns(url, frame, {"inference.text_column": text_column,
                                 "inference.id_column": id_column})
    return _rows(url, frame, text_column, id_column)


def _rows(url: str, frame: Any, text_column: str,
          id_column: str | None) -> Iterator[tuple[Item, str]]:
    ids = frame[id_column].tolist() if id_column else [None] * len(frame)
    for row, (text, identity) in enumerate(zip(frame[text_column], ids, strict=True), start=1):
        fields = {"filepath": url, "row": row, **({"id": identity} if id_column else {})}
        yield Item(f"{url}:row {row}", fields, as_text(text)), f"row {row}"


def check_text(text: str) -> str:
    """A table row's text as it is, when it holds text once cleaned (else ReviewFileError)."""
    if not clean_text(text):
        raise ReviewFileError("empty (no text after cleaning)")
    return text
