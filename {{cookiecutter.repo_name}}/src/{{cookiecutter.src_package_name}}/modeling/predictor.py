"""One predictor for evaluation, the API and batch inference.

Texts go in; an ``n x K`` matrix of probabilities comes out, one column per label
(the K labels the model was trained on, in the order of :attr:`DecisionRule.labels`),
computed in one vectorised call per batch. The decision rule, the label of each row,
lives in :class:`DecisionRule` and nowhere else: the label with the highest
probability, or for a binary problem with a ``positive_label``, that label when its
probability reaches ``threshold``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from ..data_prep.text import clean_texts

LOGGER = logging.getLogger(__name__)


class Classifier(Protocol):
    """What every kind of model offers: one probability column per label."""

    def predict_proba(self, texts: Any) -> np.ndarray:
        """Probabilities, one row per cleaned text, one column per label."""


@dataclass(frozen=True)
class DecisionRule:
    """Which label a row of probabilities gets.

    Attributes
    ----------
    labels : tuple of str
        The model's labels, in the order of its probability columns.
    positive_label : str or None
        Binary problems only: the label that ``threshold`` applies to. ``None``: argmax.
    threshold : float
        Probability of ``positive_label`` from which a text gets that label.
    """

    labels: tuple[str, ...]
    positive_label: str | None = None
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"a classifier needs two or more distinct labels, got {self.labels}")
        positive = self.positive_label  # (a saved model's MLmodel gives these too)
        if positive is not None and (len(self.labels) != 2 or positive not in self.labels):
            raise ValueError(
                f"positive_label={positive!r} needs a binary problem with that "
                f"label; the labels are {list(self.labels)} (use null for argmax)"
            )
        if positive is not None and not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {self.threshold}")

    def codes(self, probabilities: np.ndarray) -> np.ndarray:
        """The column (label index) chosen for each row."""
        if self.positive_label is None:
            return np.argmax(probabilities, axis=1)
        positive = self.labels.index(self.positive_label)
        return np.where(probabilities[:, positive] >= self.threshold, positive, 1 - positive)

    def as_dict(self) -> dict[str, Any]:
        """Plain values, as saved in the model's ``MLmodel``."""
        return asdict(self) | {"labels": list(self.labels)}


@dataclass(frozen=True)
class ModelInfo:
    """Where a model came from, as far as it is known."""

    uri: str
    run_id: str | None = None
    registered_name: str | None = None
    version: str | None = None
    alias: str | None = None


class Prediction(NamedTuple):
    """The model's answer for one text: its label, that label's probability, and all of them."""

    label: str
    probability: float
    probabilities: dict[str, float]


class PreparedBatch(NamedTuple):
    """Texts made ready for a model's device half (see :meth:`Predictor.prepare`)."""

    size: int
    payload: Any


class Predictor:
    """A fitted model with its decision rule and provenance.

    Parameters
    ----------
    model : Classifier
        Takes cleaned texts; ``predict_proba`` gives one column per label.
    rule : DecisionRule
        The labels and how one is chosen.
    info : ModelInfo
        Provenance, reported by the API and batch records.
    """

    def __init__(self, model: Classifier, rule: DecisionRule, info: ModelInfo) -> None:
        self.model = model
        self.rule = rule
        self.info = info

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels, in the order of the probability columns."""
        return self.rule.labels

    @classmethod
    def load(cls, uri: str | Path) -> Predictor:
        """Load a model this project saved (any kind), from a folder or an MLflow URI.

        Only this project's flavour is loaded (numeric arrays, safetensors);
        pickle and every other format are refused before any file is deserialised.

        Raises
        ------
        model_io.UnsafeModelError
            The model is not this project's flavour or holds untrusted types.
        """
        # MLflow is imported to load a model, not to use one in memory: the GPU
        # check runs a predictor on a machine without them.
        from .model_io import load_model  # pylint: disable=import-outside-toplevel

        model, rule = load_model(uri)
        return cls(model, DecisionRule(**rule), describe_model(str(uri)))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities of each label for each text, in one vectorised call."""
        return self.score(self.prepare(texts))

    @property
    def on_gpu(self) -> bool:
        """Whether the model (or an ensemble's transformer) runs on a CUDA device."""
        device = getattr(getattr(self.model, "transformer", self.model), "device", None)
        return getattr(device, "type", "cpu") == "cuda"

    @property
    def benefits_from_batching(self) -> bool:
        """Whether joining texts into fewer, larger calls pays (a transformer's does)."""
        return hasattr(self.model, "score_batch")

    def prepare(self, texts: Sequence[str]) -> PreparedBatch:
        """The CPU half of :meth:`predict_proba`, safe to run in another process.

        Cleans the texts and, for a model that splits its work (``prepare_batch`` and
        ``score_batch``: the transformer and the ensemble), turns them into what its
        device half needs. Batch inference runs this in worker processes while the
        process that owns the GPU scores.
        """
        cleaned = clean_texts(texts)
        prepare = getattr(self.model, "prepare_batch", None)
        return PreparedBatch(len(cleaned), prepare(cleaned) if prepare and cleaned else cleaned)

    def score(self, batch: PreparedBatch) -> np.ndarray:
        """Probabilities of a :meth:`prepare`'d batch: the same as :meth:`predict_proba`."""
        if batch.size == 0:
            return np.empty((0, len(self.labels)))
        score = getattr(self.model, "score_batch", None) or self.model.predict_proba
        return np.asarray(score(batch.payload))

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Label and probabilities of each text."""
        return self.decide(self.predict_proba(texts))

    def decide(self, probabilities: np.ndarray) -> list[Prediction]:
        """Apply the decision rule to rows of probabilities."""
        labels = self.labels
        return [
            Prediction(labels[code], float(row[code]), dict(zip(labels, map(float, row),
                                                                strict=True)))
            for code, row in zip(self.rule.codes(probabilities), probabilities, strict=True)
        ]


def share_cpu(workers: int) -> None:
    """Cap torch's threads so ``workers`` processes do not oversubscribe the cores.

    Sets ``OMP_NUM_THREADS`` for processes started later and, when torch is loaded,
    its thread count in this process (forked workers inherit it).
    """
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def describe_model(uri: str) -> ModelInfo:
    """Find the run and registry entry behind a model URI, where MLflow knows them.

    Lookups that fail (no tracking server, a plain folder) leave fields empty:
    a model that loads is served even when its provenance is unknown.
    """
    import mlflow  # pylint: disable=import-outside-toplevel  # see Predictor.load
    from mlflow.exceptions import MlflowException  # pylint: disable=import-outside-toplevel

    try:
        if uri.startswith("models:/"):
            name, _, alias = uri.removeprefix("models:/").partition("@")  # or name/version
            name, _, number = name.partition("/")
            client = mlflow.MlflowClient()
            version = (client.get_model_version_by_alias(name, alias) if alias
                       else client.get_model_version(name, number))
            return ModelInfo(uri, version.run_id, name, str(version.version), alias or None)
        if uri.startswith("runs:/"):
            return ModelInfo(uri, run_id=uri.removeprefix("runs:/").split("/", 1)[0])
        if (Path(uri) / "MLmodel").exists():
            return ModelInfo(uri, run_id=getattr(mlflow.models.Model.load(uri), "run_id", None))
    except MlflowException as error:
        LOGGER.warning("Could not look up the provenance of %s: %s", uri, error)
    return ModelInfo(uri)
