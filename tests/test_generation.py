"""Bake a matrix of answers and check what comes out: files, rendering, syntax."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from helpers import bake

#: Answer sets covering every licence, both registry layouts and awkward but valid names.
MATRIX: dict[str, dict[str, str]] = {
    "defaults": {},
    "bsd-personal-subdir": {"open_source_license": "BSD-3-Clause", "gcr_personal_subdir": "Yes"},
    "no-licence": {"open_source_license": "No license file"},
    "long-unusual-names": {
        "project_name": "Ünïcode Réviews & Co. (2026): a very long project name, on purpose",
        "description": "Reviews with 'quotes', ümlauts, #hashes, 50% symbols & more: still one line.",
        "repo_name": "a1-b2-c3-reviews-with-a-long-name-xyz",
        "src_package_name": "a1_b2_reviews_pkg_with_a_long_name_x9",
        "src_package_name_short": "a1b2",
        "gcp_project_id": "abc-123-xyz-789-long-id-000",
        "author_name": "Zoë O'Brien-Łukasiewicz & the Data Team",
    },
    "derived-short-names": {"project_name": "Tiny"},
}

PLACEHOLDER = re.compile(r"cookiecutter|\{%|%\}|\{#|#\}")
CURLY = re.compile(r"\{\{(.*?)\}\}")
#: Files whose literal ``{{ ... }}`` belongs to another tool (kept through ``{% raw %}``).
RAW_CURLY_FILES = re.compile(r"^aisg-context/polyaxon/polyaxonfiles/.*\.ya?ml$")


def expected_files(project: Path, answers: dict[str, str]) -> set[str]:
    """The manifest in tests/expected_files.txt with this bake's names filled in."""
    repo, pkg = project.name, next(
        p.name for p in (project / "src").iterdir() if p.is_dir() and (p / "general_utils.py").exists()
    )
    if "src_package_name" in answers:
        assert pkg == answers["src_package_name"]
    lines = (Path(__file__).parent / "expected_files.txt").read_text().splitlines()
    names = {
        line.replace("<repo>", repo).replace("<pkg>", pkg)
        for line in lines
        if line.strip() and not line.startswith("#")
    }
    if answers.get("open_source_license") == "No license file":
        names.discard("LICENSE")
    return names


def text_files(project: Path) -> list[Path]:
    """Every file of the project that decodes as UTF-8 text."""
    found = []
    for path in sorted(project.rglob("*")):
        if path.is_file():
            try:
                path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            found.append(path)
    return found


@pytest.fixture(scope="module", params=sorted(MATRIX), ids=sorted(MATRIX))
def variant(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    answers = MATRIX[request.param]
    return bake(tmp_path_factory.mktemp(request.param), **answers), answers


def test_exact_file_set(variant) -> None:
    project, answers = variant
    actual = {str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()}
    expected = expected_files(project, answers)
    assert sorted(actual - expected) == [], "unexpected files"
    assert sorted(expected - actual) == [], "missing files"


def test_nothing_left_unrendered(variant) -> None:
    project, _ = variant
    problems = []
    for path in text_files(project):
        rel = str(path.relative_to(project))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if PLACEHOLDER.search(line):
                problems.append(f"{rel}:{number}: {line.strip()}")
            for expression in CURLY.findall(line):
                if not RAW_CURLY_FILES.match(rel) or not re.fullmatch(r"\s*[A-Za-z_][\w.]*\s*", expression):
                    problems.append(f"{rel}:{number}: {line.strip()}")
    assert problems == []


def test_structured_files_parse(variant) -> None:
    project, _ = variant
    checked = 0
    for path in text_files(project):
        text = path.read_text(encoding="utf-8")
        if path.suffix in {".yml", ".yaml"}:
            list(yaml.safe_load_all(text))
        elif path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix == ".json":
            json.loads(text)
        else:
            continue
        checked += 1
    assert checked >= 3


def test_names_rendered_into_project(variant) -> None:
    project, answers = variant
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == project.name
    if "description" in answers:
        assert pyproject["project"]["description"] == answers["description"]
    if "author_name" in answers:
        assert pyproject["project"]["authors"] == [{"name": answers["author_name"]}]
    licence = answers.get("open_source_license", "MIT")
    if licence == "No license file":
        assert "license" not in pyproject["project"]
    else:
        assert pyproject["project"]["license"] == licence
        assert licence.split("-")[0] in (project / "LICENSE").read_text()


def test_default_names_derive_from_project_name(tmp_path: Path) -> None:
    project = bake(tmp_path, project_name="Tiny Review Tool")
    assert project.name == "tiny-review-tool"
    assert (project / "src" / "tiny_review_tool" / "__init__.py").exists()
    assert "import tiny_review_tool as trt" in (project / "README.md").read_text()
