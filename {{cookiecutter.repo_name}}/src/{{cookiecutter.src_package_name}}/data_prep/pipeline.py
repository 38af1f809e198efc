"""The data preparation pipeline: raw review trees in, one processed dataset out."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .processed_dataset import REJECTS, build_manifest, write_dataset
from .raw_trees import Reject, list_raw_files, read_reviews

LOGGER = logging.getLogger(__name__)
#: Rejects shown in the log and in an error message.
SHOWN_REJECTS = 10


class TooManyRejectsError(RuntimeError):
    """The share of unusable raw files passed the configured limit."""


@dataclass(frozen=True)
class DataPrepResult:
    """What a data preparation run produced."""

    processed_data_path: str
    manifest: dict[str, Any]
    rejects: list[Reject]
    seconds: float

    @property
    def files_per_second(self) -> float:
        """Raw files handled per second of wall time."""
        return self.manifest["files_seen"] / self.seconds if self.seconds > 0 else float("inf")


def _describe_rejects(rejects: Sequence[Reject]) -> str:
    lines = [f"  {r.path}: {r.reason}" for r in rejects[:SHOWN_REJECTS]]
    if len(rejects) > SHOWN_REJECTS:
        lines.append(f"  ... and {len(rejects) - SHOWN_REJECTS} more")
    return "\n".join(lines)


def prepare_dataset(
    raw_dirs_paths: Sequence[str] | str,
    processed_data_path: str,
    max_reject_fraction: float = 0.01,
    n_jobs: int | None = None,
    parallel_min_files: int = 2000,
    progress: bool = True,
) -> DataPrepResult:
    """Clean and combine raw review trees into one processed dataset.

    Parameters
    ----------
    raw_dirs_paths : sequence of str, or str
        Raw trees in the IMDB layout (local folders or fsspec URLs), combined in
        order; a single string is one folder.
    processed_data_path : str
        Destination folder of the processed dataset; an existing one is replaced.
    max_reject_fraction : float
        Largest acceptable share of files rejected (unreadable, not UTF-8, empty).
        Above it nothing is written and :class:`TooManyRejectsError` is raised.
    n_jobs : int or None
        Worker processes for reading local files (``None``: every core).
    parallel_min_files : int
        Local inputs with fewer files are read in one process.
    progress : bool
        Show progress bars.

    Returns
    -------
    DataPrepResult
    """
    if isinstance(raw_dirs_paths, str):  # one folder given without brackets
        raw_dirs_paths = [raw_dirs_paths]
    if not raw_dirs_paths:
        raise ValueError("raw_dirs_paths is empty: give at least one raw data folder")
    if not 0.0 <= max_reject_fraction <= 1.0:
        raise ValueError(f"max_reject_fraction must be within [0, 1], got {max_reject_fraction}")
    start = time.perf_counter()
    files = [raw for raw_dir in raw_dirs_paths for raw in list_raw_files(str(raw_dir))]
    LOGGER.info("Found %d review files in %d raw folder(s).", len(files), len(raw_dirs_paths))
    reviews, rejects = read_reviews(files, n_jobs, parallel_min_files, progress)
    fraction = len(rejects) / len(files)
    if rejects:
        LOGGER.warning(
            "%d of %d files rejected (%.2f%%):\n%s",
            len(rejects), len(files), 100 * fraction, _describe_rejects(rejects),
        )
    if fraction > max_reject_fraction:
        raise TooManyRejectsError(
            f"{len(rejects)} of {len(files)} raw files ({100 * fraction:.2f}%) are unusable, "
            f"more than data_prep.max_reject_fraction={max_reject_fraction}. Nothing was written.\n"
            + _describe_rejects(rejects)
        )
    manifest = build_manifest(reviews, rejects, [str(d) for d in raw_dirs_paths], len(files))
    write_dataset(processed_data_path, reviews, rejects, manifest)
    return DataPrepResult(processed_data_path, manifest, rejects, time.perf_counter() - start)


def summarise(result: DataPrepResult) -> str:
    """A closing summary for the log."""
    counts = ", ".join(
        f"{split}: {c['total']} ({c.get('positive', 0)} pos / {c.get('negative', 0)} neg)"
        for split, c in result.manifest["counts"].items()
    )
    return (
        f"Processed {result.manifest['files_seen']} files in {result.seconds:.1f} s "
        f"({result.files_per_second:,.0f} files/s). {counts}. "
        f"Rejected: {len(result.rejects)} (listed in {REJECTS}). "
        f"Content hash {result.manifest['content_sha256'][:12]}. "
        f"Dataset: {result.processed_data_path}"
    )
