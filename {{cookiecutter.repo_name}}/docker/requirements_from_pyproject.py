"""Print the pinned requirements that pyproject.toml declares, one per line.

Images install these before the source is copied in, so a code change does not
invalidate the (large, slow) dependency layer, and pyproject.toml stays the one
place where versions are pinned.

Standard library only, on purpose: it runs in a fresh venv before anything is
installed (the images' dependency stage, the CI docs job), where ``packaging`` is not
importable. The name rule below is PEP 508's name followed by PEP 503's normalisation,
which is what ``packaging.utils.canonicalize_name(Requirement(r).name)`` returns for
the requirement strings of ``pyproject.toml``.

Usage::

    python requirements_from_pyproject.py pyproject.toml [--extras gcp,postgres] [--only mlflow]
    python requirements_from_pyproject.py pyproject.toml --no-main --extras docs
"""

from __future__ import annotations

import argparse
import re
import tomllib


def requirement_name(requirement: str) -> str:
    """Return the normalised distribution name of a requirement string."""
    name = re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> None:
    """Parse the arguments and print the selected requirements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject")
    parser.add_argument("--extras", default="", help="comma-separated optional-dependency groups")
    parser.add_argument("--only", default="", help="comma-separated names kept from the main list")
    parser.add_argument("--no-main", action="store_true", help="leave out the main list entirely")
    args = parser.parse_args()

    with open(args.pyproject, "rb") as handle:
        project = tomllib.load(handle)["project"]
    only = {requirement_name(name) for name in args.only.split(",") if name}
    requirements = [
        req
        for req in ([] if args.no_main else project["dependencies"])
        if not only or requirement_name(req) in only
    ]
    if only and len({requirement_name(req) for req in requirements}) != len(only):
        parser.error(f"--only names not all in [project.dependencies]: {sorted(only)}")
    optional = project.get("optional-dependencies", {})
    for extra in filter(None, args.extras.split(",")):
        if extra not in optional:
            parser.error(f"unknown extra {extra!r}; pyproject.toml defines {sorted(optional)}")
        requirements.extend(optional[extra])
    print("\n".join(dict.fromkeys(requirements)))


if __name__ == "__main__":
    main()
