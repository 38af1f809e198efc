"""One predictor for evaluation, the API and batch inference.

Texts go in, probabilities of the positive class come out, computed in one
vectorised call per batch. The decision rule (threshold and labels) lives
here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..data_prep.text import clean_texts
from .training_config import DEFAULT_THRESHOLD

LOGGER = logging.getLogger(__name__)

POSITIVE = "positive"
NEGATIVE = "negative"
#: Label value of positive reviews in the processed dataset.
POSITIVE_LABEL = 1


class ProbabilisticClassifier(Protocol):
    """What the predictor needs from a model: scikit-learn's ``predict_proba``."""

    classes_: np.ndarray

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, one row per text."""


@dataclass(frozen=True)
class ModelInfo:
    """Where a model came from, as far as it is known."""

    uri: str
    run_id: str | None = None
    registered_name: str | None = None
    version: str | None = None
    alias: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """The fields as a plain dictionary (for JSON answers and records)."""
        return asdict(self)


@dataclass(frozen=True)
class PreparedBatch:
    """Texts made ready for a model's device half (see :meth:`SentimentPredictor.prepare`).

    Attributes
    ----------
    size : int
        How many texts.
    payload :
        Cleaned texts, or what the model's ``prepare_batch`` made of them (picklable).
    """

    size: int
    payload: Any


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one review."""

    probability: float
    sentiment: str


def sentiments(probabilities: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> list[str]:
    """Apply the decision rule: at or above ``threshold`` is positive."""
    return [POSITIVE if p >= threshold else NEGATIVE for p in probabilities]


class SentimentPredictor:
    """Predict review sentiment with a fitted classifier.

    Parameters
    ----------
    model : ProbabilisticClassifier
        A fitted pipeline taking cleaned texts (e.g. vectoriser + linear model).
    info : ModelInfo
        Provenance of the model, reported by the API and batch records.
    threshold : float
        Probability of the positive class from which a review is positive.
    """

    def __init__(
        self,
        model: ProbabilisticClassifier,
        info: ModelInfo,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
        classes = list(model.classes_)
        if POSITIVE_LABEL not in classes:
            raise ValueError(f"model classes {classes} lack the positive label {POSITIVE_LABEL}")
        self.model = model
        self.info = info
        self.threshold = threshold
        self._positive_column = classes.index(POSITIVE_LABEL)

    @classmethod
    def load(cls, uri: str | Path, threshold: float = DEFAULT_THRESHOLD) -> SentimentPredictor:
        """Load a model this project saved (any kind), from a folder or an MLflow URI.

        Parameters
        ----------
        uri : str or Path
            A local model folder (holding ``MLmodel``), or any MLflow model URI:
            ``runs:/<run id>/model``, ``models:/<name>/<version>``,
            ``models:/<name>@<alias>``, ``gs://...``.
        threshold : float
            See the class parameters.

        Raises
        ------
        model_io.UnsafeModelError
            The model is not this project's flavour (e.g. pickle) or holds untrusted types.
        """
        # Only this project's flavour is loaded (skops with a fixed allow-list,
        # safetensors); pickle and every other format are refused before any file of
        # the model is deserialised (see model_io).
        from .model_io import load_model  # pylint: disable=import-outside-toplevel

        model = load_model(uri)
        return cls(model, describe_model(str(uri)), threshold)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability that each text is a positive review, in one vectorised call."""
        if len(texts) == 0:
            return np.empty(0, dtype=float)
        return self.model.predict_proba(clean_texts(texts))[:, self._positive_column]

    @property
    def benefits_from_batching(self) -> bool:
        """Whether joining texts into fewer, larger calls pays (a transformer's does).

        True for the models that split their work in two (:meth:`prepare`,
        :meth:`score`): a neural network's per-call cost dwarfs its per-text cost.
        """
        return hasattr(self.model, "score_batch")

    def prepare(self, texts: Sequence[str]) -> PreparedBatch:
        """The CPU half of :meth:`predict_proba`, safe to run in another process.

        Cleans the texts and, for a model that splits its work (the transformer and
        the ensemble have ``prepare_batch`` and ``score_batch``), turns them into what its device
        half needs (word-piece ids; the NBSVM's probabilities). Batch inference runs
        this in worker processes while the process that owns the GPU scores.
        """
        cleaned = clean_texts(texts)
        prepare = getattr(self.model, "prepare_batch", None)
        if prepare is None or not cleaned:
            return PreparedBatch(len(cleaned), cleaned)
        return PreparedBatch(len(cleaned), prepare(cleaned))

    def score(self, batch: PreparedBatch) -> np.ndarray:
        """P(positive) of a :meth:`prepare`'d batch: the same as :meth:`predict_proba`."""
        if batch.size == 0:
            return np.empty(0, dtype=float)
        score = getattr(self.model, "score_batch", None)
        if score is None:
            return self.model.predict_proba(batch.payload)[:, self._positive_column]
        return score(batch.payload)[:, self._positive_column]

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Probability and sentiment for each text."""
        return self.decide(self.predict_proba(texts))

    def decide(self, probabilities: np.ndarray) -> list[Prediction]:
        """Probability and sentiment for each P(positive), by this predictor's threshold."""
        labels = sentiments(probabilities, self.threshold)
        return [Prediction(float(p), label) for p, label in zip(probabilities, labels, strict=True)]


def describe_model(uri: str) -> ModelInfo:
    """Find the run and registry entry behind a model URI, where MLflow knows them.

    Lookups that fail (no tracking server, a plain folder) leave fields empty:
    a model that loads is served even when its provenance is unknown.
    """
    import mlflow  # pylint: disable=import-outside-toplevel
    from mlflow.exceptions import MlflowException  # pylint: disable=import-outside-toplevel

    try:
        if uri.startswith("models:/"):
            name, _, ref = uri.removeprefix("models:/").partition("@")
            client = mlflow.MlflowClient()
            if ref:
                mv = client.get_model_version_by_alias(name, ref)
                return ModelInfo(uri, mv.run_id, name, str(mv.version), ref)
            name, _, version = name.partition("/")
            mv = client.get_model_version(name, version)
            return ModelInfo(uri, mv.run_id, name, str(mv.version))
        if uri.startswith("runs:/"):
            return ModelInfo(uri, run_id=uri.removeprefix("runs:/").split("/", 1)[0])
        local = Path(uri)
        if (local / "MLmodel").exists():
            meta: Any = mlflow.models.Model.load(str(local))
            return ModelInfo(uri, run_id=getattr(meta, "run_id", None))
    except MlflowException as error:
        LOGGER.warning("Could not look up the provenance of %s: %s", uri, error)
    return ModelInfo(uri)
