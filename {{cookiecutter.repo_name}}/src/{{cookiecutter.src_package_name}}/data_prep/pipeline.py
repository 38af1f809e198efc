"""The data preparation pipeline: raw trees or tables in, one processed dataset out."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ..general_utils import UnownedDestinationError, check_replaceable
from .config import DataPrepConfig
from .processed_dataset import DATASET_KIND, REJECTS, build_manifest, write_dataset
from .readers import DataError, Record, Reject, is_local, read_source

LOGGER = logging.getLogger(__name__)
#: Rejects shown in the log and in an error message.
SHOWN_REJECTS = 10


class TooManyRejectsError(DataError):
    """The share of unusable raw items of a source passed the configured limit."""


class DataPrepResult(NamedTuple):
    """What a data preparation run produced."""

    processed_data_path: str
    manifest: dict[str, Any]
    rejects: list[Reject]
    seconds: float


def _describe_rejects(rejects: Sequence[Reject]) -> str:
    lines = [f"  {r.path}: {r.reason}" for r in rejects[:SHOWN_REJECTS]]
    if len(rejects) > SHOWN_REJECTS:
        lines.append(f"  ... and {len(rejects) - SHOWN_REJECTS} more")
    return "\n".join(lines)


def _check_not_over_inputs(cfg: DataPrepConfig) -> None:
    """Refuse a destination that is, or contains, one of the inputs."""
    if not is_local(cfg.processed_data_path):
        return
    dest = Path(cfg.processed_data_path.removeprefix("file://")).resolve()
    for raw in filter(is_local, cfg.raw_dirs_paths):
        source = Path(raw.removeprefix("file://")).resolve()
        if source == dest or dest in source.parents:
            raise UnownedDestinationError(
                f"data_prep.processed_data_path={cfg.processed_data_path} is or contains the "
                f"input {raw}: choose a folder of its own; nothing was written."
            )


def _check_reject_fraction(raw: str, rejects: Sequence[Reject], seen: int, limit: float) -> None:
    """Apply the reject limit to one source on its own (a small, entirely unusable folder
    would hide behind a large good one over all sources together)."""
    if rejects:
        LOGGER.warning("%d of %d items of %s rejected:\n%s", len(rejects), seen, raw,
                       _describe_rejects(rejects))
    if seen and len(rejects) / seen > limit:
        raise TooManyRejectsError(
            f"{len(rejects)} of {seen} raw items ({100 * len(rejects) / seen:.2f}%) of {raw} "
            f"are unusable, more than data_prep.max_reject_fraction={limit}. "
            "Nothing was written.\n" + _describe_rejects(rejects)
        )


def _check_labels(manifest: dict[str, Any]) -> None:
    """Refuse a train split with fewer than two labels, or test labels that train lacks.

    Also warns about duplicate texts and texts in both train and test.
    """
    counts = manifest["counts"]
    train = [label for label in counts.get("train", {}) if label != "total"]
    if len(train) < 2:
        raise DataError(
            f"The train split has {len(train)} label(s) {train}: a classifier needs two or "
            "more (a tree needs one folder per label under train/; a table, two or more "
            "values in its label column). Nothing was written."
        )
    unknown = sorted(set(counts.get("test", {})) - set(train) - {"total"})
    if unknown:
        raise DataError(f"The test split has labels that train lacks: {unknown}. "
                        "Nothing was written.")
    if manifest["duplicate_texts"]:
        LOGGER.warning("%d text(s) appear more than once.", manifest["duplicate_texts"])
    if manifest["train_test_overlap"]:
        LOGGER.warning(
            "%d test text(s) also in train: test metrics will look better than they are.",
            manifest["train_test_overlap"],
        )


def prepare_dataset(cfg: DataPrepConfig, progress: bool = True) -> DataPrepResult:
    """Clean and combine the raw sources into one processed dataset.

    Parameters
    ----------
    cfg : DataPrepConfig
        The validated ``data_prep`` section. A dataset this pipeline wrote at
        ``processed_data_path`` is replaced; a folder holding anything else is refused
        before any work (:class:`~..general_utils.UnownedDestinationError`). Above
        ``max_reject_fraction`` of rejects in one source, nothing is written
        (:class:`TooManyRejectsError`).
    progress : bool
        Show progress bars.

    Returns
    -------
    DataPrepResult
    """
    check_replaceable(cfg.processed_data_path, DATASET_KIND)
    _check_not_over_inputs(cfg)
    start = time.perf_counter()
    records: list[Record] = []
    rejects: list[Reject] = []
    seen: dict[str, int] = {}
    for raw in dict.fromkeys(cfg.raw_dirs_paths):  # a source listed twice is read once
        source = read_source(raw, cfg, progress)
        _check_reject_fraction(raw, source.rejects, source.seen, cfg.max_reject_fraction)
        records += source.records
        rejects += source.rejects
        seen[raw] = source.seen
    manifest = build_manifest(records, rejects, seen)
    _check_labels(manifest)
    write_dataset(cfg.processed_data_path, records, rejects, manifest)
    return DataPrepResult(cfg.processed_data_path, manifest, rejects, time.perf_counter() - start)


def summarise(result: DataPrepResult) -> str:
    """A closing summary for the log."""
    manifest = result.manifest
    counts = "; ".join(
        f"{split}: {c['total']} ("
        + ", ".join(f"{label} {n}" for label, n in c.items() if label != "total") + ")"
        for split, c in manifest["counts"].items()
    )
    rate = manifest["items_seen"] / result.seconds if result.seconds > 0 else float("inf")
    return (
        f"Processed {manifest['items_seen']} raw items in {result.seconds:.1f} s "
        f"({rate:,.0f}/s) into labels {manifest['labels']}. {counts}. "
        f"Rejected: {len(result.rejects)} (listed in {REJECTS}). "
        f"Content hash {manifest['content_sha256'][:12]}. Dataset: {result.processed_data_path}"
    )
