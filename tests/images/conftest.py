"""Fixtures of the image tests: the engine, the stand-in bases, one bake, every image built.

These tests need a Docker engine and PostgreSQL. Outside CI a missing one skips with one
line; with ``CI=true`` it fails. Everything they make (containers, volumes, images, databases)
carries the test label or a test name and is removed at the end, also on failure. Set
``KEEP_TEST_IMAGES=1`` to keep the built images between runs while working on the tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker_guide
import pytest
from helpers import TEMPLATE_DIR, bake

ENGINE_SCRIPT = TEMPLATE_DIR / "tools" / "docker_engine.sh"
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}


def missing(reason: str) -> None:
    """Skip outside CI, fail under ``CI=true``: CI must not go green without the service."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(reason)


def sh(command: str, *, cwd: Path | None = None, env: dict[str, str] | None = None,
       timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a bash command line; on failure raise with its output."""
    result = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"exit {result.returncode}: {command}\n--- stdout\n{result.stdout[-4000:]}"
            f"\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


def psql(sql: str, database: str = "postgres") -> str:
    """Run one SQL statement on the local PostgreSQL; return its unaligned output."""
    return sh(
        f"psql -X -qAt -v ON_ERROR_STOP=1 -h {PG['host']} -p {PG['port']} -U {PG['user']} "
        f"-d {database} -c \"{sql}\""
    ).stdout.strip()


@dataclass
class Built:
    """The baked project and its images, by Dockerfile, with build timings."""

    project: Path
    readme: str
    tags: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)

    def tag(self, dockerfile_suffix: str) -> str:
        """The tag built from the Dockerfile whose name ends with ``dockerfile_suffix``."""
        (tag,) = [t for f, t in self.tags.items() if f.endswith(dockerfile_suffix)]
        return tag


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A Docker engine that answers, with the stand-in base images made (once, then kept)."""
    engine = subprocess.run(["bash", str(ENGINE_SCRIPT), "engine"], capture_output=True,
                            text=True, timeout=900, check=False)
    if engine.returncode != 0:
        missing(f"no Docker engine: {engine.stdout.strip() or engine.stderr.strip()}")
    bases = subprocess.run(["bash", str(ENGINE_SCRIPT), "bases"], capture_output=True,
                           text=True, timeout=900, check=False)
    assert bases.returncode == 0, f"stand-in bases failed:\n{bases.stdout}\n{bases.stderr}"


@pytest.fixture(scope="session")
def postgres() -> None:
    """The local PostgreSQL answers (the MLflow server and the shared study use it)."""
    if shutil.which("psql") is None:
        missing("no psql client: PostgreSQL tests need it")
    answer = subprocess.run(["pg_isready", "-q", "-h", PG["host"], "-p", PG["port"]], check=False)
    if answer.returncode != 0:
        missing(f"PostgreSQL does not answer on {PG['host']}:{PG['port']}")


@pytest.fixture(scope="session")
def databases(postgres: None) -> Iterator[dict[str, str]]:
    """Two fresh databases (MLflow's store, the Optuna study), dropped at the end."""
    suffix = uuid.uuid4().hex[:8]
    names = {"mlflow": f"aisg_image_test_mlflow_{suffix}", "optuna": f"aisg_image_test_optuna_{suffix}"}
    try:
        for name in names.values():
            psql(f"CREATE DATABASE {name}")
        yield {key: f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
               for key, name in names.items()}
    finally:
        for name in names.values():
            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def remove_test_objects(keep_images: bool) -> None:
    """Remove every container and volume with the test label (and the images, unless kept)."""
    label = f"label={docker_guide.TEST_LABEL}"
    sh(f"docker ps -aq --filter {label} | xargs -r docker rm -f", check=False)
    sh(f"docker volume ls -q --filter {label} | xargs -r docker volume rm -f", check=False)
    if not keep_images:
        sh(f"docker images -q --filter {label} | sort -u | xargs -r docker rmi -f", check=False)
        sh("docker image prune -f --filter label=" + docker_guide.TEST_LABEL, check=False)


@pytest.fixture(scope="session")
def built(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """A default bake with every image built by the guide's own ``docker build`` lines."""
    project = bake(tmp_path_factory.mktemp("images"))
    readme = (project / "README.md").read_text(encoding="utf-8")
    builds = docker_guide.builds(readme)
    dockerfiles = sorted(f"docker/{p.name}" for p in (project / "docker").glob("*.Dockerfile"))
    assert sorted(builds) == dockerfiles, "the guide must show a docker build for every Dockerfile"
    result = Built(project, readme, {f: c.image for f, c in builds.items()})
    keep = os.environ.get("KEEP_TEST_IMAGES") == "1"
    try:
        for dockerfile, command in builds.items():
            started = time.perf_counter()
            sh(docker_guide.for_test(command), cwd=project, env={"DOCKER_BUILDKIT": "0"}, timeout=1800)
            result.seconds[dockerfile] = time.perf_counter() - started
            print(f"built {command.image} in {result.seconds[dockerfile]:.0f} s", flush=True)
        yield result
    finally:
        remove_test_objects(keep)
        if not keep:
            for tag in result.tags.values():
                sh(f"docker rmi -f {tag}", check=False)
