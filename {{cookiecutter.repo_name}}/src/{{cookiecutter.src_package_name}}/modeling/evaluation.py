"""Metrics and plots of a sentiment model on a labelled split.

Evaluation goes through :class:`.predictor.SentimentPredictor`, the same path
as the API and batch inference, so the reported numbers describe what is served.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on servers and in tests

# pylint: disable=wrong-import-position
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from sklearn import metrics

from .predictor import POSITIVE_LABEL, SentimentPredictor

#: Probabilities are clipped this far from 0 and 1 for the log loss.
_EPS = 1e-15


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float, prefix: str
) -> dict[str, float]:
    """Accuracy, F1, ROC AUC and log loss, with names like ``val_accuracy``.

    Parameters
    ----------
    labels : numpy.ndarray
        True labels, 1 positive and 0 negative.
    probabilities : numpy.ndarray
        Predicted probability of the positive class.
    threshold : float
        Decision threshold (positive at or above it).
    prefix : str
        Split name put before each metric name (``val``, ``test``).
    """
    labels = np.asarray(labels)
    predicted = (probabilities >= threshold).astype(int)
    both_classes = len(np.unique(labels)) == 2
    return {
        f"{prefix}_accuracy": float(metrics.accuracy_score(labels, predicted)),
        f"{prefix}_f1": float(metrics.f1_score(labels, predicted, pos_label=POSITIVE_LABEL)),
        f"{prefix}_roc_auc": (
            float(metrics.roc_auc_score(labels, probabilities)) if both_classes else float("nan")
        ),
        f"{prefix}_log_loss": float(
            metrics.log_loss(labels, np.clip(probabilities, _EPS, 1 - _EPS), labels=[0, 1])
        ),
    }


def evaluate(
    predictor: SentimentPredictor, texts: Sequence[str], labels: np.ndarray, prefix: str
) -> tuple[dict[str, float], np.ndarray]:
    """Score a predictor on labelled texts.

    Returns
    -------
    metrics : dict of str to float
        See :func:`classification_metrics`.
    probabilities : numpy.ndarray
        P(positive) per text, for plots.
    """
    probabilities = predictor.predict_proba(list(texts))
    return (
        classification_metrics(labels, probabilities, predictor.threshold, prefix),
        probabilities,
    )


def evaluation_figures(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float, split: str
) -> dict[str, Figure]:
    """Confusion matrix, ROC curve and precision-recall curve, keyed by file name."""
    labels = np.asarray(labels)
    predicted = (probabilities >= threshold).astype(int)
    figures: dict[str, Figure] = {}

    fig, ax = plt.subplots(figsize=(4.5, 4))
    metrics.ConfusionMatrixDisplay.from_predictions(
        labels, predicted, labels=[0, 1], display_labels=["negative", "positive"], ax=ax,
        colorbar=False,
    )
    ax.set_title(f"Confusion matrix ({split})")
    figures[f"{split}_confusion_matrix.png"] = fig

    if len(np.unique(labels)) == 2:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        metrics.RocCurveDisplay.from_predictions(labels, probabilities, ax=ax)
        ax.set_title(f"ROC curve ({split})")
        figures[f"{split}_roc_curve.png"] = fig

        fig, ax = plt.subplots(figsize=(4.5, 4))
        metrics.PrecisionRecallDisplay.from_predictions(labels, probabilities, ax=ax)
        ax.set_title(f"Precision-recall curve ({split})")
        figures[f"{split}_pr_curve.png"] = fig
    for figure in figures.values():
        figure.tight_layout()
    return figures


def close_figures(figures: dict[str, Figure]) -> None:
    """Free the memory of figures once they are saved."""
    for figure in figures.values():
        plt.close(figure)
