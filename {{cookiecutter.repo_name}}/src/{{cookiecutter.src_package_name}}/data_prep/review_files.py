"""Reading and decoding one text file: the one rule for data preparation and batch inference.

Both pipelines read a text file the same way, so the model is trained on text
decoded exactly as it is served:

* a local file is read only if it is a regular file: a FIFO, a device or a socket
  is refused without being read (and opening one never blocks). Symbolic links are
  followed, as DVC's link cache and folders assembled with ``ln -s`` need; with
  ``refuse_outside_links`` a link leading outside the input folder is refused
  without being followed (for shared machines);
* at most ``max_bytes`` are read; a larger file is refused with its size;
* the bytes must be UTF-8 (a byte-order mark is dropped) and hold some text once
  cleaned with :func:`.text.clean_text` (a markup-only file is refused).

Every refusal is a :class:`ReviewFileError` whose message is the reason recorded
for the file (a reject in data preparation, an error record in batch inference).
"""

from __future__ import annotations

import os
import stat
from typing import Any, NamedTuple

from ..configuration import UserError
from .text import clean_text

#: What a file that is not a regular one is, by the file type letter of ``stat.filemode``.
_KINDS = {"d": "a directory", "p": "a FIFO", "c": "a character device", "b": "a block device",
          "s": "a socket"}


class ReviewFileError(UserError):
    """A file that cannot become a review; the message is the reason."""


class DecodedReview(NamedTuple):
    """A review's text as decoded (what the predictor takes) and as cleaned (what is stored)."""

    text: str
    cleaned: str


def _too_large(size: int, max_bytes: int) -> ReviewFileError:
    return ReviewFileError(f"larger than max_file_bytes={max_bytes} ({size} bytes)")


def read_local_review(
    path: str, root: str, max_bytes: int, refuse_outside_links: bool = False
) -> bytes:
    """The bytes of a local text file, read safely.

    ``root`` is the input folder the file was listed from; with ``refuse_outside_links``
    a symbolic link whose target is outside it is refused (else links are followed).

    Raises
    ------
    ReviewFileError
        For a refused link, anything but a regular file, a file over ``max_bytes`` or an
        OS error.
    """
    # O_NONBLOCK: opening a FIFO must not wait for a writer.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    try:
        if refuse_outside_links and stat.S_ISLNK(os.lstat(path).st_mode):
            path = os.path.realpath(path)
            root = os.path.realpath(root)
            if os.path.commonpath([path, root]) != root:
                raise ReviewFileError(
                    "symbolic link leading outside the input folder (not followed: "
                    "refuse_outside_links is true)"
                )
            flags |= getattr(os, "O_NOFOLLOW", 0)  # no link swapped in meanwhile
        with os.fdopen(os.open(path, flags), "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                kind = _KINDS.get(stat.filemode(info.st_mode)[0], "special")
                raise ReviewFileError(f"not a regular file ({kind}; not read)")
            if info.st_size > max_bytes:
                raise _too_large(info.st_size, max_bytes)
            data = handle.read(max_bytes + 1)
    except OSError as error:  # (a ReviewFileError is not one: it passes)
        raise ReviewFileError(f"unreadable ({error.strerror or error})") from None
    return check_size(data, max_bytes)


def read_fs_review(fs: Any, path: str, max_bytes: int) -> bytes:
    """The bytes of a review file on an fsspec filesystem, reading at most ``max_bytes + 1``.

    Raises
    ------
    ReviewFileError
        For a file over ``max_bytes`` or any read error.
    """
    try:
        with fs.open(path, "rb") as handle:
            data: bytes = handle.read(max_bytes + 1)
    except Exception as error:  # pylint: disable=broad-exception-caught
        # fsspec backends raise their own types (aiohttp, google.api_core, ...).
        raise ReviewFileError(f"unreadable ({type(error).__name__}: {error})") from None
    if len(data) > max_bytes:
        raise _too_large(fs.size(path) or len(data), max_bytes)
    return data


def check_size(data: bytes, max_bytes: int) -> bytes:
    """Refuse bytes already fetched (e.g. in a batched request) when over ``max_bytes``."""
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes)
    return data


def decode_review(data: bytes) -> DecodedReview:
    """Decode the bytes of one review file.

    Raises
    ------
    ReviewFileError
        When the bytes are not UTF-8 or hold no text once cleaned.

    Examples
    --------
    >>> decode_review("\\ufeffGreat<br />film".encode())
    DecodedReview(text='Great<br />film', cleaned='Great film')
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ReviewFileError(f"not UTF-8 ({error.reason} at byte {error.start})") from None
    cleaned = clean_text(text)
    if not cleaned:
        raise ReviewFileError("empty (no text after cleaning)")
    return DecodedReview(text, cleaned)
