"""Check that the MLflow server's backend store answers, then start the server.

Used as the MLflow image's entry point: ``python mlflow_backend_check.py -- <command...>``.
A database that refuses the connection (wrong password, unknown host or database) stops the
container with one line naming ``MLFLOW_BACKEND_STORE_URI`` and the reason, the password
masked, instead of tracebacks from every server worker. File stores (``sqlite``, folders)
are left to MLflow.
"""

from __future__ import annotations

import os
import sys

import sqlalchemy
from sqlalchemy.engine import make_url

SERVER_DATABASES = ("postgresql", "mysql", "mssql")


def backend_store_problem(uri: str) -> str | None:
    """Why the database named by ``uri`` cannot be used, or None when it answers."""
    if not uri.startswith(SERVER_DATABASES):
        return None
    url = make_url(uri)
    connect_args = {"connect_timeout": 10} if url.get_backend_name() == "postgresql" else {}
    try:
        engine = sqlalchemy.create_engine(url, connect_args=connect_args)
        with engine.connect():
            pass
        engine.dispose()
    except sqlalchemy.exc.SQLAlchemyError as error:
        reason = " ".join(str(getattr(error, "orig", None) or error).split())
        if url.password:
            reason = reason.replace(str(url.password), "***")
        return f"cannot connect to {url.render_as_string(hide_password=True)}: {reason}"
    return None


def main() -> None:
    """Check the backend store, then replace this process with the command after ``--``."""
    command = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    problem = backend_store_problem(os.environ.get("MLFLOW_BACKEND_STORE_URI", ""))
    if problem:
        print(f"MLflow server not started: MLFLOW_BACKEND_STORE_URI {problem}", file=sys.stderr)
        sys.exit(2)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
