"""Request and response bodies of the API.

The request models are built by :func:`request_models` because their limits
(reviews per request, characters per review) come from the settings; the limits
then appear in the OpenAPI schema, so clients and ``/docs`` show them.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Text that holds at least one non-space character (JSON Schema ``pattern`` semantics).
NON_BLANK = r"\S"


class BaseRequest(BaseModel):
    """Base of request bodies: strict JSON types, unknown fields refused.

    Strict mode keeps ``true`` from passing as the id ``1`` and ``123`` as the text ``"123"``.
    """

    model_config = ConfigDict(strict=True, extra="forbid")


class PredictRequestBase(BaseRequest):
    """Common behaviour of the (settings-dependent) predict request model."""

    reviews: list  # narrowed by request_models()

    @model_validator(mode="after")
    def _unique_ids(self) -> PredictRequestBase:
        counts = Counter(review.id for review in self.reviews)
        if len(counts) < len(self.reviews):
            repeated = sorted(review_id for review_id, n in counts.items() if n > 1)
            raise ValueError(
                f"review ids must be unique within a request; repeated: {repeated[:10]}"
            )
        return self


def request_models(max_reviews: int, max_review_chars: int) -> type[PredictRequestBase]:
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
        text: str = Field(
            min_length=1,
            max_length=max_review_chars,
            pattern=NON_BLANK,
            description="The review; raw text or HTML, not blank.",
        )

    class PredictRequest(PredictRequestBase):
        """Reviews to classify, in one vectorised model call."""

        reviews: list[Review] = Field(
            min_length=1,
            max_length=max_reviews,
            description="Reviews with ids unique within the request.",
        )

        model_config = ConfigDict(
            json_schema_extra={
                "examples": [
                    {
                        "reviews": [
                            {"id": 9176, "text": "This movie is quite boring."},
                            {"id": 71, "text": "This movie is awesome."},
                        ]
                    }
                ]
            }
        )

    return PredictRequest


class ReviewPrediction(BaseModel):
    """The model's answer for one review."""

    review_id: int
    sentiment: Literal["positive", "negative"]
    probability: float = Field(ge=0.0, le=1.0, description="P(positive) from the model.")


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
    threshold: float = Field(description="P(positive) from which a review is positive.")


class ModelVersionResponse(BaseModel):
    """Answer of the version endpoint."""

    data: ModelVersion


class Health(BaseModel):
    """Answer of the liveness and readiness endpoints."""

    status: Literal["ok", "ready", "not ready"]


class ErrorMessage(BaseModel):
    """An error answer with a human-readable reason."""

    detail: str
