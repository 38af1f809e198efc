"""The interactive API docs (``/docs``): Swagger UI, one pinned release, checked.

FastAPI's own page loads the newest Swagger UI 5.x from a CDN, so whatever that CDN
serves runs in the browser of whoever opens ``/docs``. This page loads one release
(:data:`SWAGGER_UI_VERSION`) and gives the browser the SHA-384 of each file
(subresource integrity): a file that differs is refused, not run. No favicon or
other third-party file is loaded.

``API_SWAGGER_UI_DIR`` serves the same two files from a local folder instead, for
networks without internet access (the ``package/`` folder of
``npm pack swagger-ui-dist@<version>``); their hashes are checked when the app is
built. ``API_DOCS=false`` turns the page off.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import string
from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

SWAGGER_UI_VERSION = "5.35.0"
CDN = f"https://cdn.jsdelivr.net/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}"
#: Subresource integrity of the release's files (from its npm package).
INTEGRITY = {
    "swagger-ui-bundle.js": (
        "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9"
    ),
    "swagger-ui.css": "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I",
}
MEDIA_TYPES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
ASSETS_PATH = "/docs/assets"


class SwaggerUIFolderError(ValueError):
    """``API_SWAGGER_UI_DIR`` lacks a file, or holds one that is not the pinned release's."""


def integrity_of(data: bytes) -> str:
    """The subresource-integrity value (``sha384-<base64>``) of ``data``."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def read_local_assets(folder: Path) -> dict[str, bytes]:
    """The pinned files from ``folder``, each checked against :data:`INTEGRITY`.

    Raises
    ------
    SwaggerUIFolderError
        Naming the missing or differing file and the release expected.
    """
    assets = {}
    for name, expected in INTEGRITY.items():
        path = folder / name
        if not path.is_file():
            raise SwaggerUIFolderError(
                f"API_SWAGGER_UI_DIR={folder} has no {name} (expected the package/ folder of "
                f"npm pack swagger-ui-dist@{SWAGGER_UI_VERSION})"
            )
        data = path.read_bytes()
        if integrity_of(data) != expected:
            raise SwaggerUIFolderError(
                f"API_SWAGGER_UI_DIR: {path} is not swagger-ui-dist {SWAGGER_UI_VERSION}'s "
                f"{name} (its SHA-384 differs)"
            )
        assets[name] = data
    return assets


def docs_html(title: str, openapi_url: str, base_url: str) -> str:
    """The page: the pinned files with their integrity, then Swagger UI on ``openapi_url``."""
    css, js = (f"{base_url}/{name}" for name in ("swagger-ui.css", "swagger-ui-bundle.js"))
    options = json.dumps({
        "url": openapi_url, "dom_id": "#swagger-ui", "layout": "BaseLayout",
        "deepLinking": True, "showExtensions": True, "showCommonExtensions": True,
    }).replace("<", "\\u003c")  # fmt: skip
    page = resources.files(__package__).joinpath("docs.html").read_text(encoding="utf-8")
    return string.Template(page).substitute(
        css=css, js=js, css_sri=INTEGRITY["swagger-ui.css"],
        js_sri=INTEGRITY["swagger-ui-bundle.js"], title=html.escape(title), options=options,
    )


def build_router(title: str, openapi_url: str, local_folder: Path | None) -> APIRouter:
    """``/docs``, and the two files under ``/docs/assets/`` when they are served locally."""
    router = APIRouter(include_in_schema=False)
    assets = read_local_assets(local_folder) if local_folder is not None else None
    page = docs_html(title, openapi_url, ASSETS_PATH if assets is not None else CDN)

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return HTMLResponse(page)

    if assets is not None:

        @router.get(ASSETS_PATH + "/{name}")
        async def asset(name: str) -> Response:
            if name not in assets:
                return Response(status_code=404)
            return Response(assets[name], media_type=MEDIA_TYPES[name],
                            headers={"Cache-Control": "public, max-age=86400"})

    return router
