"""Tests of the shared helpers."""

from __future__ import annotations

import io
import logging
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.src_package_name }} import general_utils


@pytest.fixture()
def restore_logging() -> Iterator[None]:
    """Put back the loggers that a test's dictConfig changes (global state)."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    saved = [
        (lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled)
        for lg in loggers
        if isinstance(lg, logging.Logger)
    ]
    yield
    for lg, level, handlers, propagate, disabled in saved:
        lg.setLevel(level)
        lg.handlers[:] = handlers
        lg.propagate, lg.disabled = propagate, disabled


@pytest.mark.usefixtures("restore_logging")
def test_setup_logging_applies_project_config(repo_root: Path) -> None:
    general_utils.setup_logging(repo_root / "conf" / "base" / "logging.yaml")
    assert logging.getLogger("alembic").level == logging.WARNING
    assert logging.getLogger("{{ cookiecutter.src_package_name }}").level == logging.INFO
    requests = logging.getLogger("{{ cookiecutter.src_package_name }}_fastapi.requests")
    assert not requests.propagate
    assert [type(h) for h in requests.handlers] == [general_utils.BufferedStreamHandler]


class CountingStream(io.StringIO):
    """A text stream that counts its write calls."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def buffered_logger(name: str, **options: float) -> tuple[logging.Logger, CountingStream]:
    stream = CountingStream()
    handler = general_utils.BufferedStreamHandler(stream, **options)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(f"test.buffered.{name}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_buffered_lines_are_written_together_within_the_interval() -> None:
    logger, stream = buffered_logger("interval", interval=0.2)
    for i in range(5):
        logger.info("line %d", i)
    assert stream.writes == 0
    deadline = time.monotonic() + 5
    while not stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stream.getvalue() == "".join(f"INFO line {i}\n" for i in range(5))
    assert stream.writes == 1


def test_a_full_batch_or_a_warning_is_written_at_once_in_order() -> None:
    logger, stream = buffered_logger("capacity", capacity=3, interval=60)
    for i in range(4):
        logger.info("line %d", i)
    assert stream.getvalue() == "INFO line 0\nINFO line 1\nINFO line 2\n"
    logger.warning("trouble")
    assert stream.getvalue().endswith("INFO line 3\nWARNING trouble\n")


def test_held_lines_are_written_when_logging_shuts_down() -> None:
    logger, stream = buffered_logger("shutdown", interval=60)
    logger.info("last words")
    assert stream.getvalue() == ""
    logging.shutdown([weakref.ref(logger.handlers[0])])
    assert stream.getvalue() == "INFO last words\n"


def test_setup_logging_falls_back_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "logging.yaml"
    broken.write_text(
        "version: 1\nhandlers: {h: {class: no.such.Handler}}\nroot: {handlers: [h]}\n"
    )
    with caplog.at_level(logging.WARNING):
        general_utils.setup_logging(broken)
    assert any(str(broken) in record.getMessage() for record in caplog.records)


def test_setup_logging_missing_file_does_not_raise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        general_utils.setup_logging(tmp_path / "absent.yml")
    assert any("absent.yml" in record.getMessage() for record in caplog.records)


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
    from serving_support import fit_tiny_model

    # pylint: disable-next=import-outside-toplevel
    from {{ cookiecutter.src_package_name }}.modeling.training import save_model_atomically

    models = tmp_path / "models"
    (models / "older-model").mkdir(parents=True)
    (models / "older-model" / "MLmodel").write_text("flavors: {}", encoding="utf-8")
    before = _tree(models)
    example = np.array(["A fine film.", "A dull film."])
    with pytest.raises(general_utils.UnownedDestinationError, match=str(models)):
        # the typo train.local_model_dir=models
        save_model_atomically(fit_tiny_model(), models, input_example=example)
    assert _tree(models) == before
    save_model_atomically(fit_tiny_model(), models / "model", input_example=example)
    # A model folder it saved itself is replaced.
    save_model_atomically(fit_tiny_model(), models / "model", input_example=example)
    assert (models / "model" / "MLmodel").is_file()
