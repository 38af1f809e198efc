"""Run tags and helpers of the MLflow tracking module."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from {{ cookiecutter.src_package_name }}.modeling.tracking import flatten, run_tags


def test_tags_name_the_git_commit_polyaxon_run_and_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "git_commit" not in run_tags()  # tmp_path is no Git repository
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, check=True,
                          capture_output=True, text=True).stdout.strip()
    monkeypatch.setenv("POLYAXON_RUN_UUID", "abc")
    assert run_tags("1641159546") == {
        "git_commit": head, "polyaxon_run_uuid": "abc", "hptuning_tag": "1641159546"
    }


def test_flatten_nested_config() -> None:
    assert flatten({"a": 1, "m": {"c": 0.5, "d": {"e": None}}}) == {
        "a": "1", "m.c": "0.5", "m.d.e": "None"
    }


def test_flattened_params_carry_no_password() -> None:
    assert flatten({"uri": "http://u:secret@h:5005"}) == {"uri": "http://u:***@h:5005"}
