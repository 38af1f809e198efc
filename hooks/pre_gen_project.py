"""Validate the template inputs before anything is generated.

Cookiecutter renders this file with the user's answers, then runs it. Every
problem is printed on its own line (field, value, rule) and the hook exits
non-zero, so cookiecutter and cruft stop and remove the half-made project.
Only the standard library is used: the hook runs in the generator's Python.

Choice answers are not checked here: cookiecutter refuses an unknown choice before
any hook runs. Cookiecutter also renders every answer as a Jinja template before
this hook sees it (its design, not the template's), so answers taken from an
untrusted source (a portal, a bot) must be refused before calling cookiecutter when
they hold ``{`` or ``%``; this hook cannot see the raw answer.
"""

from __future__ import annotations

import keyword
import re
import sys
import unicodedata

ANSWERS = {
    "project_name": {{ cookiecutter.project_name | jsonify }},
    "description": {{ cookiecutter.description | jsonify }},
    "repo_name": {{ cookiecutter.repo_name | jsonify }},
    "src_package_name": {{ cookiecutter.src_package_name | jsonify }},
    "src_package_name_short": {{ cookiecutter.src_package_name_short | jsonify }},
    "gcp_project_id": {{ cookiecutter.gcp_project_id | jsonify }},
    "author_name": {{ cookiecutter.author_name | jsonify }},
}

# Characters that would need escaping in YAML, TOML, shell or Jinja text.
UNSAFE_TEXT = set('"\\`{}<>$')
# Unicode categories that are not printable text: control characters (Cc, NEL U+0085
# among them), format characters (Cf: bidi overrides, zero-width), line and paragraph
# separators (Zl U+2028, Zp U+2029). YAML reads NEL, U+2028 and U+2029 as line breaks,
# so any of them in a YAML comment would start a new line of YAML.
UNPRINTABLE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp"}
# Names the generated code imports; a package of the same name would shadow them.
TAKEN_NAMES = {
    "conf", "data", "docs", "fastapi", "gunicorn", "hydra", "mlflow", "models", "numpy",
    "omegaconf", "optuna", "pandas", "pydantic", "scipy", "scripts", "sklearn", "src",
    "starlette", "test", "tests", "uvicorn",
}


def check_text(value: str, max_len: int) -> str | None:
    """Return why free text is unusable, or None when it is fine."""
    if value != value.strip():
        return "must not start or end with whitespace"
    if not value:
        return "must not be empty"
    if len(value) > max_len:
        return f"must be at most {max_len} characters (got {len(value)})"
    unprintable = sorted({ch for ch in value if unicodedata.category(ch) in UNPRINTABLE_CATEGORIES})
    if unprintable:
        return (
            "must be one line of printable text, without control, format, line or paragraph "
            "separator characters (found " + ", ".join(f"U+{ord(ch):04X}" for ch in unprintable) + ")"
        )
    bad = sorted(UNSAFE_TEXT.intersection(value))
    if bad:
        return "must not contain any of " + " ".join(bad)
    if re.match(r"\.\.(\s|$)", value):
        # reStructuredText explicit markup: in docs/index.rst, ".. include:: <file>" would
        # pull a file of the docs builder into the published docs.
        return "must not start with '.. ' (a reStructuredText directive in the docs)"
    return None


def check_identifier(value: str, min_len: int, max_len: int) -> str | None:
    """Return why a Python package name is unusable, or None when it is fine."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
        return "must start with a lowercase letter and hold only lowercase letters, digits and underscores"
    if not min_len <= len(value) <= max_len:
        return f"must be {min_len} to {max_len} characters long (got {len(value)})"
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return "is a Python keyword"
    if value in sys.stdlib_module_names or value in TAKEN_NAMES:
        return "would shadow a module the project imports (standard library or a dependency)"
    return None


def check_repo_name(value: str) -> str | None:
    """Return why a repository name is unusable, or None when it is fine."""
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", value):
        return (
            "must start with a lowercase letter and hold only lowercase letters, digits "
            "and single hyphens, not at the end (it names images, buckets and Kubernetes objects)"
        )
    if not 2 <= len(value) <= 40:
        return f"must be 2 to 40 characters long (got {len(value)})"
    return None


def check_gcp_project_id(value: str) -> str | None:
    """Return why a GCP project id breaks Google's rules, or None when it is fine."""
    if not 6 <= len(value) <= 30:
        return f"must be 6 to 30 characters long (got {len(value)})"
    if not re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]", value):
        return "must start with a lowercase letter, hold only lowercase letters, digits and hyphens, and not end with a hyphen"
    if "google" in value:
        return "must not contain the word 'google'"
    return None


#: Fields whose default is computed from another field (see cookiecutter.json).
DERIVED_FROM = {"src_package_name": "repo_name", "src_package_name_short": "src_package_name"}


def derive(field: str, parent_value: str) -> str:
    """Compute a field's default from its parent, as cookiecutter.json does."""
    if field == "src_package_name":
        return parent_value.replace("-", "_")
    return "".join(part[0] for part in parent_value.split("_") if part)


def problems(answers: dict[str, str]) -> list[str]:
    """List one message per invalid answer."""
    checks = {
        "project_name": lambda v: check_text(v, 80) or (None if re.search(r"[A-Za-z]", v) else "must contain a letter"),
        "description": lambda v: check_text(v, 300),
        "repo_name": check_repo_name,
        "src_package_name": lambda v: check_identifier(v, 2, 40),
        "src_package_name_short": lambda v: check_identifier(v, 1, 20),
        "gcp_project_id": check_gcp_project_id,
        "author_name": lambda v: check_text(v, 100),
    }
    found = []
    invalid = set()
    for field, check in checks.items():
        parent = DERIVED_FROM.get(field)
        if parent in invalid and answers[field] == derive(field, answers[parent]):
            # The value was derived from a rejected answer: fixing that one fixes this.
            invalid.add(field)
            continue
        reason = check(answers[field])
        if reason:
            invalid.add(field)
            found.append(f"{field}: {answers[field]!r} {reason}")
    if answers["src_package_name_short"] == answers["src_package_name"] + "_fastapi":
        found.append("src_package_name_short: must differ from the API package name")
    return found


def main() -> int:
    """Print every problem and return the exit status."""
    found = problems(ANSWERS)
    for line in found:
        print(f"Invalid input {line}", file=sys.stderr)
    if found:
        print(f"Generation stopped: {len(found)} invalid input(s); no project was written.", file=sys.stderr)
        sys.stderr.flush()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
