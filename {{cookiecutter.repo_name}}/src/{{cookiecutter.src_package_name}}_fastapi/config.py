"""Settings of the REST API, read from the environment (pydantic-settings).

Which model is served
---------------------
Three variables name the model; the first one set wins:

1. ``PRED_MODEL_URI``: any MLflow model URI or path, e.g. ``models:/<name>@champion``,
   ``models:/<name>/3``, ``runs:/<run id>/model``, ``gs://bucket/path`` or a local folder.
2. ``PRED_MODEL_PATH``: a local MLflow model folder (one holding ``MLmodel``), e.g. a
   model downloaded from the artifact store, as the guide does.
3. ``PRED_MODEL_UUID``: an MLflow run id alone means ``runs:/<id>/model``, resolved
   against ``MLFLOW_TRACKING_URI``. Given together with a path or URI it is only used
   to report the run id when the model's own metadata does not record one.

The labels and the decision rule come with the model (its ``MLmodel``). Every other
setting has a default; see :class:`Settings`. The workers log through the root
logger (INFO to stderr unless the server configures logging, e.g. gunicorn's
``--log-config``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, NamedTuple

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ModelSettingError(ValueError):
    """No model is configured, or its setting cannot be used."""


class ModelSource(NamedTuple):
    """Where to load the model from, and which setting said so.

    Attributes
    ----------
    uri : str
        Path or MLflow URI handed to the loader.
    setting : str
        Name of the environment variable that chose it (for error messages).
    run_id : str or None
        ``PRED_MODEL_UUID`` when it was given.
    """

    uri: str
    setting: str
    run_id: str | None = None


class Settings(BaseSettings):  # pylint: disable=too-many-instance-attributes
    """API settings. Field names are the environment variables' names.

    Attributes
    ----------
    PRED_MODEL_URI, PRED_MODEL_PATH, PRED_MODEL_UUID : str, optional
        The model (see the module docstring).
    API_MAX_REVIEWS, API_MAX_REVIEW_CHARS, API_MAX_BODY_BYTES : int
        Reviews per request, characters per review (IMDB's longest has 13,704) and
        bytes per body (larger bodies get 413).
    API_INLINE_PREDICT_CHARS : int
        Requests with at most this many characters in all are predicted on the event
        loop (sub-millisecond); larger ones in a worker thread so the loop stays free.
    API_BATCH_REVIEWS : int
        Transformer and ensemble models: requests that arrive while the model is busy
        are joined into its next call, up to this many reviews (0: each request alone).
    API_DOCS : bool
        Serve the interactive docs (Swagger UI) at ``/docs``.
    API_SWAGGER_UI_DIR : str, optional
        Serve the docs' Swagger UI files from this folder (``npm pack swagger-ui-dist``
        of the pinned version; checked by hash) instead of the CDN.
    API_CORS_ORIGINS : list of str
        Allowed CORS origins, comma-separated or a JSON list; empty: no CORS.
    API_CORS_ALLOW_CREDENTIALS : bool
        Allow credentialed CORS requests (never together with the origin ``*``).
    API_TELEMETRY : bool
        FastAPI's native OpenTelemetry spans, metrics and logs, exported through the
        providers OpenTelemetry is configured with; off: no per-request telemetry work.
    """

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    PRED_MODEL_URI: str | None = None
    PRED_MODEL_PATH: str | None = None
    PRED_MODEL_UUID: str | None = None
    API_MAX_REVIEWS: int = Field(500, ge=1)
    API_MAX_REVIEW_CHARS: int = Field(20_000, ge=1)
    API_MAX_BODY_BYTES: int = Field(4 * 1024 * 1024, ge=1024)
    API_INLINE_PREDICT_CHARS: int = Field(4_000, ge=0)
    API_BATCH_REVIEWS: int = Field(64, ge=0)
    API_DOCS: bool = True
    API_SWAGGER_UI_DIR: str | None = None
    API_CORS_ORIGINS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    API_CORS_ALLOW_CREDENTIALS: bool = False
    API_TELEMETRY: bool = False

    @field_validator("API_CORS_ORIGINS", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return json.loads(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> Settings:
        if self.API_CORS_ALLOW_CREDENTIALS and "*" in self.API_CORS_ORIGINS:
            raise ValueError(
                "API_CORS_ORIGINS='*' together with API_CORS_ALLOW_CREDENTIALS=true would let "
                "any site make credentialed requests; list the allowed origins instead"
            )
        return self

    def model_source(self) -> ModelSource:
        """Resolve the model settings by their precedence (see the module docstring).

        Raises
        ------
        ModelSettingError
            When none of ``PRED_MODEL_URI``, ``PRED_MODEL_PATH``, ``PRED_MODEL_UUID`` is set.
        """
        run_id = self.PRED_MODEL_UUID or None
        if self.PRED_MODEL_URI:
            return ModelSource(self.PRED_MODEL_URI, "PRED_MODEL_URI", run_id)
        if self.PRED_MODEL_PATH:
            return ModelSource(self.PRED_MODEL_PATH, "PRED_MODEL_PATH", run_id)
        if run_id:
            return ModelSource(f"runs:/{run_id}/model", "PRED_MODEL_UUID", run_id)
        raise ModelSettingError(
            "no model configured: set PRED_MODEL_URI (an MLflow model URI), "
            "PRED_MODEL_PATH (a local model folder) or PRED_MODEL_UUID (an MLflow run id)"
        )
