"""Request and response bodies of the API.

The request model is built by :func:`request_model` because its limits (reviews
per request, characters per review) come from the settings; the limits then appear
in the OpenAPI schema, so clients and ``/docs`` show every constraint the API
enforces. Answers come in the order of the request's reviews (ids may repeat).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Text that holds at least one non-space character (JSON Schema ``pattern`` semantics).
NON_BLANK = r"\S"


class BaseRequest(BaseModel):
    """Base of request bodies: strict JSON types, unknown fields refused.

    Strict mode keeps ``true`` from passing as the id ``1`` and ``123`` as the text ``"123"``.
    """

    model_config = ConfigDict(strict=True, extra="forbid")


def request_model(max_reviews: int, max_review_chars: int) -> type[BaseRequest]:
    """Build the predict request model with the configured limits.

    Parameters
    ----------
    max_reviews : int
        Most reviews in one request.
    max_review_chars : int
        Most characters in one review's text.

    Returns
    -------
    type
        A pydantic model of ``{"reviews": [{"id": int, "text": str}, ...]}``.
    """

    class Review(BaseRequest):
        """One review to classify."""

        id: int = Field(description="Caller's id of the review, echoed as review_id.")
        text: str = Field(min_length=1, max_length=max_review_chars, pattern=NON_BLANK,
                          description="The text to classify; raw text or HTML, not blank.")

    class PredictRequest(BaseRequest):
        """Reviews to classify, in one vectorised model call."""

        reviews: list[Review] = Field(
            min_length=1, max_length=max_reviews,
            description="The texts; each answer echoes its review's id, in this order.")

        model_config = ConfigDict(json_schema_extra={"examples": [{"reviews": [
            {"id": 9176, "text": "This movie is quite boring."},
            {"id": 71, "text": "This movie is awesome."},
        ]}]})

    return PredictRequest


class ReviewPrediction(BaseModel):
    """The model's answer for one review."""

    review_id: int
    label: str = Field(description="The label the model gives the text.")
    probability: float = Field(ge=0.0, le=1.0, description="The probability of that label.")
    probabilities: dict[str, float] = Field(description="The probability of every label.")


class PredictResponse(BaseModel):
    """Predictions in the order of the request's reviews."""

    data: list[ReviewPrediction]


class ModelVersion(BaseModel):
    """Which model answers, as far as MLflow knows it."""

    uri: str = Field(description="Where the model was loaded from (passwords hidden).")
    run_id: str | None = None
    registered_name: str | None = None
    version: str | None = None
    alias: str | None = None
    labels: list[str] = Field(description="The labels the model can give.")
    positive_label: str | None = Field(
        description="Binary models: the label that threshold applies to (null: argmax)."
    )
    threshold: float = Field(description="Probability of positive_label from which it is given.")


class ModelVersionResponse(BaseModel):
    """Answer of the version endpoint."""

    data: ModelVersion


class Health(BaseModel):
    """Answer of the liveness and readiness endpoints."""

    status: Literal["ok", "ready", "not ready"]


class ErrorMessage(BaseModel):
    """An error answer with a human-readable reason."""

    detail: str
