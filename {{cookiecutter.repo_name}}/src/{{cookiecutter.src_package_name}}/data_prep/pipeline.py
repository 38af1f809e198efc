"""The data preparation pipeline: raw review trees in, one processed dataset out."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from ..configuration import FrozenConfig
from ..general_utils import UnownedDestinationError
from .processed_dataset import REJECTS, build_manifest, check_destination, write_dataset
from .raw_trees import RawFile, Reject, is_local, list_raw_files, read_reviews
from .review_files import DEFAULT_MAX_FILE_BYTES

LOGGER = logging.getLogger(__name__)
#: Rejects shown in the log and in an error message.
SHOWN_REJECTS = 10


class TooManyRejectsError(RuntimeError):
    """The share of unusable raw files of a source folder passed the configured limit."""


class DataPrepConfig(FrozenConfig):
    """The ``data_prep`` section of ``conf/base/pipelines.yaml`` (validated by process_data.py)."""

    raw_dirs_paths: list[str] = Field(min_length=1)
    processed_data_path: str = Field(min_length=1)
    max_reject_fraction: float = Field(0.01, ge=0.0, le=1.0)
    max_file_bytes: int = Field(DEFAULT_MAX_FILE_BYTES, ge=1)
    n_jobs: int | None = Field(None, ge=1)
    parallel_min_files: int = Field(2000, ge=1)


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


def _check_not_over_inputs(raw_dirs_paths: Sequence[str], processed_data_path: str) -> None:
    """Refuse a destination that is, or contains, one of the input folders."""
    if not is_local(processed_data_path):
        return
    dest = Path(processed_data_path.removeprefix("file://")).resolve()
    for raw_dir in raw_dirs_paths:
        if is_local(raw_dir):
            source = Path(raw_dir.removeprefix("file://")).resolve()
            if source == dest or dest in source.parents:
                raise UnownedDestinationError(
                    f"data_prep.processed_data_path={processed_data_path} is or contains the "
                    f"input folder {raw_dir}: choose a folder of its own; nothing was written."
                )


def _check_reject_fractions(
    raw_dirs_paths: Sequence[str],
    files_by_source: dict[str, list[RawFile]],
    rejects: Sequence[Reject],
    max_reject_fraction: float,
) -> None:
    """Apply the reject limit to each source folder on its own.

    Over all sources together, a small folder that is entirely unusable would hide
    behind a large good one.
    """
    total = sum(len(files) for files in files_by_source.values())
    if rejects:
        LOGGER.warning(
            "%d of %d files rejected (%.2f%%):\n%s",
            len(rejects), total, 100 * len(rejects) / total, _describe_rejects(rejects),
        )
    for raw_dir in raw_dirs_paths:
        prefix = raw_dir.rstrip("/") + "/"
        own = [r for r in rejects if r.path.startswith(prefix)]
        seen = len(files_by_source[raw_dir])
        fraction = len(own) / seen
        if fraction > max_reject_fraction:
            raise TooManyRejectsError(
                f"{len(own)} of {seen} raw files ({100 * fraction:.2f}%) of {raw_dir} are "
                f"unusable, more than data_prep.max_reject_fraction={max_reject_fraction}. "
                "Nothing was written.\n" + _describe_rejects(own)
            )


def _check_labels_and_overlap(manifest: dict[str, Any]) -> None:
    """Refuse a train split without both labels; warn about duplicates and train/test overlap.

    Raises
    ------
    ValueError
        When the train split lacks positive or negative reviews (training would fail later).
    """
    train = manifest["counts"].get("train")
    if train is not None:
        for label, folder in (("positive", "pos"), ("negative", "neg")):
            if not train.get(label):
                raise ValueError(
                    f"The train split has no {label} review (no train/{folder}/*.txt in any "
                    "raw folder): a classifier needs both labels. Nothing was written."
                )
    if manifest["duplicate_texts"]:
        LOGGER.warning("%d review text(s) appear more than once.", manifest["duplicate_texts"])
    if manifest["train_test_overlap"]:
        LOGGER.warning(
            "%d test review(s) also in train: test metrics will look better than they are.",
            manifest["train_test_overlap"],
        )


def prepare_dataset(  # pylint: disable=too-many-arguments
    raw_dirs_paths: Sequence[str] | str,
    processed_data_path: str,
    max_reject_fraction: float = 0.01,
    n_jobs: int | None = None,
    parallel_min_files: int = 2000,
    progress: bool = True,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> DataPrepResult:
    """Clean and combine raw review trees into one processed dataset.

    Parameters
    ----------
    raw_dirs_paths : sequence of str, or str
        Raw trees in the IMDB layout (local folders or fsspec URLs), combined in
        order; a single string is one folder.
    processed_data_path : str
        Destination folder of the processed dataset. A dataset this pipeline wrote
        there is replaced; a folder holding anything else is refused before any work
        (:class:`~..general_utils.UnownedDestinationError`) and left untouched.
    max_reject_fraction : float
        Largest acceptable share of files rejected, per source folder (unreadable,
        not a regular file, too large, not UTF-8, empty). Above it nothing is
        written and :class:`TooManyRejectsError` is raised.
    n_jobs : int or None
        Worker processes for reading local files (``None``: every core).
    parallel_min_files : int
        Local inputs with fewer files are read in one process.
    progress : bool
        Show progress bars.
    max_file_bytes : int
        Larger raw files are rejects, never read whole.

    Returns
    -------
    DataPrepResult
    """
    if isinstance(raw_dirs_paths, str):  # one folder given without brackets
        raw_dirs_paths = [raw_dirs_paths]
    raw_dirs_paths = [str(d) for d in raw_dirs_paths]
    if not raw_dirs_paths:
        raise ValueError("raw_dirs_paths is empty: give at least one raw data folder")
    if not 0.0 <= max_reject_fraction <= 1.0:
        raise ValueError(f"max_reject_fraction must be within [0, 1], got {max_reject_fraction}")
    check_destination(processed_data_path)
    _check_not_over_inputs(raw_dirs_paths, processed_data_path)
    start = time.perf_counter()
    # A folder listed twice is read once (its reviews would otherwise count double).
    files_by_source = {
        raw_dir: list_raw_files(raw_dir) for raw_dir in dict.fromkeys(raw_dirs_paths)
    }
    files = [raw for source in files_by_source.values() for raw in source]
    LOGGER.info("Found %d review files in %d raw folder(s).", len(files), len(files_by_source))
    reviews, rejects = read_reviews(files, n_jobs, parallel_min_files, progress, max_file_bytes)
    _check_reject_fractions(list(files_by_source), files_by_source, rejects, max_reject_fraction)
    manifest = build_manifest(reviews, rejects, list(files_by_source), len(files))
    _check_labels_and_overlap(manifest)
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
