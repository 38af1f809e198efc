"""The sample corpus and the tree it writes in the IMDB layout."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from {{ cookiecutter.src_package_name }}.sample_data import (
    MARKER,
    load_sample_reviews,
    write_sample_tree,
)


def test_corpus_is_balanced_and_split() -> None:
    """200 reviews per label, 40 of each for testing, unique ids and texts, IMDB ratings."""
    reviews = load_sample_reviews()
    counts = Counter((r["split"], r["label"]) for r in reviews)
    assert counts == {
        ("train", "pos"): 160,
        ("train", "neg"): 160,
        ("test", "pos"): 40,
        ("test", "neg"): 40,
    }
    assert len({r["id"] for r in reviews}) == len(reviews)
    assert len({r["text"] for r in reviews}) == len(reviews)
    assert all(r["rating"] >= 7 for r in reviews if r["label"] == "pos")
    assert all(r["rating"] <= 4 for r in reviews if r["label"] == "neg")


def test_write_sample_tree_layout(tmp_path: Path) -> None:
    """The tree has the IMDB layout and file names, and no staging folder is left."""
    dest = write_sample_tree(tmp_path / "raw" / "sample")
    assert dest == tmp_path / "raw" / "sample"
    files = sorted(dest.glob("*/*/*.txt"))
    assert len(files) == len(load_sample_reviews())
    folders = {f.parent.relative_to(dest).as_posix() for f in files}
    assert folders == {"train/pos", "train/neg", "test/pos", "test/neg"}
    first = files[0]
    identifier, rating = first.stem.split("_")
    assert identifier.isdigit() and rating.isdigit()
    assert first.read_text(encoding="utf-8").strip()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["sample"]


def test_write_sample_tree_is_idempotent(tmp_path: Path) -> None:
    """A second call on a complete tree changes nothing."""
    dest = write_sample_tree(tmp_path / "sample")
    stamp = {p: p.stat().st_mtime_ns for p in dest.rglob("*")}
    assert write_sample_tree(dest) == dest
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*")} == stamp
    assert (dest / MARKER).is_file()


def test_write_sample_tree_into_empty_folder(tmp_path: Path) -> None:
    """An existing empty folder is filled."""
    (tmp_path / "sample").mkdir()
    assert len(list(write_sample_tree(tmp_path / "sample").glob("*/*/*.txt"))) == 400


def test_write_sample_tree_never_overwrites_other_data(tmp_path: Path) -> None:
    """A folder holding other files is refused and left as it was."""
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        write_sample_tree(dest)
    assert (dest / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_the_news_table_has_three_labels_of_thirty_and_is_fetched_as_a_file(
    tmp_path: Path,
) -> None:
    """The guide's "Make it yours" table, copied by ``get_data.py --source sample-news``."""
    # pylint: disable-next=import-outside-toplevel
    import pandas as pd

    # pylint: disable-next=import-outside-toplevel
    from {{ cookiecutter.src_package_name }}.data_prep.fetch import fetch_dataset

    # pylint: disable-next=import-outside-toplevel
    from {{ cookiecutter.src_package_name }}.sample_data import NEWS_TOPICS

    table = pd.read_csv(NEWS_TOPICS)
    assert list(table.columns) == ["id", "text", "label"]
    assert table["label"].value_counts().to_dict() == {"sports": 30, "business": 30, "tech": 30}
    assert table["id"].is_unique and table["text"].is_unique
    dest = fetch_dataset("sample-news", tmp_path / "raw" / "news", progress=False)
    assert (dest / "news-topics.csv").read_bytes() == NEWS_TOPICS.read_bytes()
