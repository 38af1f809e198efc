"""One redaction of URL secrets for logs, MLflow params and tags, errors and API answers.

:func:`redact` masks, in every ``scheme://`` URL of a text, the password of its user part
(``postgresql://user:***@host/db``) and its whole query and fragment (``?***``, ``#***``):
signed URLs (``?X-Goog-Signature=...``, ``?token=...``) and database URLs
(``?password=...``) carry their credentials there. :func:`redact_secrets_in_logs` applies it
to every log record of the process.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"
_SCHEME = r"\b[a-zA-Z][\w+.-]*://"
#: The password may hold ``/`` or ``:`` (not allowed in a URL, accepted by SQLAlchemy).
_PASSWORD = re.compile(rf"(?P<keep>{_SCHEME}[^\s:/@]*):[^\s@]+@")
_QUERY = re.compile(rf"(?P<keep>{_SCHEME}[^\s?#]*)\?[^\s#]+")
_FRAGMENT = re.compile(rf"(?P<keep>{_SCHEME}[^\s#]*)#\S+")


def redact(text: str) -> str:
    """``text`` with the password, query and fragment of each URL in it masked.

    Examples
    --------
    >>> redact("Storage: postgresql+psycopg2://optuna:s3cret@db:5432/optuna")
    'Storage: postgresql+psycopg2://optuna:***@db:5432/optuna'
    >>> redact("https://bucket.example/model.tar?X-Goog-Signature=abc")
    'https://bucket.example/model.tar?***'
    >>> redact("models:/sentiment@champion")
    'models:/sentiment@champion'
    """
    text = _PASSWORD.sub(lambda m: f"{m.group('keep')}:{MASK}@", text)
    text = _QUERY.sub(lambda m: f"{m.group('keep')}?{MASK}", text)
    return _FRAGMENT.sub(lambda m: f"{m.group('keep')}#{MASK}", text)


def redact_secrets_in_logs() -> None:
    """Redact URL secrets from every log record this process creates, whatever its logger.

    A record factory (not a handler filter) survives the logging reconfiguration
    Hydra does for each job, and covers libraries that log URLs themselves (the
    Optuna sweeper logs its storage URL). Installing it twice is a no-op.
    """
    current = logging.getLogRecordFactory()
    if getattr(current, "redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        message = record.getMessage()
        if "://" in message and (cleaned := redact(message)) != message:
            record.msg, record.args = cleaned, None
        return record

    factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
