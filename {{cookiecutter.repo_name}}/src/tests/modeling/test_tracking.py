"""Run tags and helpers of the MLflow tracking module."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException

from {{ cookiecutter.src_package_name }}.modeling.tracking import (
    flatten,
    redact,
    retry_on_unique_conflict,
    run_tags,
)


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Storage: postgresql+psycopg2://optuna:s3cr/et@db:5432/optuna",
         "Storage: postgresql+psycopg2://optuna:***@db:5432/optuna"),
        ("http://user:pa:ss@mlflow:5005 and sqlite:///x.db?uri=true&password=s3cret&mode=ro",
         "http://user:***@mlflow:5005 and sqlite:///x.db?uri=true&password=***&mode=ro"),
        ("postgresql://user@host/db gs://bucket/a=b", "postgresql://user@host/db gs://bucket/a=b"),
    ],
)
def test_redact_masks_passwords_in_urls_only(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_flattened_params_carry_no_password() -> None:
    assert flatten({"uri": "http://u:secret@h:5005"}) == {"uri": "http://u:***@h:5005"}


#: What the SQLite store raised when four sweep workers logged one dataset at once.
SQLITE_CONFLICT = ("(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, "
                   "datasets.name, datasets.digest")  # fmt: skip


@pytest.mark.parametrize("message", [
    SQLITE_CONFLICT,
    'duplicate key value violates unique constraint "datasets_pk"',  # PostgreSQL
])  # fmt: skip
def test_a_uniqueness_conflict_is_retried(message: str) -> None:
    calls: list[int] = []

    def log() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise MlflowException(message)
        return "logged"

    assert retry_on_unique_conflict(log) == "logged"
    assert len(calls) == 2


def test_other_errors_and_a_lasting_conflict_are_not_hidden() -> None:
    calls: list[str] = []

    def down() -> None:
        calls.append("down")
        raise MlflowException("API request failed: connection refused")

    with pytest.raises(MlflowException, match="connection refused"):
        retry_on_unique_conflict(down)
    assert calls == ["down"]  # not retried

    def conflict() -> None:
        calls.append("conflict")
        raise MlflowException(SQLITE_CONFLICT)

    with pytest.raises(MlflowException, match="UNIQUE constraint"):
        retry_on_unique_conflict(conflict, attempts=3)
    assert calls.count("conflict") == 3
