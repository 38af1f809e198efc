"""The REST API through a real HTTP client against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import ValidationError
from serving_support import (
    GUIDE_REQUEST,
    TINY_LABELS,
    TINY_TEXTS,
    fit_tiny_model,
    running_server,
    save_tiny_model,
)

from {{ cookiecutter.src_package_name }}.modeling import model_io
from {{ cookiecutter.src_package_name }}.modeling.predictor import DecisionRule, ModelInfo, Predictor
from {{ cookiecutter.src_package_name }}.redaction import redact
from {{ cookiecutter.src_package_name }}_fastapi.config import ModelSettingError, Settings
from {{ cookiecutter.src_package_name }}_fastapi.deps import get_predictor
from {{ cookiecutter.src_package_name }}_fastapi.main import create_app
from {{ cookiecutter.src_package_name }}_fastapi.v1.routers import model

PREDICT = "/api/v1/model/predict"
VERSION = "/api/v1/model/version"
REQUESTS_LOGGER = "{{ cookiecutter.src_package_name }}_fastapi.requests"
#: Small limits so that every refusal is cheap to provoke.
LIMITS = {"API_MAX_REVIEWS": 5, "API_MAX_REVIEW_CHARS": 300, "API_MAX_BODY_BYTES": 4096}
GUIDE_TEXTS = [review["text"] for review in GUIDE_REQUEST["reviews"]]
#: Run in a fresh interpreter: importing the app must not need a model.
IMPORT_PROBE = "import {{ cookiecutter.src_package_name }}_fastapi.main as m; print(type(m.APP).__name__)"


def make_settings(**values: Any) -> Settings:
    """Settings that ignore any PRED_MODEL_* variables of the calling shell."""
    model = {"PRED_MODEL_URI": None, "PRED_MODEL_PATH": None, "PRED_MODEL_UUID": None}
    return Settings(**{**model, **values})


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny real model of each label set (binary, three), in MLflow's format."""
    root = tmp_path_factory.mktemp("models")
    return {labels: save_tiny_model(root / labels, labels=labels) for labels in TINY_LABELS}


@pytest.fixture(scope="module")
def model_dir(model_dirs: dict[str, Path]) -> Path:
    """The binary model: the guide's sentiment problem."""
    return model_dirs["binary"]


@pytest.fixture(scope="module")
def base_url(model_dir: Path) -> Iterator[str]:
    """A server whose lifespan loads the tiny model from PRED_MODEL_PATH."""
    settings = make_settings(PRED_MODEL_PATH=str(model_dir), **LIMITS)
    with running_server(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module", params=list(TINY_LABELS))
def served(
    request: pytest.FixtureRequest, model_dirs: dict[str, Path]
) -> Iterator[tuple[str, str]]:
    """``(label set, base URL)``: a server of the binary model, then one of the three-label one."""
    settings = make_settings(PRED_MODEL_PATH=str(model_dirs[request.param]))
    with running_server(create_app(settings)) as url:
        yield request.param, url


@pytest.fixture()
def client(base_url: str) -> Iterator[httpx.Client]:
    """An HTTP client of the running server."""
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        yield http


def _check_answer(item: dict[str, Any], labels: tuple[str, ...]) -> None:
    """Every label's probability, in the model's order, summing to 1; the label is the argmax."""
    probabilities = item["probabilities"]
    assert list(probabilities) == list(labels)
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-9)
    assert item["label"] == max(probabilities, key=probabilities.get)
    assert item["probability"] == probabilities[item["label"]]


def test_guide_request_gets_every_labels_probability(served: tuple[str, str]) -> None:
    labels, url = served
    response = httpx.post(url + PREDICT, json=GUIDE_REQUEST, headers={"accept": "application/json"},
                          timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [item["review_id"] for item in data] == [9176, 71]
    for item in data:
        _check_answer(item, TINY_LABELS[labels])
    expected = fit_tiny_model(labels).predict_proba(GUIDE_TEXTS)  # the texts hold no markup
    served_probabilities = [list(item["probabilities"].values()) for item in data]
    np.testing.assert_allclose(served_probabilities, expected, rtol=1e-9)


def test_guide_request_answer_of_the_binary_model(client: httpx.Client) -> None:
    data = client.post(PREDICT, json=GUIDE_REQUEST).json()["data"]
    assert [item["label"] for item in data] == ["negative", "positive"]
    # P(positive) worked out by hand from the tiny model's weights: the logistic of
    # w . x + b over the text's n-gram indicators (the texts hold no markup to clean).
    tiny = fit_tiny_model()
    vectorizer, classifier = tiny[0], tiny[-1]
    scores = vectorizer.transform(GUIDE_TEXTS) @ classifier.coef_.ravel() + classifier.intercept_[0]
    expected = 1.0 / (1.0 + np.exp(-scores))
    positive = [item["probabilities"]["positive"] for item in data]
    np.testing.assert_allclose(positive, expected, rtol=1e-9)
    np.testing.assert_allclose([item["probability"] for item in data],
                               [1.0 - expected[0], expected[1]], rtol=1e-9)  # fmt: skip


def test_answers_keep_request_order_and_ids_may_repeat(served: tuple[str, str]) -> None:
    # Each text is one the model was fitted on, so its label is known; the ids repeat
    # (the schema allows it: a client's ids are its own business) and the labels cycle.
    labels, url = served
    order = [*TINY_LABELS[labels][::-1], *TINY_LABELS[labels]]
    texts = [TINY_TEXTS[labels][label][i // 2] for i, label in enumerate(order)]
    reviews = [{"id": 7 if i % 2 else -3, "text": f"<p>{text}</p>"} for i, text in enumerate(texts)]
    response = httpx.post(url + PREDICT, json={"reviews": reviews}, timeout=10)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [item["review_id"] for item in data] == [review["id"] for review in reviews]
    assert [item["label"] for item in data] == order
    for item in data:
        _check_answer(item, TINY_LABELS[labels])


def test_version_lists_the_labels_and_the_rule(
    served: tuple[str, str], model_dirs: dict[str, Path]
) -> None:
    labels, url = served
    response = httpx.get(url + VERSION, timeout=10)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["uri"] == str(model_dirs[labels])
    assert (data["labels"], data["positive_label"], data["threshold"]) == (
        list(TINY_LABELS[labels]), None, 0.5)  # fmt: skip
    assert set(data) == {"uri", "run_id", "registered_name", "version", "alias", "labels",
                         "positive_label", "threshold"}  # fmt: skip


def test_a_binary_model_saved_with_a_threshold_is_served_by_its_rule(tmp_path: Path) -> None:
    # The rule travels with the model: a threshold above P(positive) of the guide's
    # positive review turns it negative, although positive has the larger probability.
    model = fit_tiny_model()
    positive = float(model.predict_proba(GUIDE_TEXTS[1:])[0, 1])
    assert positive > 0.5
    threshold = round((positive + 1.0) / 2.0, 6)
    rule = DecisionRule(TINY_LABELS["binary"], positive_label="positive", threshold=threshold)
    model_io.save_model(model, tmp_path / "model", rule.as_dict())
    with running_server(create_app(make_settings(PRED_MODEL_PATH=str(tmp_path / "model")))) as url:
        data = httpx.post(url + PREDICT, json=GUIDE_REQUEST, timeout=10).json()["data"]
        version = httpx.get(url + VERSION, timeout=10).json()["data"]
    assert [item["label"] for item in data] == ["negative", "negative"]
    assert data[1]["probabilities"]["positive"] == pytest.approx(positive, rel=1e-9)
    assert data[1]["probability"] == pytest.approx(1.0 - positive, rel=1e-9)  # of its label
    assert (version["positive_label"], version["threshold"]) == ("positive", threshold)


def test_health_and_ready(client: httpx.Client) -> None:
    assert client.get("/api/v1/health/live").json() == {"status": "ok"}
    ready = client.get("/api/v1/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


def test_openapi_and_docs_are_served(client: httpx.Client) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    assert PREDICT in schema["paths"]
    review = schema["components"]["schemas"]["Review"]["properties"]
    assert review["text"]["maxLength"] == LIMITS["API_MAX_REVIEW_CHARS"]
    assert "swagger" in client.get("/docs").text.lower()


def _review(i: int, text: str = "fine") -> dict[str, Any]:
    return {"id": i, "text": text}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"reviews": [_review(i) for i in range(6)]}, "at most 5"),
        ({"reviews": [_review(1, "a" * 301)]}, "at most 300 characters"),
        ({"reviews": []}, "at least 1"),
        ({"reviews": [_review(1, "")]}, "at least 1 character"),
        ({"reviews": [_review(1, " \n\t ")]}, "pattern"),
        ({"reviews": [{"id": True, "text": "fine"}]}, "valid integer"),
        ({"reviews": [{"id": "1", "text": "fine"}]}, "valid integer"),
        ({"reviews": [{"id": 1.0, "text": "fine"}]}, "valid integer"),
        ({"reviews": [{"id": 1, "text": 5}]}, "valid string"),
        ({"reviews": [{"id": 1}]}, "missing"),
        ({"reviews": [{"id": 1, "text": "fine", "label": 1}]}, "not permitted"),
        ({"review": [_review(1)]}, "missing"),
        ([_review(1)], "valid dictionary or object"),
        (None, "Field required"),
    ],
)
def test_bad_bodies_get_422_with_a_reason(client: httpx.Client, body: Any, reason: str) -> None:
    response = client.post(PREDICT, json=body)
    assert response.status_code == 422, response.text
    assert reason in response.text


@pytest.mark.parametrize(
    "content",
    [
        b'{"reviews": [{"id": 1, "text": "\\ud800 lone surrogate"}]}',
        b'{"reviews": [{"id": 1e400, "text": "x"}]}',
        b'{"reviews": NaN}',
        b'{"reviews": [{"id": 1, "text": "x"}], "extra": Infinity}',
    ],
)
def test_inputs_that_cannot_be_echoed_still_get_422(client: httpx.Client, content: bytes) -> None:
    response = client.post(PREDICT, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert all("input" not in error for error in response.json()["detail"])


@pytest.mark.parametrize("content", [b"{bad json", b'{"reviews": [', b"\xff\xfe", b""])
def test_malformed_json_is_a_client_error(client: httpx.Client, content: bytes) -> None:
    response = client.post(PREDICT, content=content, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"]


def test_empty_body_is_named_missing(client: httpx.Client) -> None:
    response = client.post(PREDICT, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"type": "missing", "loc": ["body"], "msg": "Field required"}
    ]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_body_not_sent_as_json_gets_415(client: httpx.Client, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post(PREDICT, content=json.dumps(GUIDE_REQUEST).encode(), headers=headers)
    assert response.status_code == 415, response.text
    assert "application/json" in response.json()["detail"]


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/vnd.api+json"]
)
def test_json_media_types_are_accepted(client: httpx.Client, content_type: str) -> None:
    body = json.dumps(GUIDE_REQUEST).encode()
    response = client.post(PREDICT, content=body, headers={"content-type": content_type})
    assert response.status_code == 200, response.text


def test_body_over_the_limit_gets_413(client: httpx.Client) -> None:
    body = json.dumps({"reviews": [_review(1, "x" * 5000)]}).encode()
    response = client.post(PREDICT, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "4096 bytes" in response.json()["detail"]


def test_chunked_body_over_the_limit_gets_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"reviews": [{"id": 1, "text": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}]}'

    response = client.post(PREDICT, content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_chunked_body_under_the_limit_is_served(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield json.dumps(GUIDE_REQUEST).encode()

    response = client.post(PREDICT, content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text


def test_wrong_method_is_405(client: httpx.Client) -> None:
    assert client.get(PREDICT).status_code == 405


class ListHandler(logging.Handler):
    """Keeps the records it is given."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_one_log_line_per_request_without_the_body(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "my-private-review-text"
    # Attached to the request logger itself: its lines are counted wherever the root
    # logger's handlers send them.
    ours = ListHandler()
    requests_logger = logging.getLogger(REQUESTS_LOGGER)
    requests_logger.addHandler(ours)
    try:
        with caplog.at_level(logging.INFO):
            client.post(PREDICT, json={"reviews": [_review(1, secret)]}, params={"token": "s3cr3t"})
            # The server thread logs after the response is sent: wait for its line.
            deadline = time.monotonic() + 5
            while not ours.records and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.05)
    finally:
        requests_logger.removeHandler(ours)
    lines = [record.getMessage() for record in ours.records]
    assert len(lines) == 1
    assert lines[0].startswith(f"POST {PREDICT} 200 ")
    assert lines[0].endswith("ms")
    # The client's own log (httpx) and the access log of this in-process uvicorn are not
    # the API's (test_api_gunicorn checks the shipped entrypoint's whole output); every
    # other line must be clean.
    server_text = "\n".join(
        r.getMessage()
        for r in [*caplog.records, *ours.records]
        if r.name not in {"httpx", "uvicorn.access"}
    )
    assert secret not in server_text
    assert "s3cr3t" not in server_text


def _request_lines(client: httpx.Client, *requests: tuple[str, str]) -> list[str]:
    """The API's request log lines for ``requests`` (method, URL), sent one by one."""
    ours = ListHandler()
    requests_logger = logging.getLogger(REQUESTS_LOGGER)
    level = requests_logger.level
    requests_logger.addHandler(ours)
    requests_logger.setLevel(logging.INFO)
    try:
        for method, url in requests:
            client.request(method, url)
        # The server thread logs after each response is sent: wait for every line.
        deadline = time.monotonic() + 5
        while len(ours.records) < len(requests) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        requests_logger.removeHandler(ours)
        requests_logger.setLevel(level)
    return [ours.format(record) for record in ours.records]


def test_request_log_lines_cannot_be_forged(client: httpx.Client) -> None:
    # %0A and %0D decode to LF and CR in the path: written as they are, they would
    # end the line and start one the attacker wrote. NEL and U+2028 too, for readers
    # that split on them.
    forged = "FORGED 200 0.01ms"
    lines = _request_lines(
        client,
        ("GET", "/api/v1/x%0a" + forged.replace(" ", "%20")),
        ("GET", "/api/v1/y%0d%0a" + forged.replace(" ", "%20")),
        ("GET", "/api/v1/z%c2%85%e2%80%a8" + forged.replace(" ", "%20")),
    )
    assert len(lines) == 3
    for line in lines:
        assert not any(ch in line for ch in "\r\n\x85\u2028"), repr(line)
        assert line.startswith("GET /api/v1/") and line.endswith("ms"), line
    assert lines[0].startswith("GET /api/v1/x\\n" + forged + " 404 "), lines[0]


def test_large_requests_are_predicted_off_the_event_loop_with_the_same_answer(
    model_dir: Path,
) -> None:
    body = {"reviews": [_review(i, "awesome fun but boring plot " * 10) for i in range(5)]}
    answers = []
    for inline_chars in (0, 10_000):
        settings = make_settings(
            PRED_MODEL_PATH=str(model_dir), API_INLINE_PREDICT_CHARS=inline_chars
        )
        with running_server(create_app(settings)) as url:
            answers.append(httpx.post(url + PREDICT, json=body, timeout=10).json())
    assert answers[0] == answers[1]
    assert len(answers[0]["data"]) == 5


def asgi_calls(app: Any, *calls: tuple[str, str, dict[str, Any]]) -> list[httpx.Response]:
    """Send requests to an app in-process (no lifespan: the model is not loaded)."""

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return [await http.request(method, url, **kw) for method, url, kw in calls]

    return asyncio.run(send_all())


def test_predictor_dependency_can_be_overridden() -> None:
    app = create_app(make_settings())
    rule = DecisionRule(TINY_LABELS["binary"], positive_label="positive", threshold=0.999)
    strict = Predictor(fit_tiny_model(), rule, ModelInfo("in-memory"))
    app.dependency_overrides[get_predictor] = lambda: strict
    response, version = asgi_calls(
        app, ("POST", PREDICT, {"json": GUIDE_REQUEST}), ("GET", VERSION, {})
    )
    assert [d["label"] for d in response.json()["data"]] == ["negative", "negative"]
    assert (version.json()["data"]["uri"], version.json()["data"]["threshold"]) == (
        "in-memory", 0.999)  # fmt: skip


def test_router_level_dependencies_guard_the_model_routes(model_dir: Path) -> None:
    # How a team adds authentication: a dependency on the router that includes the
    # model routes. Every route under it must run it, predict included.
    async def require_key(request: Request) -> None:
        if request.headers.get("x-api-key") != "open sesame":
            raise HTTPException(status_code=401, detail="No key.")

    app = FastAPI()
    app.state.predictor = Predictor.load(model_dir)
    app.include_router(
        model.build_router(make_settings()), prefix="/api/v1", dependencies=[Depends(require_key)]
    )
    keyed = {"json": GUIDE_REQUEST, "headers": {"x-api-key": "open sesame"}}
    refused, version, served = asgi_calls(
        app,
        ("POST", PREDICT, {"json": GUIDE_REQUEST}),
        ("GET", VERSION, {}),
        ("POST", PREDICT, keyed),
    )
    assert (refused.status_code, version.status_code) == (401, 401)
    assert [d["label"] for d in served.json()["data"]] == ["negative", "positive"]


def test_without_a_loaded_model_predict_is_503() -> None:
    predict, ready = asgi_calls(
        create_app(make_settings()),
        ("POST", PREDICT, {"json": GUIDE_REQUEST}),
        ("GET", "/api/v1/health/ready", {}),
    )
    assert predict.status_code == 503
    assert "not loaded" in predict.json()["detail"]
    assert (ready.status_code, ready.json()["status"]) == (503, "not ready")


@pytest.mark.parametrize(
    ("values", "setting"),
    [
        ({}, "PRED_MODEL_URI"),
        ({"PRED_MODEL_PATH": "/nonexistent/model"}, "PRED_MODEL_PATH='/nonexistent/model'"),
        ({"PRED_MODEL_PATH": "/nonexistent/model"}, "no such file or directory"),
        ({"PRED_MODEL_URI": "/nonexistent/uri"}, "PRED_MODEL_URI='/nonexistent/uri'"),
        ({"PRED_MODEL_PATH": "/"}, "no MLmodel file"),
    ],
)
def test_missing_model_stops_start_up_with_one_clear_line(
    values: dict[str, str], setting: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings(**values))
    server = uvicorn.Server(uvicorn.Config(app, port=0, log_config=None, lifespan="on"))
    with caplog.at_level(logging.INFO), pytest.raises(SystemExit) as stopped:
        server.run()
    assert stopped.value.code == 3
    assert not server.started
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    ours = [r for r in errors if r.name.endswith("_fastapi.main")]
    assert len(ours) == 1
    assert setting in ours[0].getMessage()
    assert "\n" not in ours[0].getMessage()
    assert "Traceback" not in caplog.text
    assert all(r.exc_info is None for r in errors)


def run_fresh_python(code: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter from ``src/``, with no PRED_*/API_* variables."""
    src = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=src,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_importing_the_api_needs_no_model(tmp_path: Path) -> None:
    result = run_fresh_python(IMPORT_PROBE, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "FastAPI"


TELEMETRY_PROBE = """
import asyncio, httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from {{ cookiecutter.src_package_name }}_fastapi.config import Settings
from {{ cookiecutter.src_package_name }}_fastapi.main import create_app
from {{ cookiecutter.src_package_name }}_fastapi.v1.routers import model

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

async def spans(telemetry):
    app = create_app(Settings(PRED_MODEL_PATH="unused", API_TELEMETRY=telemetry))
    exporter.clear()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        await http.get("/api/v1/health/live")
    return len(exporter.get_finished_spans())

print(asyncio.run(spans(False)), asyncio.run(spans(True)))
"""


def test_opentelemetry_spans_only_when_api_telemetry_is_on(tmp_path: Path) -> None:
    # A subprocess: an OpenTelemetry tracer provider can be set once per process.
    result = run_fresh_python(TELEMETRY_PROBE, tmp_path)
    assert result.returncode == 0, result.stderr
    off, on = map(int, result.stdout.split())
    assert off == 0
    assert on >= 1


def test_model_setting_precedence() -> None:
    both = make_settings(PRED_MODEL_URI="models:/m@champion", PRED_MODEL_PATH="/p")
    assert (both.model_source().uri, both.model_source().setting) == (
        "models:/m@champion",
        "PRED_MODEL_URI",
    )
    path = make_settings(PRED_MODEL_PATH="/p", PRED_MODEL_UUID="abc")
    assert (path.model_source().uri, path.model_source().run_id) == ("/p", "abc")
    uuid = make_settings(PRED_MODEL_UUID="abc")
    assert uuid.model_source().uri == "runs:/abc/model"
    with pytest.raises(ModelSettingError, match="PRED_MODEL_PATH"):
        make_settings().model_source()


def _guide_settings_table(readme: str) -> dict[str, str]:
    """Each variable of the guide's settings table, with the default it shows."""
    rows: dict[str, str] = {}
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = [name.strip(" `") for name in cells[0].split(",")]
        # Rows naming only settings (other tables mention them in prose).
        if len(cells) != 3 or not all(re.fullmatch(r"(PRED|API)_[A-Z_]+", n) for n in names):
            continue
        defaults = [value.strip(" `") for value in cells[1].split(",")]
        if len(defaults) == 1:
            defaults *= len(names)
        rows.update(zip(names, defaults, strict=True))
    return rows


def _as_shown(default: Any) -> str:
    if default in (None, []):
        return "none"
    return str(default).lower() if isinstance(default, bool) else str(default)


def test_the_guide_lists_every_setting_with_its_default(repo_root: Path) -> None:
    table = _guide_settings_table((repo_root / "README.md").read_text(encoding="utf-8"))
    expected = {
        name: _as_shown(field.get_default(call_default_factory=True))
        for name, field in Settings.model_fields.items()
    }
    assert table == expected


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRED_MODEL_PATH", "/from/env")
    monkeypatch.setenv("API_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("API_MAX_REVIEWS", "7")
    settings = Settings()
    assert settings.PRED_MODEL_PATH == "/from/env"
    assert settings.API_CORS_ORIGINS == ["https://a.example", "https://b.example"]
    assert settings.API_MAX_REVIEWS == 7
    monkeypatch.setenv("API_CORS_ORIGINS", '["https://c.example"]')
    assert Settings().API_CORS_ORIGINS == ["https://c.example"]


def test_wildcard_cors_with_credentials_is_refused() -> None:
    with pytest.raises(ValidationError, match="credentialed"):
        make_settings(API_CORS_ORIGINS=["*"], API_CORS_ALLOW_CREDENTIALS=True)


def test_cors_allows_only_the_configured_origins() -> None:
    allowed, other = asgi_calls(
        create_app(make_settings(API_CORS_ORIGINS=["https://ui.example"])),
        ("GET", "/api/v1/health/live", {"headers": {"origin": "https://ui.example"}}),
        ("GET", "/api/v1/health/live", {"headers": {"origin": "https://evil.example"}}),
    )
    assert allowed.headers["access-control-allow-origin"] == "https://ui.example"
    assert "access-control-allow-origin" not in other.headers


def test_passwords_in_uris_are_hidden() -> None:
    assert redact("https://u:pw@host/models/1") == "https://u:***@host/models/1"
    assert redact("runs:/abc/model") == "runs:/abc/model"
    assert redact("models:/sentiment@champion") == "models:/sentiment@champion"


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("http://u:pw@h/x?token=abc", "http://u:***@h/x?***"),
        (
            "https://storage.example/m.tar?X-Goog-Signature=abc&X-Goog-Expires=60",
            "https://storage.example/m.tar?***",
        ),
        ("gs://bucket/model#frag-secret", "gs://bucket/model#***"),
    ],
)
def test_signed_url_queries_are_hidden(uri: str, shown: str) -> None:
    # A signed URL carries its credential in the query: /version must not return it.
    assert redact(uri) == shown


@pytest.fixture(scope="module")
def registered_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The tiny model logged to a SQLite tracking store, registered, aliased ``champion``.

    Yields the run id and the registered name, with MLFLOW_TRACKING_URI pointing at
    the store.
    """
    import mlflow  # pylint: disable=import-outside-toplevel

    folder = tmp_path_factory.mktemp("tracking")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        mlflow.set_tracking_uri(uri)
        experiment = mlflow.create_experiment("api-test", artifact_location=(folder / "a").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            rule = DecisionRule(TINY_LABELS["binary"]).as_dict()
            model_io.log_model(fit_tiny_model(), "model", rule, None, None)
        name = "sentiment-api-test"
        version = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
        mlflow.MlflowClient().set_registered_model_alias(name, "champion", version.version)
        try:
            yield run.info.run_id, name
        finally:
            mlflow.set_tracking_uri(None)


def _served_version(settings: Settings) -> dict[str, Any]:
    with running_server(create_app(settings)) as url:
        answer = httpx.post(url + PREDICT, json=GUIDE_REQUEST, timeout=10)
        assert answer.status_code == 200, answer.text
        return httpx.get(url + VERSION, timeout=10).json()["data"]


def test_registry_alias_is_served_and_named(registered_model: tuple[str, str]) -> None:
    run_id, name = registered_model
    data = _served_version(make_settings(PRED_MODEL_URI=f"models:/{name}@champion"))
    assert (data["run_id"], data["registered_name"], data["version"], data["alias"]) == (
        run_id,
        name,
        "1",
        "champion",
    )


def test_run_id_alone_serves_the_runs_model(registered_model: tuple[str, str]) -> None:
    run_id, _ = registered_model
    data = _served_version(make_settings(PRED_MODEL_UUID=run_id))
    assert (data["uri"], data["run_id"]) == (f"runs:/{run_id}/model", run_id)


def test_unknown_run_stops_start_up_naming_the_setting(
    registered_model: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    del registered_model  # only its tracking store is needed
    app = create_app(make_settings(PRED_MODEL_UUID="0123456789abcdef0123456789abcdef"))
    server = uvicorn.Server(uvicorn.Config(app, port=0, log_config=None, lifespan="on"))
    with caplog.at_level(logging.INFO), pytest.raises(SystemExit):
        server.run()
    errors = [r.getMessage() for r in caplog.records if r.name.endswith("_fastapi.main")]
    assert len(errors) == 1
    assert "PRED_MODEL_UUID='runs:/0123456789abcdef0123456789abcdef/model'" in errors[0]
