"""Tests of the shared helpers."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from {{ cookiecutter.src_package_name }} import general_utils


def test_setup_logging_applies_project_config(repo_root: Path) -> None:
    general_utils.setup_logging(repo_root / "conf" / "base" / "logging.yaml")
    assert logging.getLogger("alembic").level == logging.WARNING
    assert logging.getLogger("{{ cookiecutter.src_package_name }}").level == logging.INFO


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
