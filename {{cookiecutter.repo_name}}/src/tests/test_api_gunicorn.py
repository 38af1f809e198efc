"""End to end: the guide's gunicorn command and curl request, on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from serving_support import GUIDE_REQUEST, free_port, save_tiny_model, wait_until_answering

pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[1]
ENTRYPOINT = SRC.parent / "scripts" / "api-entrypoint.sh"
GUNICORN = Path(sys.executable).parent / "gunicorn"
APP = "{{ cookiecutter.src_package_name }}_fastapi.main:APP"
WORKERS = ["uvicorn.workers.UvicornWorker", "uvicorn_worker.UvicornWorker"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real model in MLflow's format."""
    return save_tiny_model(tmp_path_factory.mktemp("model") / "model")


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRED_MODEL_", "API_"))}
    # gunicorn 26 keeps a control socket under ~/.gunicorn: keep it in the test's folder.
    return {**env, "HOME": str(tmp_path), **values}


def _stop(process: subprocess.Popen) -> None:
    """Stop gunicorn by its PID (it stops its workers), forcefully if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@contextmanager
def gunicorn(worker_class: str, env: dict[str, str], log: Path) -> Iterator[tuple[str, Path]]:
    """``cd src && gunicorn <pkg>_fastapi.main:APP -b 127.0.0.1:<port> -w 2 -k <worker>``."""
    port = free_port()
    args = [str(GUNICORN), APP, "-b", f"127.0.0.1:{port}", "-w", "2", "-k", worker_class]
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, cwd=SRC, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/api/v1/health/ready", process, log)
        yield url, log
    finally:
        _stop(process)


def _wait_for(log: Path, text: str, count: int, timeout: float = 90.0) -> None:
    """Wait until ``log`` holds ``text`` ``count`` times, or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while log.read_text().count(text) < count and time.monotonic() < deadline:
        time.sleep(0.2)


def _guide_curl(url: str) -> dict:
    """The guide's curl request (real curl when installed, else httpx)."""
    body = json.dumps(GUIDE_REQUEST)
    curl = shutil.which("curl")
    if curl:
        result = subprocess.run(
            [curl, "-sS", "-H", "Content-Type: application/json", "-H", "accept: application/json",
             "-X", "POST", "-d", body, f"{url}/api/v1/model/predict"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return json.loads(result.stdout)
    response = httpx.post(
        f"{url}/api/v1/model/predict",
        content=body,
        headers={"Content-Type": "application/json", "accept": "application/json"},
        timeout=30,
    )
    return response.json()


@pytest.mark.parametrize("worker_class", WORKERS)
def test_guide_command_serves_the_guide_request(
    worker_class: str, model_dir: Path, tmp_path: Path
) -> None:
    env = _env(tmp_path, PRED_MODEL_PATH=str(model_dir), PRED_MODEL_UUID="0123abcd")
    with gunicorn(worker_class, env, tmp_path / "gunicorn.log") as (url, log):
        answer = _guide_curl(url)
        assert [(d["review_id"], d["label"]) for d in answer["data"]] == [
            (9176, "negative"),
            (71, "positive"),
        ]
        assert all(list(d["probabilities"]) == ["negative", "positive"] for d in answer["data"])
        version = httpx.get(f"{url}/api/v1/model/version", timeout=10).json()["data"]
        assert (version["run_id"], version["labels"]) == ("0123abcd", ["negative", "positive"])
        assert httpx.get(f"{url}/docs", timeout=10).status_code == 200
        schema = httpx.get(f"{url}/api/v1/openapi.json", timeout=10).json()
        assert "/api/v1/model/predict" in schema["paths"]
        # One worker answering is not both loaded: on a busy machine the other starts later.
        _wait_for(log, "Model loaded from PRED_MODEL_PATH=", count=2)
    text = log.read_text()
    assert text.count("Model loaded from PRED_MODEL_PATH=") == 2  # once per worker
    assert "POST /api/v1/model/predict 200" in text


def test_the_shipped_entrypoint_logs_no_query_string_and_no_forged_line(
    model_dir: Path, tmp_path: Path
) -> None:
    # The container's command, with its gunicorn flags: whatever access logging they
    # turn on must keep query strings (tokens) out and escape %0A in paths.
    port = free_port()
    env = _env(
        tmp_path, PRED_MODEL_PATH=str(model_dir), GUNICORN=str(GUNICORN),
        API_HOST="127.0.0.1", API_PORT=str(port), API_WORKERS="1",
    )  # fmt: skip
    log = tmp_path / "entrypoint.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", str(ENTRYPOINT)], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/api/v1/health/ready", process, log)
        answer = httpx.post(
            f"{url}/api/v1/model/predict?token=s3cr3t-in-query", json=GUIDE_REQUEST, timeout=10
        )
        assert answer.status_code == 200, answer.text
        httpx.get(f"{url}/api/v1/x%0aFORGED%20LINE%20200", timeout=10)
    finally:
        _stop(process)  # then the log holds every line the server wrote
    text = log.read_text()
    assert "POST /api/v1/model/predict 200 " in text
    assert "s3cr3t-in-query" not in text
    assert not [line for line in text.splitlines() if line.startswith("FORGED")], text
    assert "/api/v1/x\\nFORGED LINE 200 404 " in text


def test_missing_model_stops_gunicorn_with_one_clear_line(tmp_path: Path) -> None:
    env = _env(tmp_path, PRED_MODEL_PATH=str(tmp_path / "no-model-here"))
    args = [str(GUNICORN), APP, "-b", f"127.0.0.1:{free_port()}", "-w", "2",
            "-k", "uvicorn_worker.UvicornWorker"]  # fmt: skip
    process = subprocess.Popen(
        args, cwd=SRC, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=90)
    finally:
        _stop(process)
    assert process.returncode != 0
    lines = [line for line in output.splitlines() if "Cannot start the API" in line]
    assert lines, output
    assert all(f"PRED_MODEL_PATH='{tmp_path / 'no-model-here'}'" in line for line in lines)
    # When both workers fail at the same moment, gunicorn's arbiter itself sometimes
    # prints a HaltServer traceback (a race in gunicorn 26). The API must add no
    # traceback of its own: no frame from the app, Starlette or uvicorn.
    frames = [line.strip() for line in output.splitlines() if line.strip().startswith('File "')]
    assert all("/gunicorn/" in frame or "bin/gunicorn" in frame for frame in frames), output


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not run on Windows")
def test_workers_get_the_fast_event_loop_and_http_parser() -> None:
    # The worker classes ask uvicorn for loop="auto" and http="auto": these must find
    # uvloop and httptools, which take about a fifth off the CPU of each request.
    # pylint: disable=import-outside-toplevel
    from uvicorn.loops.auto import auto_loop_factory
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    assert AutoHTTPProtocol.__name__ == "HttpToolsProtocol"
    loop = auto_loop_factory()()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()
