"""The FastAPI application, served with

    cd src && gunicorn {{ cookiecutter.src_package_name }}_fastapi.main:APP -b 0.0.0.0:8080 -w 4 \\
        -k uvicorn_worker.UvicornWorker

(``-k uvicorn.workers.UvicornWorker``, the guide's older spelling, works too).
Importing this module needs no model: each worker loads it at start-up (lifespan).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig

from {{ cookiecutter.src_package_name }} import __doc__ as project_doc
from {{ cookiecutter.src_package_name }} import __version__

from .config import Settings
from .deps import ModelLoadError, load_predictor
from .middleware import RequestGuard, StartupError
from .v1.routers import docs, health, model, page

LOGGER = logging.getLogger(__name__)
API_PREFIX = "/api/v1"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: FastAPI's telemetry with every signal off: not even a per-request check for providers.
TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def _configure_logging() -> None:
    """Give the worker INFO logging to stderr unless the server configured the root logger.

    Gunicorn and uvicorn configure their own loggers only, so without this the
    API's INFO lines (one per request) would go nowhere.
    """
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    for noisy in ("mlflow", "urllib3", "alembic", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with each error's type, location and message, without echoing the input.

    FastAPI's default answer repeats the offending input, which can be the whole body
    (megabytes), and fails with a 500 when that input cannot be written back as JSON
    (``NaN``, ``1e400``, a lone surrogate such as ``"\\ud800"``).
    """
    detail = [
        {"type": error["type"], "loc": list(error["loc"]), "msg": error["msg"]}
        for error in exc.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": detail})


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model named by the app's settings, unless one was handed in (embedding, tests)."""
    _configure_logging()
    if app.state.predictor is None:
        try:
            app.state.predictor = load_predictor(app.state.settings)
        except ModelLoadError as error:
            LOGGER.error("%s", error)
            raise StartupError(str(error)) from None
    yield


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application.

    Parameters
    ----------
    settings : Settings, optional
        Read from the environment when not given.

    Returns
    -------
    FastAPI
        The app; its lifespan loads the model named by the settings.
    """
    settings = settings or Settings()
    app = FastAPI(
        title="{{ cookiecutter.project_name }} API",
        description=project_doc,
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # our own page: a pinned Swagger UI, integrity-checked (v1/routers/docs.py)
        redoc_url=None,
        lifespan=lifespan,
        # None: FastAPI's default, active whenever OpenTelemetry providers are configured.
        telemetry=None if settings.API_TELEMETRY else TELEMETRY_OFF,
    )
    app.exception_handler(RequestValidationError)(_validation_error)
    app.state.settings = settings
    app.state.predictor = None
    # Routes are matched in order: the busiest first.
    app.include_router(model.build_router(settings), prefix=API_PREFIX)
    app.include_router(health.ROUTER, prefix=API_PREFIX)
    app.include_router(page.build_router(settings, app.title))
    if settings.API_DOCS:
        local = Path(settings.API_SWAGGER_UI_DIR) if settings.API_SWAGGER_UI_DIR else None
        app.include_router(docs.build_router(app.title, app.openapi_url or "", local))
    app.add_middleware(RequestGuard, max_body_bytes=settings.API_MAX_BODY_BYTES)
    if settings.API_CORS_ORIGINS:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.API_CORS_ORIGINS,
            allow_credentials=settings.API_CORS_ALLOW_CREDENTIALS, allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Accept", "Authorization"],
        )
    return app


#: The application that gunicorn and uvicorn serve.
APP = create_app()
