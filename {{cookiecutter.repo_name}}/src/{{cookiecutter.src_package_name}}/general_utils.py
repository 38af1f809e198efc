"""Helpers shared by every pipeline: the project's root, and replacing output folders safely."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from .configuration import UserError

#: Root of the repository when the package is installed in editable mode or run from a clone.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


#: File that marks a folder as written by one of this project's pipelines (and of which kind).
OWNER_MARKER = ".written-by-pipeline"
#: The kind of a raw review tree written by get_data (fetched or the shipped sample).
RAW_DATA_KIND = "raw-data"


class UnownedDestinationError(UserError, FileExistsError):
    """The destination exists, is not empty, and was not written by this pipeline."""


def _owner_kind(fs: Any, folder: str) -> str | None:
    """The kind recorded in ``folder``'s marker, or ``None`` when it has none."""
    try:
        record = json.loads(fs.cat_file(f"{folder}/{OWNER_MARKER}"))
    except (OSError, ValueError):
        return None
    return record.get("kind") if isinstance(record, dict) else None


def check_replaceable(destination: str | Path, kind: str) -> None:
    """Refuse a destination (a local path or an fsspec URL) that this pipeline may not replace.

    A destination may be replaced when it does not exist, is an empty folder, or
    holds the marker of a folder of the same ``kind`` written by this project.

    Raises
    ------
    UnownedDestinationError
        Naming the path, for anything else (a file, a link, or a folder of other data).
    """
    fs, path = fsspec.core.url_to_fs(str(destination))
    path = path.rstrip("/")
    link = isinstance(fs, LocalFileSystem) and os.path.islink(path)  # may lead anywhere
    if not link and (not fs.exists(path) or (fs.isdir(path) and (
            not fs.ls(path) or _owner_kind(fs, path) == kind))):
        return
    raise UnownedDestinationError(
        f"{destination} exists and was not written by this pipeline as a {kind} "
        f"(no {OWNER_MARKER} marker of that kind): refusing to replace it, nothing was "
        "deleted. Choose a new or empty folder, or remove this one yourself."
    )


def install_folder(ready: Path, destination: Path, kind: str) -> None:
    """Mark the complete folder ``ready`` and rename it to ``destination``.

    An existing destination is replaced only after :func:`check_replaceable` accepts
    it; if the final rename fails, the previous folder is put back.
    """
    check_replaceable(destination, kind)
    (ready / OWNER_MARKER).write_text(json.dumps({"kind": kind}) + "\n", encoding="utf-8")
    retired = destination.parent / f".{destination.name}.old-{uuid.uuid4().hex[:8]}"
    if destination.exists():
        destination.rename(retired)
    try:
        ready.rename(destination)
    except BaseException:
        if retired.exists():
            retired.rename(destination)  # put the previous folder back
        raise
    shutil.rmtree(retired, ignore_errors=True)
    fsync_dir(destination.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform allows it)."""
    with contextlib.suppress(OSError):  # e.g. no fsync of directories on this platform
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@contextmanager
def staged_folder(destination: str | Path, kind: str) -> Iterator[Path]:
    """Build a folder in staging and rename it into place only when complete.

    The one way every pipeline (processed dataset, local model, fetched raw data)
    replaces a folder. The destination is checked before any work starts and again
    before the swap: a folder this project did not write as a ``kind`` is refused
    (:class:`UnownedDestinationError`), never deleted.

    Parameters
    ----------
    destination : str or Path
        The final folder.
    kind : str
        What the folder holds (``dataset``, ``model``, ``raw-data``); recorded in the
        marker and required to match when replacing.

    Yields
    ------
    Path
        A sibling path that does not exist yet; the body creates and fills it.
        If the body raises, the staging path is removed and the destination is
        left as it was.
    """
    final = Path(destination).absolute()
    check_replaceable(final, kind)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        yield staging
        install_folder(staging, final, kind)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
