"""Dependencies of the endpoints: the settings and the loaded predictor.

The predictor is loaded once per worker process by the application's lifespan
(:func:`load_predictor`) and handed to endpoints by :func:`get_predictor`.
Tests replace it with ``app.dependency_overrides[get_predictor] = ...``.
"""

from __future__ import annotations

import dataclasses
import logging
import os

from fastapi import HTTPException, Request

from {{ cookiecutter.src_package_name }}.modeling.predictor import Predictor
from {{ cookiecutter.src_package_name }}.redaction import redact

from .config import ModelSettingError, Settings

LOGGER = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """The model named by the settings is missing or cannot be loaded."""


def load_predictor(settings: Settings) -> Predictor:
    """Load the model that the settings name.

    Parameters
    ----------
    settings : Settings
        Its ``PRED_MODEL_*`` fields name the model (``Settings.model_source`` says which
        one wins).

    Returns
    -------
    Predictor
        Ready to predict, with its provenance in ``info``.

    Raises
    ------
    ModelLoadError
        With a one-line message naming the setting and the cause.
    """
    try:
        source = settings.model_source()
    except ModelSettingError as error:
        raise ModelLoadError(f"Cannot start the API: {error}") from None
    # Downloads from an artifact store would otherwise draw progress bars into the logs.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        predictor = Predictor.load(source.uri)
    except Exception as error:  # pylint: disable=broad-exception-caught
        # MLflow raises many types (MlflowException, OSError, ValueError, ...); all mean
        # the same to the operator: this setting does not name a loadable model. The
        # traceback goes to DEBUG, for the unusual cases one line does not explain.
        LOGGER.debug("Loading %s failed", redact(source.uri), exc_info=True)
        cause = f"{type(error).__name__}: {error}"
        raise ModelLoadError(
            f"Cannot start the API: no model could be loaded from "
            f"{source.setting}={redact(source.uri)!r} ({' '.join(cause.split())[:500]})"
        ) from None
    if source.run_id and not predictor.info.run_id:
        predictor.info = dataclasses.replace(predictor.info, run_id=source.run_id)
    LOGGER.info("Model loaded from %s=%s (run %s)", source.setting, redact(source.uri),
                predictor.info.run_id)
    return predictor


async def get_predictor(request: Request) -> Predictor:
    """The predictor loaded at start-up (503 when there is none).

    An ``async`` dependency: FastAPI runs plain ``def`` dependencies in a thread.
    """
    predictor: Predictor | None = getattr(request.app.state, "predictor", None)
    if predictor is None:
        raise HTTPException(status_code=503, detail="The model is not loaded.")
    return predictor


async def require_json_body(request: Request) -> None:
    """Refuse a body that is not sent as JSON with 415.

    FastAPI parses a body as JSON only when its Content-Type says so; any other body
    would get a 422 saying that the input is not an object, which hides the cause.
    JSON is ``application/json`` and ``application/<anything>+json``.
    An empty body is left to FastAPI, which names the body as missing (422).
    """
    if not await request.body():  # read once by FastAPI already: no second read
        return
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    main, _, sub = media_type.partition("/")
    if not (main == "application" and (sub == "json" or sub.endswith("+json"))):
        raise HTTPException(status_code=415, detail="Send the body as application/json.")
