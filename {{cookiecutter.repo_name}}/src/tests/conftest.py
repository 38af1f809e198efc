"""Shared fixtures for the {{ cookiecutter.project_name }} tests.

Services: a test that needs PostgreSQL takes the ``postgres_url`` fixture. When
the server is missing the test is skipped, with the reason, on a workstation,
and it FAILS when the environment variable ``CI`` is true (GitLab and most CI
services set it), so a CI run cannot go green by skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pipeline_testkit import service_missing

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
    from pipeline_testkit import start_tracking_server, stop_process
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
