"""Tests of the shared helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.src_package_name }} import general_utils

# --- Staging then rename: the one way every pipeline replaces a folder it wrote ---------------


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its content, by relative path."""
    return {
        str(p.relative_to(folder)): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_staged_folder_creates_a_complete_folder_and_leaves_no_staging(tmp_path: Path) -> None:
    dest = tmp_path / "out" / "dataset"
    with general_utils.staged_folder(dest, kind="dataset") as staging:
        staging.mkdir()
        (staging / "data.txt").write_text("new", encoding="utf-8")
        assert not dest.exists()  # nothing under the final name until the body succeeds
    assert (dest / "data.txt").read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["dataset"]


def test_staged_folder_refuses_a_folder_it_did_not_write_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "data"
    (dest / "raw" / "set1").mkdir(parents=True)
    (dest / "raw" / "set1" / "1_9.txt").write_text("a raw review", encoding="utf-8")
    (dest / "MY_NOTES.md").write_text("notes", encoding="utf-8")
    before = _tree(dest)
    body_ran = False
    with (
        pytest.raises(general_utils.UnownedDestinationError, match=str(dest)),
        general_utils.staged_folder(dest, kind="dataset"),
    ):
        body_ran = True
    assert not body_ran  # refused before any work, not after it
    assert _tree(dest) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_staged_folder_replaces_its_own_output_of_the_same_kind_only(tmp_path: Path) -> None:
    dest = tmp_path / "model"
    for content in ("first", "second"):
        with general_utils.staged_folder(dest, kind="model") as staging:
            staging.mkdir()
            (staging / "weights").write_text(content, encoding="utf-8")
    assert (dest / "weights").read_text(encoding="utf-8") == "second"
    with (
        pytest.raises(general_utils.UnownedDestinationError, match="model"),
        general_utils.staged_folder(dest, kind="dataset") as staging,
    ):
        staging.mkdir()
    assert (dest / "weights").read_text(encoding="utf-8") == "second"


def test_staged_folder_keeps_the_previous_output_when_the_body_fails(tmp_path: Path) -> None:
    dest = tmp_path / "model"
    with general_utils.staged_folder(dest, kind="model") as staging:
        staging.mkdir()
        (staging / "weights").write_text("good", encoding="utf-8")
    with (
        pytest.raises(RuntimeError, match="disk full"),
        general_utils.staged_folder(dest, kind="model") as staging,
    ):
        staging.mkdir()
        (staging / "weights").write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")
    assert (dest / "weights").read_text(encoding="utf-8") == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_staged_folder_accepts_an_empty_existing_folder(tmp_path: Path) -> None:
    dest = tmp_path / "empty"
    dest.mkdir()
    with general_utils.staged_folder(dest, kind="dataset") as staging:
        staging.mkdir()
        (staging / "x").write_text("x", encoding="utf-8")
    assert (dest / "x").exists()


def test_saving_a_local_model_over_other_models_is_refused(tmp_path: Path) -> None:
    # pylint: disable-next=import-outside-toplevel
    from serving_support import TINY_LABELS, fit_tiny_model

    # pylint: disable-next=import-outside-toplevel
    from {{ cookiecutter.src_package_name }}.modeling.predictor import DecisionRule

    # pylint: disable-next=import-outside-toplevel
    from {{ cookiecutter.src_package_name }}.modeling.training import save_model_atomically

    models = tmp_path / "models"
    (models / "older-model").mkdir(parents=True)
    (models / "older-model" / "MLmodel").write_text("flavors: {}", encoding="utf-8")
    before = _tree(models)
    example = ["A fine film.", "A dull film."]
    rule = DecisionRule(TINY_LABELS["binary"])
    with pytest.raises(general_utils.UnownedDestinationError, match=str(models)):
        # the typo train.local_model_dir=models
        save_model_atomically(fit_tiny_model(), rule, models, example)
    assert _tree(models) == before
    save_model_atomically(fit_tiny_model(), rule, models / "model", example)
    # A model folder it saved itself is replaced.
    save_model_atomically(fit_tiny_model(), rule, models / "model", example)
    assert (models / "model" / "MLmodel").is_file()
