"""Shared helpers for the template tests: baking, running commands, venvs."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
TEMPLATE_PROJECT_DIR = TEMPLATE_DIR / "{{cookiecutter.repo_name}}"
TOOLS_BIN = Path(sys.executable).parent

#: Answers that a user of the defaults gets; tests override single fields.
DEFAULT_CONTEXT: dict[str, str] = {}


def bake(output_dir: Path, **extra_context: str) -> Path:
    """Generate a project from the template without prompts and return its path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    project = cookiecutter(
        str(TEMPLATE_DIR),
        no_input=True,
        extra_context={**DEFAULT_CONTEXT, **extra_context},
        output_dir=str(output_dir),
    )
    return Path(project)


def run(
    args: list[str | os.PathLike[str]],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output, and fail with that output when it fails."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"command failed ({result.returncode}): {' '.join(map(str, args))}\n"
            f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
        )
    return result


def create_venv(path: Path) -> Path:
    """Create a virtual environment with pip and return its bin directory."""
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    bin_dir = path / "bin"
    run([bin_dir / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    return bin_dir
