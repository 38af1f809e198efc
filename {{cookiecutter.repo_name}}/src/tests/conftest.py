"""Shared fixtures for the {{ cookiecutter.project_name }} tests."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Root of the repository (holds conf/, src/ and data/).
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """Path of the repository root."""
    return REPO_ROOT
