"""The processed dataset: one Parquet file per split, a rejects list and a manifest.

Layout of a processed dataset folder::

    train.parquet      columns text, label, source (strings)
    test.parquet
    rejects.jsonl      one {"path", "reason"} record per file or row left out
    manifest.json      written last: labels, counts, content hash, sources

The manifest is the mark of a complete dataset: :func:`load_split` refuses a
folder without one. Local datasets are written to a temporary sibling folder
that is renamed into place (:func:`..general_utils.staged_folder`), so a crash
never leaves a half-written dataset under the final name, and only a folder that
this pipeline wrote as a dataset is ever replaced. On object stores (``gs://``),
where folders cannot be renamed, the old manifest is removed first, then the rest
of the old dataset, and the new manifest is written last.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import fsspec
import pandas as pd

from ..configuration import UserError
from ..general_utils import OWNER_MARKER, check_replaceable, staged_folder
from .readers import Record, Reject, is_local

LOGGER = logging.getLogger(__name__)

MANIFEST = "manifest.json"
REJECTS = "rejects.jsonl"
FORMAT_VERSION = 2
#: What the ownership marker of a processed dataset folder says it holds.
DATASET_KIND = "processed-dataset"


class IncompleteDatasetError(UserError, FileNotFoundError):
    """A processed dataset folder is missing or has no manifest."""


def content_hash(records: Sequence[Record]) -> str:
    """SHA-256 of the dataset content (split, label and text of every record, in order)."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(f"{record.split}\t{record.label}\t{record.text}\n".encode())
    return digest.hexdigest()


def build_manifest(
    records: Sequence[Record], rejects: Sequence[Reject], seen: dict[str, int]
) -> dict[str, Any]:
    """Describe a dataset: labels, counts per split and label, content hash, provenance.

    ``seen`` gives the raw items (files or rows) of each source, in order.
    """
    counts: dict[str, dict[str, int]] = {}
    for (split, label), n in sorted(Counter((r.split, r.label) for r in records).items()):
        counts.setdefault(split, {})[label] = n
    for split_counts in counts.values():
        split_counts["total"] = sum(split_counts.values())
    texts = Counter(r.text for r in records)
    train_texts = {r.text for r in records if r.split == "train"}
    return {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sources": dict(seen),
        "items_seen": sum(seen.values()),
        "labels": sorted({r.label for r in records}),
        "n_records": len(records),
        "n_rejects": len(rejects),
        "reject_reasons": dict(Counter(r.reason.split(" (")[0] for r in rejects)),
        "duplicate_texts": sum(n - 1 for n in texts.values() if n > 1),
        # Test texts whose text is also in train: they inflate test metrics.
        "train_test_overlap": sum(
            1 for r in records if r.split == "test" and r.text in train_texts
        ),
        "counts": counts,
        "content_sha256": content_hash(records),
        "files": {split: f"{split}.parquet" for split in counts},
    }


def _frame(records: Sequence[Record], split: str) -> pd.DataFrame:
    rows = [r for r in records if r.split == split]
    return pd.DataFrame({column: pd.Series([getattr(r, column) for r in rows], dtype="string")
                         for column in ("text", "label", "source")})


def _write_files(
    folder: str, records: Sequence[Record], rejects: Sequence[Reject], manifest: dict[str, Any]
) -> None:
    """Write the split files and rejects, then the manifest, into ``folder``."""
    fs, root = fsspec.core.url_to_fs(folder)
    fs.makedirs(root, exist_ok=True)
    for split, name in manifest["files"].items():
        with fs.open(f"{root}/{name}", "wb") as handle:
            _frame(records, split).to_parquet(handle, index=False, compression="zstd")
    lines = [json.dumps({"path": r.path, "reason": r.reason}) + "\n" for r in rejects]
    fs.pipe_file(f"{root}/{REJECTS}", "".join(lines).encode())
    fs.pipe_file(f"{root}/{MANIFEST}", (json.dumps(manifest, indent=2) + "\n").encode())


def write_dataset(
    path: str, records: Sequence[Record], rejects: Sequence[Reject], manifest: dict[str, Any]
) -> None:
    """Write a processed dataset so that it is complete or absent, never half-written.

    Parameters
    ----------
    path : str
        Destination folder (local path or fsspec URL). A dataset this pipeline wrote
        there is replaced; any other non-empty folder is refused
        (:class:`~..general_utils.UnownedDestinationError`) and left untouched.
    records, rejects : sequences of Record and Reject
        The content, in the order to store it.
    manifest : dict
        From :func:`build_manifest`; written last.
    """
    if not is_local(path):
        fs, root = fsspec.core.url_to_fs(path)
        root = root.rstrip("/")
        check_replaceable(path, DATASET_KIND)
        if fs.exists(f"{root}/{MANIFEST}"):
            fs.rm(f"{root}/{MANIFEST}")  # the old dataset stops looking complete first
        # Then the rest of it goes, so no file of the old dataset (a split the new one
        # lacks) stays beside the new one. The folder is ours: checked above.
        old_files = [path for path in fs.find(root) if not path.endswith(f"/{OWNER_MARKER}")]
        if old_files:
            fs.rm(old_files)
        fs.makedirs(root, exist_ok=True)
        fs.pipe_file(f"{root}/{OWNER_MARKER}", json.dumps({"kind": DATASET_KIND}).encode())
        _write_files(path, records, rejects, manifest)
        return
    with staged_folder(path.removeprefix("file://"), DATASET_KIND) as staging:
        _write_files(str(staging), records, rejects, manifest)


def load_manifest(path: str) -> dict[str, Any]:
    """Read the manifest of a processed dataset.

    Raises
    ------
    IncompleteDatasetError
        When the folder or its manifest is missing (not processed, or the
        processing did not finish).
    """
    fs, root = fsspec.core.url_to_fs(path)
    manifest_path = f"{root.rstrip('/')}/{MANIFEST}"
    if not fs.exists(manifest_path):
        raise IncompleteDatasetError(
            f"No processed dataset at {path} (no {MANIFEST}). "
            "Run `python src/process_data.py data_prep.processed_data_path=...` first."
        )
    manifest: dict[str, Any] = json.loads(fs.cat_file(manifest_path))
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IncompleteDatasetError(
            f"The processed dataset at {path} has format_version "
            f"{manifest.get('format_version')!r}, not {FORMAT_VERSION}: run process_data.py again"
        )
    return manifest


def load_split(path: str, split: str) -> pd.DataFrame:
    """Load one split (``train`` or ``test``) of a processed dataset.

    Raises
    ------
    IncompleteDatasetError
        When the dataset has no manifest.
    KeyError
        When the dataset has no such split.
    """
    manifest = load_manifest(path)
    if split not in manifest["files"]:
        raise KeyError(f"The processed dataset at {path} has no {split!r} split")
    # Through fsspec: pandas would read gs:// with pyarrow's own filesystem (other credentials).
    fs, root = fsspec.core.url_to_fs(path)
    with fs.open(f"{root.rstrip('/')}/{manifest['files'][split]}", "rb") as handle:
        return pd.read_parquet(handle)
