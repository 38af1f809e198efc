"""The docs page: one pinned Swagger UI release, integrity-checked, or served locally."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving_support import running_server

from {{ cookiecutter.src_package_name }}_fastapi.config import Settings
from {{ cookiecutter.src_package_name }}_fastapi.main import create_app
from {{ cookiecutter.src_package_name }}_fastapi.v1.routers import docs
from {{ cookiecutter.src_package_name }}_fastapi.v1.routers.docs import SwaggerUIFolderError


def _app(**values: Any) -> Any:
    settings = Settings(PRED_MODEL_URI=None, PRED_MODEL_PATH=None, PRED_MODEL_UUID=None,
                        **values)  # fmt: skip
    app = create_app(settings)
    app.state.predictor = object()  # the docs need no model; the lifespan skips loading
    return app


def _tags(page: str) -> list[str]:
    return re.findall(r"<(?:script|link)\b[^>]*>", page)


def test_docs_load_the_pinned_release_with_its_integrity_and_nothing_else() -> None:
    with running_server(_app()) as url:
        page = httpx.get(f"{url}/docs", timeout=10)
    assert page.status_code == 200
    tags = [tag for tag in _tags(page.text) if "src=" in tag or "href=" in tag]
    assert len(tags) == 2
    for tag, name in zip(tags, ("swagger-ui.css", "swagger-ui-bundle.js"), strict=True):
        assert f'"{docs.CDN}/{name}"' in tag  # one exact release: swagger-ui-dist@5.35.0
        assert f'integrity="{docs.INTEGRITY[name]}"' in tag and 'crossorigin="anonymous"' in tag
    # No other address: no favicon or font from a third party, no "@5" floating version.
    assert set(re.findall(r"https?://[^\"'\s]+", page.text)) == {
        f"{docs.CDN}/swagger-ui.css", f"{docs.CDN}/swagger-ui-bundle.js"
    }
    assert '"/api/v1/openapi.json"' in page.text


def test_a_local_folder_is_served_when_its_files_are_the_pinned_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stand-in files (the real ones are not downloaded in tests); the pins follow them.
    files = {"swagger-ui-bundle.js": b"window.SwaggerUIBundle = 1;", "swagger-ui.css": b"a{}"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    monkeypatch.setattr(docs, "INTEGRITY", {n: docs.integrity_of(d) for n, d in files.items()})
    with running_server(_app(API_SWAGGER_UI_DIR=str(tmp_path))) as url:
        page = httpx.get(f"{url}/docs", timeout=10).text
        script = httpx.get(f"{url}/docs/assets/swagger-ui-bundle.js", timeout=10)
        other = httpx.get(f"{url}/docs/assets/index.html", timeout=10)
    assert "cdn.jsdelivr.net" not in page and "http" not in " ".join(_tags(page))
    assert '"/docs/assets/swagger-ui-bundle.js"' in page
    assert script.content == files["swagger-ui-bundle.js"]
    assert script.headers["content-type"].startswith("text/javascript")
    assert other.status_code == 404  # only the two pinned files, nothing else of the folder


def test_a_local_folder_with_other_files_stops_the_app_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "swagger-ui-bundle.js").write_text("alert('not swagger ui')")
    (tmp_path / "swagger-ui.css").write_text("a{}")
    with pytest.raises(SwaggerUIFolderError, match=r"swagger-ui-bundle\.js is not swagger-ui-dist"):
        _app(API_SWAGGER_UI_DIR=str(tmp_path))
    (tmp_path / "swagger-ui-bundle.js").unlink()
    with pytest.raises(SwaggerUIFolderError, match=r"has no swagger-ui-bundle\.js"):
        _app(API_SWAGGER_UI_DIR=str(tmp_path))


def test_docs_can_be_turned_off() -> None:
    with running_server(_app(API_DOCS=False)) as url:
        assert httpx.get(f"{url}/docs", timeout=10).status_code == 404
        assert httpx.get(f"{url}/api/v1/openapi.json", timeout=10).status_code == 200
