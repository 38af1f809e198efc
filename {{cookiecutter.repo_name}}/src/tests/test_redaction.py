"""One redaction for every place a URL is shown: what must be hidden is hidden, the rest kept."""

from __future__ import annotations

import logging

import pytest

from {{ cookiecutter.src_package_name }}.redaction import redact, redact_secrets_in_logs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A database URL in a log line; the password may hold "/" or ":".
        ("Storage: postgresql+psycopg2://optuna:s3cr/et@db:5432/optuna",
         "Storage: postgresql+psycopg2://optuna:***@db:5432/optuna"),
        ("http://user:pa:ss@mlflow:5005 and sqlite:///x.db?uri=true&password=s3cret&mode=ro",
         "http://user:***@mlflow:5005 and sqlite:///x.db?***"),
        # A signed download URL in an error message (data_prep.fetch).
        ("Could not download https://u:pw@host/a.tar.gz?X-Goog-Signature=abc (timed out)",
         "Could not download https://u:***@host/a.tar.gz?*** (timed out)"),
        ("gs://bucket/model#frag-secret", "gs://bucket/model#***"),
        ("http://u:pw@h/x?token=abc#f", "http://u:***@h/x?***#***"),
        # Nothing secret: unchanged.
        ("postgresql://user@host/db gs://bucket/a=b", "postgresql://user@host/db gs://bucket/a=b"),
        ("models:/sentiment@champion runs:/abc/model /data/x.tar.gz?",
         "models:/sentiment@champion runs:/abc/model /data/x.tar.gz?"),
    ],
)
def test_redact_masks_url_passwords_queries_and_fragments(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_log_records_of_any_logger_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    redact_secrets_in_logs()
    redact_secrets_in_logs()  # twice: still one redaction
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.library").info("Storage: %s", "postgresql://u:s3cret@db/optuna")
    assert caplog.messages == ["Storage: postgresql://u:***@db/optuna"]
