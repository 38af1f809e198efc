"""The default model: NBSVM-style naive-Bayes features with logistic regression.

Wang & Manning (2012): binary word n-gram features ``x`` are scaled by the
naive-Bayes log-count ratio ``r = log((p / |p|_1) / (q / |q|_1))`` (``p``,
``q``: smoothed feature counts of positive and negative reviews) and a linear
classifier is fitted on ``x * r``. Because ``(x * r) . w = x . (r * w)``, the
ratio is folded into the weights after fitting: the saved model is a plain
scikit-learn ``Pipeline(HashingVectorizer(binary=True), LogisticRegression)``
that MLflow's default skops serialisation loads without custom classes, and
the NB step costs nothing at prediction time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from .training_config import NbsvmConfig

#: Words, plus "!" and "?" which carry sentiment; keeps 1-letter words.
TOKEN_PATTERN = r"(?u)\b\w+\b|[!?]"


def log_count_ratio(features: sparse.csr_matrix, labels: np.ndarray, alpha: float) -> np.ndarray:
    """Naive-Bayes log-count ratio of each feature (positive over negative)."""
    positive = np.asarray(features[labels == 1].sum(axis=0)).ravel() + alpha
    negative = np.asarray(features[labels == 0].sum(axis=0)).ravel() + alpha
    return np.log(positive / positive.sum()) - np.log(negative / negative.sum())


def make_vectorizer(params: NbsvmConfig) -> HashingVectorizer:
    """The stateless featuriser: binary indicators of hashed word n-grams."""
    return HashingVectorizer(
        binary=True,
        norm=None,
        alternate_sign=False,
        n_features=2**params.hash_bits,
        token_pattern=TOKEN_PATTERN,
        ngram_range=(1, params.ngram_max),
    )


def fit_nbsvm(
    texts: Sequence[str], labels: np.ndarray, params: NbsvmConfig, seed: int = 0
) -> Pipeline:
    """Fit the model on cleaned texts.

    Parameters
    ----------
    texts : sequence of str
        Cleaned reviews (see ``data_prep.text.clean_text``).
    labels : numpy.ndarray
        1 for positive, 0 for negative; both must be present.
    params : NbsvmConfig
        Hyperparameters.
    seed : int
        Seed of the solver's coordinate order (same seed and data, same model).

    Returns
    -------
    sklearn.pipeline.Pipeline
        ``vectorizer`` (binary counts) then ``classifier`` (logistic regression
        with the NB ratio folded into its weights); has ``predict_proba``.
    """
    labels = np.asarray(labels)
    if set(np.unique(labels)) != {0, 1}:
        raise ValueError("Training needs both positive (1) and negative (0) reviews")
    vectorizer = make_vectorizer(params)
    features = vectorizer.transform(texts).tocsr()
    ratio = log_count_ratio(features, labels, params.nb_alpha)
    # The dual liblinear solver is 5-10x faster than the primal one when there
    # are far more features than reviews, as here.
    classifier = LogisticRegression(
        C=params.C, solver="liblinear", dual=True, max_iter=params.max_iter, random_state=seed
    )
    classifier.fit(features @ sparse.diags(ratio), labels)
    classifier.coef_ = classifier.coef_ * ratio  # fold r into w: x.(r*w) == (x*r).w
    return Pipeline([("vectorizer", vectorizer), ("classifier", classifier)])
