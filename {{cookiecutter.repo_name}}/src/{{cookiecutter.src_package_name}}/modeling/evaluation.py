"""Metrics and plots of a model on a labelled split.

Evaluation goes through :class:`.predictor.Predictor`, the same path as the API and
batch inference, so the reported numbers describe what is served.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")  # no display on servers and in tests

# pylint: disable=wrong-import-position
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from sklearn import metrics

from .predictor import Predictor


class Evaluation(NamedTuple):
    """A split's metrics, and what its plots are drawn from."""

    split: str
    metrics: dict[str, float]
    codes: np.ndarray
    probabilities: np.ndarray
    predicted: np.ndarray


def _roc_auc(codes: np.ndarray, probabilities: np.ndarray, positive: int) -> float:
    """ROC AUC: of ``positive``'s column for two labels, one-vs-rest macro for more.

    NaN when a label of the model is absent from the split (the curve is undefined).
    """
    k = probabilities.shape[1]
    if len(np.unique(codes)) < k:
        return float("nan")
    if k == 2:
        return float(metrics.roc_auc_score(codes == positive, probabilities[:, positive]))
    return float(metrics.roc_auc_score(codes, probabilities, multi_class="ovr",
                                       labels=list(range(k))))


def evaluate(
    predictor: Predictor, texts: Sequence[str], codes: np.ndarray, prefix: str
) -> Evaluation:
    """Accuracy, macro F1, ROC AUC and log loss of a predictor, named like ``val_accuracy``.

    Parameters
    ----------
    predictor : Predictor
        The model and its decision rule.
    texts : sequence of str
        The split's texts.
    codes : numpy.ndarray
        Their true label indices (into ``predictor.labels``).
    prefix : str
        Split name put before each metric name (``val``, ``test``).
    """
    codes = np.asarray(codes)
    probabilities = predictor.predict_proba(list(texts))
    predicted = predictor.rule.codes(probabilities)
    k = len(predictor.labels)
    values = {
        "accuracy": float(metrics.accuracy_score(codes, predicted)),
        "macro_f1": float(metrics.f1_score(codes, predicted, average="macro",
                                           labels=list(range(k)), zero_division=0)),
        "roc_auc": _roc_auc(codes, probabilities, _positive(predictor)),
        "log_loss": float(metrics.log_loss(codes, probabilities, labels=list(range(k)))),
    }
    return Evaluation(prefix, {f"{prefix}_{name}": v for name, v in values.items()},
                      codes, probabilities, predicted)


def _positive(predictor: Predictor) -> int:
    """The column that the binary curves are drawn for: ``positive_label``, else the second."""
    rule = predictor.rule
    return rule.labels.index(rule.positive_label) if rule.positive_label else 1


@contextlib.contextmanager
def evaluation_figures(
    predictor: Predictor, evaluation: Evaluation
) -> Iterator[dict[str, Figure]]:
    """A K x K confusion matrix, and for two labels the ROC and precision-recall curves.

    Their memory is freed when the block ends.
    """
    split = evaluation.split
    labels = list(predictor.labels)
    figures: dict[str, Figure] = {}
    size = max(4.5, 0.6 * len(labels) + 2.5)
    fig, ax = plt.subplots(figsize=(size, size - 0.5), layout="tight")
    metrics.ConfusionMatrixDisplay.from_predictions(
        evaluation.codes, evaluation.predicted, labels=list(range(len(labels))),
        display_labels=labels, ax=ax, colorbar=False, xticks_rotation="vertical",
    )
    ax.set_title(f"Confusion matrix ({split})")
    figures[f"{split}_confusion_matrix.png"] = fig
    positive = _positive(predictor)
    if len(labels) == 2 and len(np.unique(evaluation.codes)) == 2:
        truth, scores = evaluation.codes == positive, evaluation.probabilities[:, positive]
        for name, title, display in (
            ("roc_curve", "ROC curve", metrics.RocCurveDisplay),
            ("pr_curve", "Precision-recall curve", metrics.PrecisionRecallDisplay),
        ):
            fig, ax = plt.subplots(figsize=(4.5, 4), layout="tight")
            display.from_predictions(truth, scores, ax=ax, name=labels[positive])
            ax.set_title(f"{title} ({split})")
            figures[f"{split}_{name}.png"] = fig
    try:
        yield figures
    finally:
        for figure in figures.values():
            plt.close(figure)
