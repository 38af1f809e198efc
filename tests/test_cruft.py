"""cruft: create from a local clone, check, then pull a template change with no conflicts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import TEMPLATE_DIR, TOOLS_BIN, run

pytestmark = pytest.mark.slow

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Template Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Template Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(cwd: Path, *args: str) -> str:
    return run(["git", *args], cwd=cwd, env=GIT_ENV).stdout


def cruft(cwd: Path, *args: str | Path, check: bool = True):
    return run([TOOLS_BIN / "cruft", *args], cwd=cwd, env=GIT_ENV, check=check)


@pytest.fixture()
def template_clone(tmp_path: Path) -> Path:
    """A scratch git repository holding the template as it is in this checkout."""
    clone = tmp_path / "template"
    shutil.copytree(
        TEMPLATE_DIR,
        clone,
        ignore=shutil.ignore_patterns(".git", ".venv*", "__pycache__", ".pytest_cache", "scratch"),
    )
    git(clone, "init", "-q", "-b", "main")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "template")
    return clone


def test_cruft_create_check_and_update(template_clone: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    cruft(out, "create", "--no-input", template_clone)
    project = out / "movie-review-sentiment"
    assert json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]["repo_name"] == project.name
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "generated")
    assert cruft(project, "check").returncode == 0

    # A user edit that the template change must not disturb.
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nNotes of our team.\n")
    git(project, "commit", "-q", "-am", "team notes")

    # The template changes: a new file and an edit to an existing one.
    pipelines = template_clone / "{{cookiecutter.repo_name}}" / "conf" / "base" / "pipelines.yaml"
    pipelines.write_text(pipelines.read_text().replace("level: WARNING", "level: ERROR", 1))
    (template_clone / "{{cookiecutter.repo_name}}" / "CHANGELOG.md").write_text("# Changes of {{ cookiecutter.project_name }}\n")
    git(template_clone, "add", "-A")
    git(template_clone, "commit", "-q", "-m", "template change")

    assert cruft(project, "check", check=False).returncode != 0, "cruft must see the template change"
    cruft(project, "update", "--skip-apply-ask", "--allow-untracked-files")
    assert list(project.rglob("*.rej")) == []
    assert "level: ERROR" in (project / "conf" / "base" / "pipelines.yaml").read_text()
    assert (project / "CHANGELOG.md").read_text() == "# Changes of Movie Review Sentiment\n"
    assert "Notes of our team." in readme.read_text()
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "template update")
    assert cruft(project, "check").returncode == 0
