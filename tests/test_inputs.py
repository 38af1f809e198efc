"""Bad answers stop generation with one clear line per problem and leave nothing behind."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from helpers import TEMPLATE_DIR, TOOLS_BIN, run

BAD_INPUTS = [
    ("project_name", "   "),
    ("project_name", 'Quote " in name'),
    ("project_name", "x" * 81),
    ("description", "two\nlines"),
    ("description", "curly {braces} and $dollars"),
    ("repo_name", "Upper-Case"),
    ("repo_name", "trailing-hyphen-"),
    ("repo_name", "double--hyphen"),
    ("repo_name", "1starts-with-digit"),
    ("repo_name", "a" * 41),
    ("src_package_name", "my-package"),
    ("src_package_name", "class"),
    ("src_package_name", "json"),
    ("src_package_name", "mlflow"),
    ("src_package_name", "Caps"),
    ("src_package_name_short", "9x"),
    ("src_package_name_short", "if"),
    ("src_package_name_short", "os"),
    ("gcp_project_id", "short"),
    ("gcp_project_id", "Has-Upper-Case"),
    ("gcp_project_id", "ends-with-hyphen-"),
    ("gcp_project_id", "my-google-project"),
    ("gcp_project_id", "a" * 31),
    ("author_name", ""),
    # A reStructuredText directive: docs/index.rst would include a file of the docs builder.
    ("description", ".. include:: /etc/hostname"),
    ("project_name", "..  raw:: html"),
]
#: Free text holding a character that is not printable text, and that character's code point.
#: Line and paragraph separators are line breaks to YAML (PyYAML, libyaml, GitLab's Psych):
#: in a YAML comment such as the first line of .gitlab-ci.yml they start a new line, an
#: injected CI job here. Format characters such as a bidi override reorder what a reviewer
#: sees ("Trojan Source").
INJECTION = "pwned_job:{0}  script: [echo INJECTED]{0}#"
UNPRINTABLE_INPUTS = [
    ("project_name", "Foo\u2028" + INJECTION.format("\u2028"), "U+2028"),
    ("project_name", "Foo\u2029" + INJECTION.format("\u2029"), "U+2029"),
    ("description", "Foo\x85" + INJECTION.format("\x85"), "U+0085"),
    ("description", "tab\there", "U+0009"),
    ("author_name", "Team \u202eevil", "U+202E"),
    ("author_name", "zero\u200bwidth", "U+200B"),
]
#: Choice answers: cookiecutter itself refuses them before the hook runs.
BAD_CHOICES = [("gcr_personal_subdir", "Maybe"), ("open_source_license", "GPL-3.0")]


def cookiecutter_cli(output_dir: Path, *answers: str):
    return run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "-o", output_dir, TEMPLATE_DIR, *answers],
        check=False,
    )


@pytest.mark.parametrize(("field", "value"), BAD_INPUTS, ids=[f"{f}={v[:12]!r}" for f, v in BAD_INPUTS])
def test_bad_input_is_rejected(tmp_path: Path, field: str, value: str) -> None:
    # A valid explicit repo name keeps a bad project name from also spoiling the derived one.
    result = cookiecutter_cli(tmp_path, f"{field}={value}", *(["repo_name=good-repo"] if field == "project_name" else []))
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    # The hook's lines come first: one per problem, then the summary. What the
    # generator logs after them (its own "hook failed" report) is not ours to change.
    assert lines[0].startswith(f"Invalid input {field}: "), result.stderr
    assert lines[1] == "Generation stopped: 1 invalid input(s); no project was written."
    assert list(tmp_path.iterdir()) == [], "a rejected project must leave nothing behind"


@pytest.mark.parametrize(
    ("field", "value", "code_point"), UNPRINTABLE_INPUTS, ids=[c for _, _, c in UNPRINTABLE_INPUTS]
)
def test_unprintable_text_is_rejected_naming_the_character(
    tmp_path: Path, field: str, value: str, code_point: str
) -> None:
    result = cookiecutter_cli(tmp_path, f"{field}={value}", "repo_name=good-repo")
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"Invalid input {field}: "), result.stderr
    assert code_point in lines[0], lines[0]
    assert lines[1] == "Generation stopped: 1 invalid input(s); no project was written."
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("field", "value"), BAD_CHOICES)
def test_bad_choice_is_rejected(tmp_path: Path, field: str, value: str) -> None:
    result = cookiecutter_cli(tmp_path, f"{field}={value}")
    assert result.returncode != 0
    assert f"{value} provided for choice variable {field}" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_every_problem_is_listed(tmp_path: Path) -> None:
    result = cookiecutter_cli(tmp_path, "repo_name=Bad_Repo", "gcp_project_id=x", "author_name= padded")
    problems = [line for line in result.stderr.splitlines() if line.startswith("Invalid input ")]
    fields = [line.removeprefix("Invalid input ").split(":")[0] for line in problems]
    # src_package_name derives from the bad repo_name: only the root cause is reported.
    assert fields == ["repo_name", "gcp_project_id", "author_name"]
    assert list(tmp_path.iterdir()) == []


def test_cruft_create_rejects_bad_input(tmp_path: Path) -> None:
    clone = tmp_path / "template"
    run(["git", "clone", "-q", TEMPLATE_DIR, clone])
    out = tmp_path / "out"
    out.mkdir()
    result = run(
        [
            TOOLS_BIN / "cruft", "create", "--no-input", "--output-dir", out,
            "--extra-context", '{"gcp_project_id": "BAD"}', clone,
        ],
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.splitlines()[0] == (
        "Invalid input gcp_project_id: 'BAD' must be 6 to 30 characters long (got 3)"
    )
    assert list(out.iterdir()) == []


def test_valid_edge_values_are_accepted(tmp_path: Path) -> None:
    result = cookiecutter_cli(
        tmp_path,
        "repo_name=ab",
        "src_package_name=ab",
        "src_package_name_short=a",
        "gcp_project_id=a23456",
        # Letters, accents and punctuation of any script are text, not controls.
        "project_name=Critiques de films \u00e9crites \u2014 \u6620\u753b",
        "author_name=Zo\u00eb \u00d8stergaard-\u0141\u00f3d\u017a",
        "description=...and an ellipsis first, or two dots .. inside, are plain text.",
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ab" / "src" / "ab" / "__init__.py").exists()
