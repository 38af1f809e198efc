"""The baked project installs into a fresh venv and passes its own tests and linters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from guide import marked_blocks
from helpers import bake, run

pytestmark = pytest.mark.slow

#: The guide's CI gate is 6.5; we hold the generated code to a higher bar.
PYLINT_FAIL_UNDER = "9"


#: Skips the baked suite may report: tests of hardware this machine may not have.
ALLOWED_SKIP_REASONS = re.compile(r"\b(GPU|CUDA)\b", re.IGNORECASE)
#: pytest's ``-rs`` summary line of a skip: ``SKIPPED [1] src/tests/x.py:12: reason``.
SKIP_LINE = re.compile(r"^SKIPPED \[\d+\] (?P<where>\S+): (?P<reason>.*)$", re.MULTILINE)


def unexpected_skips(pytest_output: str) -> list[str]:
    """The ``-rs`` skip lines whose reason is not in :data:`ALLOWED_SKIP_REASONS`."""
    return [
        match.group(0)
        for match in SKIP_LINE.finditer(pytest_output)
        if not ALLOWED_SKIP_REASONS.search(match.group("reason"))
    ]


def test_unexpected_skips_are_found() -> None:
    output = (
        "SKIPPED [1] src/tests/modeling/test_parallel_tuning.py:30: PostgreSQL not reachable\n"
        "SKIPPED [2] src/tests/modeling/test_transformer.py:9: needs a CUDA GPU\n"
        "3 passed, 3 skipped in 1.0s\n"
    )
    assert unexpected_skips(output) == [
        "SKIPPED [1] src/tests/modeling/test_parallel_tuning.py:30: PostgreSQL not reachable"
    ]


def test_project_tests_pass(baked_default: Path, project_venv: Path) -> None:
    """The whole baked suite passes under CI=true and skips nothing unexpected.

    This is the guide's ``suite`` step (its ``pytest``), which the guide test leaves to it.
    """
    readme = (baked_default / "README.md").read_text(encoding="utf-8")
    assert [b.body.strip() for b in marked_blocks(readme) if b.kind == "suite"] == ["pytest"]
    result = run(
        [project_venv / "pytest", "-q", "-rs", "-p", "no:cacheprovider"],
        cwd=baked_default, env={"CI": "true"}, timeout=1800,
    )
    assert " passed" in result.stdout
    assert not unexpected_skips(result.stdout), "\n".join(unexpected_skips(result.stdout))


@pytest.mark.parametrize("ci", ["true", ""])
def test_postgres_tests_fail_under_ci_when_the_server_is_missing(
    baked_default: Path, project_venv: Path, ci: str
) -> None:
    """No PostgreSQL at TEST_POSTGRES_URL: an error under CI=true, a skip with its reason outside."""
    result = run(
        [project_venv / "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-m", "postgres"],
        cwd=baked_default,
        # Port 1: nothing listens there, so the connection is refused at once.
        env={"CI": ci, "TEST_POSTGRES_URL": "postgresql://postgres@127.0.0.1:1/none"},
        timeout=600, check=False,
    )
    assert "PostgreSQL not reachable at postgresql://postgres@127.0.0.1:1/none" in result.stdout
    if ci:
        assert result.returncode == 1, result.stdout[-3000:]
        assert " error" in result.stdout and " skipped" not in result.stdout
    else:
        assert result.returncode == 0, result.stdout[-3000:]
        assert unexpected_skips(result.stdout) and " error" not in result.stdout


def test_ruff_is_clean(baked_default: Path, project_venv: Path) -> None:
    run([project_venv / "ruff", "check", "--no-cache", "src"], cwd=baked_default)


def test_pylint_score(baked_default: Path, project_venv: Path) -> None:
    run([project_venv / "pylint", "src", f"--fail-under={PYLINT_FAIL_UNDER}"], cwd=baked_default)


def test_unusual_names_pass_fast_tests(tmp_path: Path, project_venv: Path) -> None:
    """A bake with other package names runs its fast tests on the same dependencies."""
    project = bake(
        tmp_path,
        project_name="Zoë's Reviews",
        repo_name="z9-reviews",
        src_package_name="z9_reviews_core",
        src_package_name_short="z9",
    )
    result = run(
        [project_venv / "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow and not postgres"],
        cwd=project,
        env={"PYTHONPATH": str(project / "src")},
        timeout=1200,
    )
    assert " passed" in result.stdout
    run([project_venv / "ruff", "check", "--no-cache", "src"], cwd=project)
