"""Helpers for the serving tests: a tiny real model and real servers.

Not a test module: the tests import it (pytest puts ``src/tests`` on ``sys.path``).
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI

from {{ cookiecutter.src_package_name }}.modeling import model_io
from {{ cookiecutter.src_package_name }}.modeling.nbsvm import fit_nbsvm
from {{ cookiecutter.src_package_name }}.modeling.predictor import DecisionRule
from {{ cookiecutter.src_package_name }}.modeling.training_config import NbsvmConfig

#: The guide's request body.
GUIDE_REQUEST = {
    "reviews": [
        {"id": 9176, "text": "This movie is quite boring."},
        {"id": 71, "text": "This movie is awesome."},
    ]
}

_POSITIVE = [
    "An awesome movie, great acting and a wonderful plot.",
    "I loved it. Brilliant, fun and moving.",
    "A wonderful film, awesome from start to end.",
    "Great fun, great cast, loved every minute.",
    "Brilliant direction and an awesome <b>score</b>.",
    "This movie is great and the story is wonderful.",
]
_NEGATIVE = [
    "A boring movie, awful acting and a dull plot.",
    "I hated it. Terrible, dull and quite boring.",
    "An awful film, boring from start to end.",
    "Bad fun, bad cast, hated every minute.",
    "Terrible direction and a boring <br /> score.",
    "This movie is awful and the story is quite boring.",
]


_SPORTS = [
    "A great match: the team scored a late goal.",
    "The coach praised the striker after the league game.",
    "The season ends with a derby match and a goal.",
    "The team won the league, the coach is happy.",
]
_BUSINESS = [
    "Shares rose as the bank reported a profit.",
    "Investors welcome the merger, revenue is up.",
    "The market fell, the bank lost shares value.",
    "Profit and revenue beat what investors expected.",
]
_TECH = [
    "The startup ships a new chip for phones.",
    "A cloud browser for software developers.",
    "The robot runs new software on a small chip.",
    "Phones get a faster browser and cloud storage.",
]
#: The labels of the tiny models, in their probability columns' order.
TINY_LABELS = {"binary": ("negative", "positive"), "three": ("business", "sports", "tech")}
#: Texts of each label (binary: the guide's sentiment; three: news topics).
TINY_TEXTS = {
    "binary": {"negative": _NEGATIVE, "positive": _POSITIVE},
    "three": {"business": _BUSINESS, "sports": _SPORTS, "tech": _TECH},
}
#: NBSVM settings of the tiny models: small and quick.
TINY_NBSVM = NbsvmConfig(kind="nbsvm", ngram_max=2, hash_bits=16, C=10.0, nb_alpha=1.0,
                         max_iter=1000, refit_on_all_train=False)


def fit_tiny_model(labels: str = "binary"):  # returns a scikit-learn Pipeline
    """Fit the project's NBSVM on a dozen texts; the columns follow :data:`TINY_LABELS`."""
    texts, codes = [], []
    for code, label in enumerate(TINY_LABELS[labels]):
        texts += TINY_TEXTS[labels][label]
        codes += [code] * len(TINY_TEXTS[labels][label])
    return fit_nbsvm(texts, np.array(codes), TINY_NBSVM)


def save_tiny_model(path: Path, labels: str = "binary") -> Path:
    """Save the tiny model in the project's MLflow flavour into ``path`` and return it."""
    rule = DecisionRule(TINY_LABELS[labels])
    model_io.save_model(fit_tiny_model(labels), path, rule.as_dict())
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answering(
    url: str, process: subprocess.Popen, log: Path, timeout: float = 90.0
) -> None:
    """Wait until a server started as ``process`` answers ``url`` with 200.

    Fails the test, with the end of the server's ``log``, when the process exits
    or ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"the server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:  # not listening yet, or 503 while it loads
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer in {timeout:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@contextmanager
def running_server(app: FastAPI, timeout: float = 30.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port in a thread; yield its base URL.

    The lifespan runs as in production, so the model is loaded by the app itself.
    """
    import uvicorn  # pylint: disable=import-outside-toplevel

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server stopped during start-up")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
