"""A small corpus of original movie reviews, shipped with the package.

The 400 short reviews in ``reviews.jsonl`` (200 positive, 200 negative; 160
of each for training and 40 for testing) are original, written
to ship with this package; none comes from IMDB. They let the pipelines, the API and the
tests run anywhere in seconds, without downloading the real data set. They
are also easy: a model's accuracy on them says nothing about real reviews.

Each line of ``reviews.jsonl`` is one review::

    {"id": 7, "split": "train", "label": "pos", "rating": 9, "text": "..."}

:func:`write_sample_tree` writes them in the layout of the IMDB data set
(``{train,test}/{pos,neg}/<id>_<rating>.txt``), so every pipeline reads the
sample exactly as it reads the real data.

``news-topics.csv`` (:data:`NEWS_TOPICS`) is the table of the guide's "Make it
yours" example: 90 short original news headlines (``id``, ``text``, ``label``),
30 each of ``sports``, ``business`` and ``tech``.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

from ..general_utils import RAW_DATA_KIND, staged_folder

__all__ = ["NEWS_TOPICS", "load_sample_reviews", "write_sample_tree"]

#: A three-label table: the guide's example of a problem of your own.
NEWS_TOPICS = Path(__file__).with_name("news-topics.csv")

#: Name of the file that marks a complete tree and records what it holds.
MARKER = ".sample-corpus"


def _corpus_bytes() -> bytes:
    return resources.files(__name__).joinpath("reviews.jsonl").read_bytes()


def load_sample_reviews() -> list[dict[str, Any]]:
    """Every review of the sample corpus (``id``, ``split``, ``label``, ``rating``, ``text``)."""
    return [json.loads(line) for line in _corpus_bytes().decode("utf-8").splitlines()
            if line.strip()]


def write_sample_tree(dest: Path) -> Path:
    """Write the sample corpus under ``dest`` in the IMDB folder layout.

    The tree is built in a temporary folder next to ``dest`` and renamed into
    place, so ``dest`` is either absent or complete. Calling it again on a
    complete tree of the same corpus does nothing (idempotent).

    Parameters
    ----------
    dest : Path
        Folder to create, e.g. ``data/raw/sample``. It may exist if it is
        empty or already holds this corpus.

    Returns
    -------
    Path
        ``dest``, holding ``{train,test}/{pos,neg}/<id>_<rating>.txt``.

    Raises
    ------
    FileExistsError
        If ``dest`` exists and holds anything but a raw tree this project wrote
        (:class:`~..general_utils.UnownedDestinationError`; it is never overwritten).
    """
    dest = Path(dest)
    digest = hashlib.sha256(_corpus_bytes()).hexdigest()
    marker = dest / MARKER
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == digest:
        return dest
    with staged_folder(dest, RAW_DATA_KIND) as staging:  # refuses a folder of other data
        for review in load_sample_reviews():
            folder = staging / review["split"] / review["label"]
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{review['id']}_{review['rating']}.txt"  # the IMDB file names
            (folder / name).write_text(review["text"] + "\n", encoding="utf-8")
        (staging / MARKER).write_text(digest + "\n", encoding="utf-8")
    return dest
