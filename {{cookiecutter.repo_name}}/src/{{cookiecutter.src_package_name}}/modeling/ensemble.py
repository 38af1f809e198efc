"""The ensemble: a weighted mean of the NBSVM's and the transformer's probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class EnsembleModel:
    """``P = (1 - weight) * P_nbsvm + weight * P_transformer``, column by column (label).

    Parameters
    ----------
    nbsvm : sklearn.pipeline.Pipeline
        The fitted NBSVM pipeline.
    transformer : TransformerModel
        The fine-tuned transformer, with the same labels.
    weight : float
        Weight of the transformer, in [0, 1].
    """

    kind = "ensemble"

    def __init__(self, nbsvm: Any, transformer: Any, weight: float) -> None:
        if not 0.0 <= weight <= 1.0:  # (the weight of a loaded model comes from its MLmodel)
            raise ValueError(f"the ensemble weight must be within [0, 1], got {weight}")
        self.nbsvm = nbsvm
        self.transformer = transformer
        self.weight = float(weight)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities of each label for cleaned texts."""
        return self.score_batch(self.prepare_batch(texts))

    def prepare_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        """The CPU half of :meth:`predict_proba`: the NBSVM's probabilities and the word pieces."""
        return self.nbsvm.predict_proba(list(texts)), self.transformer.prepare_batch(texts)

    def score_batch(self, prepared: tuple[np.ndarray, list[np.ndarray]]) -> np.ndarray:
        """The device half of :meth:`predict_proba`: the transformer scores, the mean mixes."""
        nbsvm, ids = prepared
        return mix(nbsvm, self.transformer.score_batch(ids), self.weight)


def mix(nbsvm: np.ndarray, transformer: np.ndarray, weight: float) -> np.ndarray:
    """The ensemble's probabilities from its members'."""
    return (1.0 - weight) * nbsvm + weight * transformer


def choose_weight(
    nbsvm: np.ndarray, transformer: np.ndarray, codes: np.ndarray, candidates: Sequence[float]
) -> tuple[float, dict[float, float]]:
    """The candidate weight with the best accuracy (argmax) on labelled validation probabilities.

    Ties go to the weight closest to 0.5 (the plain mean).

    Returns
    -------
    weight : float
    accuracies : dict of float to float
        Validation accuracy of every candidate (logged).
    """
    accuracies = {
        float(w): float(np.mean(mix(nbsvm, transformer, w).argmax(axis=1) == codes))
        for w in candidates
    }
    best = max(accuracies, key=lambda w: (accuracies[w], -abs(w - 0.5)))
    return best, accuracies
