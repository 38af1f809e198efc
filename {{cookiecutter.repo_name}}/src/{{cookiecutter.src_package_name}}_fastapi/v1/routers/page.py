"""A page to try the model in a browser, at ``/try``.

A person types or pastes reviews, one per line, and sees the label the model
gives each one, with its probability. The page calls the API's own
``POST /api/v1/model/predict``, so it shows exactly what a client gets: the
request limits of the settings are stated up front, and a request over them is
answered by the API (422, 413) with a message the page shows in plain words.

The page is one small HTML document (``try.html``, beside this module) with no
external resources (no CDN, no build step); it works behind ``kubectl
port-forward`` or a path prefix because it calls the API by a relative URL.
"""

from __future__ import annotations

import functools
import html
import json
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

from ...config import Settings

#: The page; ``__TITLE__`` and ``__LIMITS__`` are filled in once, on the first request.
PAGE_FILE = "try.html"


def render_page(settings: Settings, title: str) -> str:
    """The page's HTML with the request limits of ``settings``.

    Parameters
    ----------
    settings : Settings
        Gives the limits the page states (reviews, characters, bytes).
    title : str
        Shown in the page's title and heading (HTML-escaped here).

    Returns
    -------
    str
        A complete HTML document.
    """
    limits = {
        "max_reviews": settings.API_MAX_REVIEWS,
        "max_review_chars": settings.API_MAX_REVIEW_CHARS,
        "max_body_bytes": settings.API_MAX_BODY_BYTES,
    }
    page = resources.files(__package__).joinpath(PAGE_FILE).read_text(encoding="utf-8")
    return page.replace("__TITLE__", html.escape(title)).replace("__LIMITS__", json.dumps(limits))


def build_router(settings: Settings, title: str) -> APIRouter:
    """Routes of the page: ``GET /try``, and ``GET /`` redirecting to it.

    Parameters
    ----------
    settings : Settings
        Gives the request limits shown on the page.
    title : str
        The application's title, shown on the page.
    """
    router = APIRouter(tags=["page"])
    # Rendered on the first request: building the app does no work.
    page = functools.cache(functools.partial(render_page, settings, title))

    @router.get("/try", response_class=HTMLResponse, summary="A page to try the model in a browser")
    async def try_the_model() -> HTMLResponse:
        """The page: type or paste reviews and see each one's label and probability."""
        return HTMLResponse(page())

    @router.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        """Send a browser at the server's root to the page."""
        return RedirectResponse("try")

    return router
