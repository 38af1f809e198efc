"""Fixtures of the image tests: the engine, the stand-in bases, one bake, every image built.

These tests need a Docker engine and PostgreSQL. Outside CI a missing one skips with one
line; with ``CI=true`` it fails. Everything they make (containers, volumes, images, databases)
carries the test label or a test name and is removed at the end, also on failure. Set
``KEEP_TEST_IMAGES=1`` to keep the built images between runs while working on the tests, and
``IMAGE_TESTS_ONLY=<part>,<part>`` to build only the Dockerfiles whose names contain a part
(select the matching tests with ``-k``); CI sets neither.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
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
    outputs: dict[str, str] = field(default_factory=dict)

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


@contextlib.contextmanager
def fresh_databases(prefix: str) -> Iterator[dict[str, str]]:
    """Two new databases (MLflow's store, the Optuna study) by URL, dropped at the end."""
    suffix = uuid.uuid4().hex[:8]
    names = {"mlflow": f"{prefix}_mlflow_{suffix}", "optuna": f"{prefix}_optuna_{suffix}"}
    try:
        for name in names.values():
            psql(f"CREATE DATABASE {name}")
        # "+psycopg2": SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which the images lack.
        yield {key: f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
               for key, name in names.items()}
    finally:
        for name in names.values():
            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def databases(postgres: None) -> Iterator[dict[str, str]]:
    """Two fresh databases (MLflow's store, the Optuna study), dropped at the end."""
    with fresh_databases("aisg_image_test") as urls:
        yield urls


def remove_test_objects(keep_images: bool) -> None:
    """Remove every container and volume with the test label (and the images, unless kept)."""
    label = f"label={docker_guide.TEST_LABEL}"
    sh(f"docker ps -aq --filter {label} | xargs -r docker rm -f", check=False)
    sh(f"docker volume ls -q --filter {label} | xargs -r docker volume rm -f", check=False)
    if not keep_images:
        sh(f"docker images -q --filter {label} | sort -u | xargs -r docker rmi -f", check=False)
        sh("docker image prune -f --filter label=" + docker_guide.TEST_LABEL, check=False)


#: Where machines of this project keep a CPU build of torch for Python 3.11 (see the report).
LOCAL_WHEELS = Path(os.environ.get("TORCH_WHEELS_DIR", "/opt/wheels"))


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    """Serve a folder without a log line per request."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def gpu_build_args(stack: contextlib.ExitStack) -> dict[str, str]:
    """Build args of the GPU image: a loopback URL of the local CPU torch wheel, if any.

    The real build installs PyPI's CUDA build of torch (several GB of wheels); the test
    builds the same Dockerfile with a CPU wheel found first, a stand-in that keeps the build
    within CI's time. Without a local wheel the build downloads what the Dockerfile asks for.
    """
    if not any(LOCAL_WHEELS.glob("torch-*.whl")):
        return {}
    handler = partial(QuietFiles, directory=str(LOCAL_WHEELS))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack.callback(server.server_close)
    stack.callback(server.shutdown)
    return {"TORCH_FIND_LINKS": f"http://127.0.0.1:{server.server_address[1]}/"}


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
    stack = contextlib.ExitStack()
    # The builds' intermediate stages are untagged images without the label: remember what
    # existed, so that only the ones this run made are removed.
    before = set(sh("docker images -aq --no-trunc").stdout.split())
    try:
        # The runtime images first (they share one dependency layer), the workspaces last.
        only = [part for part in os.environ.get("IMAGE_TESTS_ONLY", "").split(",") if part]
        for dockerfile, command in sorted(builds.items(), key=lambda item: ('-poly-' in item[0], 'gpu' in item[0], item[0])):
            if only and not any(part in dockerfile for part in only):
                continue  # working on the tests: IMAGE_TESTS_ONLY limits the builds (and use -k)
            started = time.perf_counter()
            build_args = gpu_build_args(stack) if "gpu" in dockerfile else None
            line = docker_guide.for_test(command, build_args=build_args)
            result.outputs[dockerfile] = sh(line, cwd=project, env={"DOCKER_BUILDKIT": "0"}, timeout=1800).stdout
            result.seconds[dockerfile] = time.perf_counter() - started
            print(f"built {command.image} in {result.seconds[dockerfile]:.0f} s", flush=True)
        yield result
    finally:
        stack.close()
        remove_test_objects(keep)
        if not keep:
            for tag in result.tags.values():
                sh(f"docker rmi -f {tag}", check=False)
            dangling = set(sh("docker images -aq --no-trunc --filter dangling=true").stdout.split())
            for image in sorted(dangling - before):
                sh(f"docker rmi -f {image}", check=False)


@pytest.fixture(scope="session")
def password_postgres() -> Iterator[int]:
    """A throwaway PostgreSQL cluster that checks passwords (scram), on a free loopback port.

    The machine's own server trusts every local connection, so a wrong password could not
    be refused there. Needs the PostgreSQL server binaries and root (it runs as ``postgres``).
    """
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bins or os.geteuid() != 0 or shutil.which("runuser") is None:
        missing("no PostgreSQL server binaries (or not root) for a password-checking cluster")
    bin_dir = bins[-1].parent
    # Not under pytest's tmp folder: that one is private to root, and the server runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="aisg-image-test-pg-"))
    shutil.chown(folder, "postgres")
    (folder / "pw").write_text("the-right-password\n", encoding="utf-8")
    shutil.chown(folder / "pw", "postgres")
    port = free_port()
    as_postgres = "runuser -u postgres --"
    sh(f"{as_postgres} {bin_dir}/initdb -D {folder}/data -U postgres --auth=scram-sha-256 "
       f"--pwfile={folder}/pw")
    sh(f"{as_postgres} {bin_dir}/pg_ctl -D {folder}/data -l {folder}/log -w "
       f"-o '-p {port} -k {folder} -c listen_addresses=127.0.0.1' start")
    try:
        yield port
    finally:
        sh(f"{as_postgres} {bin_dir}/pg_ctl -D {folder}/data -m immediate stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    """A TCP port nothing listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
