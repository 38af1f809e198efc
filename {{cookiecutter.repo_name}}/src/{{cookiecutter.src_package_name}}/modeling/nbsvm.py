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
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

#: Words, plus "!" and "?" which carry sentiment; keeps 1-letter words.
TOKEN_PATTERN = r"(?u)\b\w+\b|[!?]"


@dataclass(frozen=True)
class NbsvmParams:
    """Hyperparameters of the model (the ``train.model`` config section).

    Parameters
    ----------
    ngram_max : int
        Longest word n-gram (1 = words only, 2 = words and word pairs).
    hash_bits : int
        The n-grams are hashed into 2 ** hash_bits feature columns.
    C : float
        Inverse L2 regularisation strength of the logistic regression.
    nb_alpha : float
        Additive smoothing of the naive-Bayes counts.
    max_iter : int
        Iteration cap of the solver.
    """

    ngram_max: int = 2
    hash_bits: int = 22
    C: float = 1.0  # pylint: disable=invalid-name
    nb_alpha: float = 1.0
    max_iter: int = 1000

    def __post_init__(self) -> None:
        if self.ngram_max < 1:
            raise ValueError(f"ngram_max must be >= 1, got {self.ngram_max}")
        if not 10 <= self.hash_bits <= 26:
            raise ValueError(f"hash_bits must be within [10, 26], got {self.hash_bits}")
        if self.C <= 0:
            raise ValueError(f"C must be > 0, got {self.C}")
        if self.nb_alpha <= 0:
            raise ValueError(f"nb_alpha must be > 0, got {self.nb_alpha}")


def log_count_ratio(features: sparse.csr_matrix, labels: np.ndarray, alpha: float) -> np.ndarray:
    """Naive-Bayes log-count ratio of each feature (positive over negative)."""
    positive = np.asarray(features[labels == 1].sum(axis=0)).ravel() + alpha
    negative = np.asarray(features[labels == 0].sum(axis=0)).ravel() + alpha
    return np.log(positive / positive.sum()) - np.log(negative / negative.sum())


def make_vectorizer(params: NbsvmParams) -> HashingVectorizer:
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
    texts: Sequence[str], labels: np.ndarray, params: NbsvmParams, seed: int = 0
) -> Pipeline:
    """Fit the model on cleaned texts.

    Parameters
    ----------
    texts : sequence of str
        Cleaned reviews (see ``data_prep.text.clean_text``).
    labels : numpy.ndarray
        1 for positive, 0 for negative; both must be present.
    params : NbsvmParams
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
