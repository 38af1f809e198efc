"""Helpers shared by every pipeline: logging set-up, project paths, and replacing output folders."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import yaml

LOGGER = logging.getLogger(__name__)

#: Root of the repository when the package is installed in editable mode or run from a clone.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: The logging configuration that ships with the project.
DEFAULT_LOGGING_CONFIG = PROJECT_ROOT / "conf" / "base" / "logging.yaml"


def setup_logging(
    config_path: str | Path = DEFAULT_LOGGING_CONFIG,
    default_level: int = logging.INFO,
) -> None:
    """Configure logging from a YAML ``dictConfig`` file.

    Parameters
    ----------
    config_path : str or Path
        YAML file in :func:`logging.config.dictConfig` format.
    default_level : int
        Level for a plain ``basicConfig`` when the file is missing or invalid.

    Notes
    -----
    A missing or broken file never stops a pipeline: logging falls back to
    ``basicConfig`` and the cause is logged as a warning.
    """
    path = Path(config_path)
    try:
        with path.open(encoding="utf-8") as handle:
            config: dict[str, Any] = yaml.safe_load(handle)
        logging.config.dictConfig(config)
    except (OSError, yaml.YAMLError, ValueError, TypeError) as error:
        logging.basicConfig(
            level=default_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        LOGGER.warning("Logging config %s not used (%s); using basic logging.", path, error)


def flush_handlers(logger: logging.Logger) -> None:
    """Flush every handler that the logger's records reach (its own, then its parents')."""
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            handler.flush()
        current = current.parent if current.propagate else None


class BufferedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes its lines in batches, each within ``interval`` seconds.

    One ``write`` system call per log line costs a busy API as much CPU as its
    routing; batching the per-request lines removes most of it. A batch is written
    once it holds ``capacity`` lines, at most ``interval`` seconds after its first
    line, at once for a record at ``flush_level`` or above, and when logging shuts
    down (normal exit). A process killed outright loses at most ``interval`` seconds
    of lines.

    Parameters
    ----------
    stream : TextIO, optional
        Where lines go; ``sys.stderr`` by default.
    capacity : int
        Lines held before a write.
    interval : float
        Longest time, in seconds, a line waits.
    flush_level : int
        Records at this level or above are written at once, with the lines before them.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        capacity: int = 256,
        interval: float = 1.0,
        flush_level: int = logging.WARNING,
    ) -> None:
        super().__init__(stream)
        self.capacity = capacity
        self.interval = interval
        self.flush_level = flush_level
        self._lines: list[str] = []
        self._timer: threading.Timer | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the formatted record; write the batch when it is due."""
        try:
            self._lines.append(self.format(record) + self.terminator)
        except Exception:  # pylint: disable=broad-exception-caught
            self.handleError(record)  # as logging.StreamHandler does
            return
        if len(self._lines) >= self.capacity or record.levelno >= self.flush_level:
            try:
                self.flush()
            except Exception:  # pylint: disable=broad-exception-caught
                self.handleError(record)
        elif self._timer is None or not self._timer.is_alive():  # none, or lost in a fork
            self._timer = threading.Timer(self.interval, self.flush)
            self._timer.daemon = True
            self._timer.start()

    def flush(self) -> None:
        """Write the held lines, in one call, and flush the stream."""
        with self.lock:  # type: ignore[union-attr]
            if self._timer is not None and self._timer is not threading.current_thread():
                self._timer.cancel()
            self._timer = None
            if self._lines and self.stream and hasattr(self.stream, "write"):
                text = "".join(self._lines)
                self._lines.clear()
                self.stream.write(text)
            super().flush()


#: File that marks a folder as written by one of this project's pipelines (and of which kind).
OWNER_MARKER = ".written-by-pipeline"
#: The kind of a raw review tree written by get_data (fetched or the shipped sample).
RAW_DATA_KIND = "raw-data"


class UnownedDestinationError(FileExistsError):
    """The destination exists, is not empty, and was not written by this pipeline."""


def _owner_kind(folder: Path) -> str | None:
    """The kind recorded in ``folder``'s marker, or ``None`` when it has none."""
    try:
        record = json.loads((folder / OWNER_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kind = record.get("kind") if isinstance(record, dict) else None
    return kind if isinstance(kind, str) else None


def check_replaceable(destination: Path, kind: str) -> None:
    """Refuse a destination that this pipeline may not replace.

    A destination may be replaced when it does not exist, is an empty folder, or
    holds the marker of a folder of the same ``kind`` written by this project.

    Raises
    ------
    UnownedDestinationError
        Naming the path, for anything else (a file, or a folder of other data).
    """
    if not destination.exists() and not destination.is_symlink():
        return
    if (
        destination.is_dir()
        and not destination.is_symlink()
        and (not any(destination.iterdir()) or _owner_kind(destination) == kind)
    ):
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
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # not supported for directories on this platform
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
