"""Prediction and model version endpoints, under ``/api/v1/model``."""

# No ``from __future__ import annotations`` here: FastAPI must see the request
# model built inside build_router() as a real class, not as a string.

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from {{ cookiecutter.src_package_name }}.modeling.predictor import Prediction, Predictor
from {{ cookiecutter.src_package_name }}.redaction import redact

from ...batching import MicroBatcher
from ...config import Settings
from ...deps import get_predictor, require_json_body
from ...schemas import (
    ErrorMessage,
    ModelVersion,
    ModelVersionResponse,
    PredictResponse,
    ReviewPrediction,
    request_model,
)

PredictorDep = Annotated[Predictor, Depends(get_predictor)]

ERROR_RESPONSES: dict[int | str, dict] = {
    400: {"model": ErrorMessage, "description": "Malformed headers"},
    413: {"model": ErrorMessage, "description": "Request body over the size limit"},
    415: {"model": ErrorMessage, "description": "Body not sent as application/json"},
    503: {"model": ErrorMessage, "description": "The model is not loaded"},
}


async def _predictions(predictor: Predictor, texts: list[str], batcher: MicroBatcher | None,
                       inline_chars: int) -> list[Prediction]:
    """NBSVM: small requests on the event loop (a fraction of a millisecond), larger ones
    in a worker thread, so that other requests and health probes on this worker are not
    held up. A transformer or an ensemble always works in a thread, and requests that
    arrive meanwhile share its next call (``API_BATCH_REVIEWS``)."""
    if batcher is not None and predictor.benefits_from_batching:
        return await batcher.predict(predictor, texts)
    if sum(map(len, texts)) <= inline_chars:
        return predictor.predict(texts)
    return await run_in_threadpool(predictor.predict, texts)


def build_router(settings: Settings) -> APIRouter:
    """Routes of the model, with the request limits taken from ``settings``.

    Parameters
    ----------
    settings : Settings
        Gives the limits (reviews per request, characters per review) and the
        size under which a request is predicted on the event loop.
    """
    predict_request = request_model(settings.API_MAX_REVIEWS, settings.API_MAX_REVIEW_CHARS)
    inline_chars = settings.API_INLINE_PREDICT_CHARS
    batcher = MicroBatcher(settings.API_BATCH_REVIEWS) if settings.API_BATCH_REVIEWS else None
    router = APIRouter(prefix="/model", tags=["model"])

    @router.post("/predict", responses=ERROR_RESPONSES, dependencies=[Depends(require_json_body)],
                 summary="The label of each review, in one vectorised model call")
    async def predict(body: predict_request, predictor: PredictorDep) -> PredictResponse:
        """Classify the reviews of the request; the answers come in the request's order."""
        texts = [review.text for review in body.reviews]
        answers = await _predictions(predictor, texts, batcher, inline_chars)
        return PredictResponse(data=[
            ReviewPrediction(review_id=review.id, **answer._asdict())
            for review, answer in zip(body.reviews, answers, strict=True)
        ])

    @router.get("/version", responses={503: ERROR_RESPONSES[503]},
                summary="Which model answers: run id, registered name, version, alias")
    async def version(predictor: PredictorDep) -> ModelVersionResponse:
        """Provenance of the served model, as far as MLflow knows it."""
        info = dataclasses.replace(predictor.info, uri=redact(predictor.info.uri))
        return ModelVersionResponse(data=ModelVersion(**vars(info), **predictor.rule.as_dict()))

    return router
