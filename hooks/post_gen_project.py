"""Finish the generated project: deterministic, offline, safe to run twice.

cruft re-runs this hook in a temporary directory on every update, so it only
removes files that the chosen options exclude.
"""

from pathlib import Path

LICENSE_CHOICE = {{ cookiecutter.open_source_license | jsonify }}


def main() -> None:
    """Remove the files that the answers exclude."""
    if LICENSE_CHOICE == "No license file":
        Path("LICENSE").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
