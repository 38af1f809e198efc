"""The results file of a batch run: complete under its final name, or not there at all.

Records are appended, one batch at a time (flushed, so a killed run keeps them), to
``<name>.partial``; when the run is complete the file gets its final name. A rerun
finds the partial file and continues it without predicting any item twice.

* Local output: ``<name>.partial`` beside the output, fsync'd and renamed into place.
* Output on an object store (``inference.output_dir=gs://...``): the partial file is
  kept in a sub-folder of ``inference.staging_dir`` named after the output URL (so a
  rerun on the same machine resumes it) and uploaded as the output when complete. An object appears
  whole or not at all, so the output never exists half-written; a run stopped on one
  machine starts over on another.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import IO, Any

import fsspec
from filelock import FileLock
from fsspec.implementations.local import LocalFileSystem

from ..general_utils import fsync_dir
from .inputs import record_key

PARTIAL_SUFFIX = ".partial"


class ResultsFile:
    """A JSON Lines results file at a local path or an fsspec URL.

    Parameters
    ----------
    url : str
        The final results file.
    staging_dir : str
        Local folder of the partial files of outputs on object stores.
    """

    def __init__(self, url: str, staging_dir: str) -> None:
        self.url = url
        self.fs, self.path = fsspec.core.url_to_fs(url)
        self.is_local = isinstance(self.fs, LocalFileSystem)
        if self.is_local:
            self.partial = Path(self.path + PARTIAL_SUFFIX)
        else:
            staging = Path(staging_dir) / hashlib.sha256(url.encode()).hexdigest()[:16]
            self.partial = staging / (Path(self.path).name + PARTIAL_SUFFIX)
        self._handle: IO[str] | None = None

    def lock(self) -> FileLock:
        """An exclusive lock (taken at once or refused) on writing this output on this machine."""
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(f"{self.partial}.lock", timeout=0)

    def is_complete(self) -> bool:
        """Whether the final file exists."""
        return bool(self.fs.exists(self.path))

    def written_by(self, final: bool) -> str | None:
        """The ``model_version`` of the first complete record of the final or partial file."""
        if not final and not self.partial.exists():
            return None
        with self.fs.open(self.path, "rb") if final else self.partial.open("rb") as handle:
            line = handle.readline()
        try:
            record = json.loads(line) if line.endswith(b"\n") else None
        except ValueError:
            return None
        return record.get("model_version") if isinstance(record, dict) else None

    def done_keys(self) -> set[str]:
        """Items already in the partial file; a torn last line is cut off."""
        done: set[str] = set()
        good_bytes = 0
        with self.partial.open("r+b") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    break
                if not line.endswith(b"\n"):
                    break
                done.add(record_key(record))
                good_bytes += len(line)
            handle.truncate(good_bytes)
        return done

    def open(self, append: bool) -> None:
        """Start writing the partial file (continuing it when ``append``)."""
        self._handle = self.partial.open("a" if append else "w", encoding="utf-8")

    def write(self, records: list[dict[str, Any]]) -> None:
        """Append one batch's records and flush them, so a killed run keeps them."""
        assert self._handle is not None
        self._handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        self._handle.flush()

    def commit(self) -> None:
        """Make the results durable, then give them their final name (or upload them)."""
        assert self._handle is not None
        os.fsync(self._handle.fileno())
        self._handle.close()
        if self.is_local:
            os.replace(self.partial, self.path)
            fsync_dir(Path(self.path).parent)  # the rename itself survives a power loss
            return
        self.fs.put_file(str(self.partial), self.path)
        shutil.rmtree(self.partial.parent)  # this output's own staging folder (partial, lock)

    def close(self) -> None:
        """Close without committing (the run was interrupted)."""
        if self._handle is not None and not self._handle.closed:
            self._handle.close()
