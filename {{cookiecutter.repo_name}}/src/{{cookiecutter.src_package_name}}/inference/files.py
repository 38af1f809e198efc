"""Finding, sharding and reading the review files of a batch.

Paths are listed lazily, one directory at a time, in sorted order, so that a
folder of a million files is never held in memory as contents, and two runs
over the same input see the same order. Local folders and any fsspec URL
(``gs://bucket/reviews``, ``memory://...``) are supported.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from ..data_prep.review_files import (
    DEFAULT_MAX_FILE_BYTES,
    ReviewFileError,
    decode_review,
    read_fs_review,
    read_local_review,
)

#: A file that cannot become a review (the reason is the message); the rule of data prep.
ReviewReadError = ReviewFileError


@dataclass(frozen=True)
class InputTree:
    """A folder of review files, local or remote.

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
    def open(cls, url: str) -> InputTree:
        """Resolve ``url`` to its filesystem; fail clearly when it is not a folder."""
        fs, root = fsspec.core.url_to_fs(url)
        if not fs.isdir(root):
            raise FileNotFoundError(f"inference.input_data_dir={url!r} is not a directory")
        return cls(url, fs, root)

    @property
    def is_local(self) -> bool:
        """Whether the folder is on the local filesystem (read with plain ``open``)."""
        return isinstance(self.fs, LocalFileSystem)

    def iter_files(self, suffix: str = ".txt") -> Iterator[tuple[str, str]]:
        """Yield ``(path, relative path)`` of every file ending in ``suffix``, sorted.

        Directories are walked depth first with their entries sorted by name. Only
        one directory listing is held at a time. The path is absolute for local
        files and a full URL for remote ones; the relative path (to the folder,
        with ``/`` separators) identifies the file for sharding.
        """
        if self.is_local:
            root = os.path.abspath(self.root)
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames.sort()
                for name in sorted(filenames):
                    if name.endswith(suffix):
                        path = os.path.join(dirpath, name)
                        yield path, os.path.relpath(path, root).replace(os.sep, "/")
            return
        root = self.root.rstrip("/")
        for dirpath, dirnames, filenames in self.fs.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(suffix):
                    path = f"{dirpath.rstrip('/')}/{name}"
                    yield self.fs.unstrip_protocol(path), path[len(root) + 1 :]

    def read_bytes(self, path: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
        """Raw bytes of one file given by a path from :meth:`iter_files`.

        Raises
        ------
        ReviewFileError
            For a link leading outside the folder, anything but a regular file, a
            file over ``max_bytes``, or a read error.
        """
        if self.is_local:
            return read_local_review(path, os.path.abspath(self.root), max_bytes)
        return read_fs_review(self.fs, path, max_bytes)


def shard_of(relative_path: str, num_shards: int) -> int:
    """The shard that owns a file: a stable hash of its relative path.

    The assignment does not depend on listing order, on which other files exist or
    on the Python process (unlike ``hash()``), so the pods of an Indexed Job split
    the input without overlap or gaps.

    Examples
    --------
    >>> shard_of("pos/1_9.txt", 1)
    0
    >>> shard_of("pos/1_9.txt", 4) == shard_of("pos/1_9.txt", 4)
    True
    """
    digest = hashlib.blake2b(relative_path.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % num_shards


def read_review(tree: InputTree, path: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> str:
    """Read one file as one review (the whole file, however many lines).

    The file is read and decoded by the same rules as in data preparation
    (:mod:`..data_prep.review_files`); the text is returned as decoded, for the
    predictor, which cleans it.

    Raises
    ------
    ReviewFileError
        When the file is refused, cannot be read, is not UTF-8 or holds no text.
    """
    return decode_review(tree.read_bytes(path, max_bytes)).text
