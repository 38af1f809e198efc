"""Tests of the shared helpers."""

from __future__ import annotations

import io
import logging
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

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
