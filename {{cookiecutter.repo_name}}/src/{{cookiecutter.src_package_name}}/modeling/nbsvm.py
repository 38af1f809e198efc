"""The default model: NBSVM-style naive-Bayes features with logistic regression.

Wang & Manning (2012): binary word n-gram features ``x`` are scaled by the
naive-Bayes log-count ratio ``r = log((p / |p|_1) / (q / |q|_1))`` (``p``,
``q``: smoothed feature counts of the texts of one label and of the others) and a
linear classifier is fitted on ``x * r``. With K > 2 labels there is one such
classifier per label (one-vs-rest), and the probabilities are the softmax of their
scores. Because ``(x * r) . w = x . (r * w)``, each ratio is folded into its
weights after fitting: the model is a plain scikit-learn
``Pipeline(HashingVectorizer(binary=True), LogisticRegression)``, and the NB step
costs nothing at prediction time. It is saved as plain numeric arrays
(:func:`save`, an ``.npz`` file read back without pickle): the vectoriser is
stateless, so its two settings and the weights are the whole model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from .training_config import NbsvmConfig

#: Words, plus "!" and "?" which carry sentiment; keeps 1-letter words.
TOKEN_PATTERN = r"(?u)\b\w+\b|[!?]"


def log_count_ratio(features: sparse.csr_matrix, members: np.ndarray, alpha: float) -> np.ndarray:
    """Naive-Bayes log-count ratio of each feature: texts where ``members`` over the others."""
    inside = np.asarray(features[members].sum(axis=0)).ravel() + alpha
    outside = np.asarray(features[~members].sum(axis=0)).ravel() + alpha
    return np.log(inside / inside.sum()) - np.log(outside / outside.sum())


def make_vectorizer(params: NbsvmConfig) -> HashingVectorizer:
    """The stateless featuriser: binary indicators of hashed word n-grams."""
    return _vectorizer(params.ngram_max, 2**params.hash_bits)


def _vectorizer(ngram_max: int, n_features: int) -> HashingVectorizer:
    return HashingVectorizer(binary=True, norm=None, alternate_sign=False, n_features=n_features,
                             token_pattern=TOKEN_PATTERN, ngram_range=(1, ngram_max))


def save(pipeline: Pipeline, path: Path) -> None:
    """Write the fitted pipeline as arrays: its n-gram length, its width and its weights."""
    vectorizer, classifier = pipeline[0], pipeline[-1]
    np.savez_compressed(
        path, ngram_max=vectorizer.ngram_range[1], n_features=vectorizer.n_features,
        coef=classifier.coef_, intercept=classifier.intercept_, classes=classifier.classes_,
    )


def load(path: Path) -> Pipeline:
    """Read what :func:`save` wrote; only numeric arrays are read (``allow_pickle=False``).

    Raises
    ------
    ValueError
        When the file is not such an archive (an object array, a missing array).
    """
    with np.load(path, allow_pickle=False) as arrays:
        coef, intercept, classes = arrays["coef"], arrays["intercept"], arrays["classes"]
        vectorizer = _vectorizer(int(arrays["ngram_max"]), int(arrays["n_features"]))
    if coef.dtype.kind != "f" or coef.shape[1] != vectorizer.n_features:
        raise ValueError(f"weights of shape {coef.shape} do not fit {vectorizer.n_features}")
    classifier = LogisticRegression()
    classifier.coef_, classifier.intercept_, classifier.classes_ = coef, intercept, classes
    classifier.n_features_in_ = coef.shape[1]
    return Pipeline([("vectorizer", vectorizer), ("classifier", classifier)])


def _fit_one(
    features: sparse.csr_matrix, members: np.ndarray, params: NbsvmConfig, seed: int
) -> LogisticRegression:
    """Logistic regression of ``members`` against the rest on NB-scaled features, r folded in."""
    ratio = log_count_ratio(features, members, params.nb_alpha)
    # The dual liblinear solver is 5-10x faster than the primal one when there
    # are far more features than texts, as here.
    classifier = LogisticRegression(
        C=params.C, solver="liblinear", dual=True, max_iter=params.max_iter, random_state=seed
    )
    classifier.fit(features @ sparse.diags(ratio), members.astype(int))
    classifier.coef_ = classifier.coef_ * ratio  # fold r into w: x.(r*w) == (x*r).w
    return classifier


def fit_nbsvm(
    texts: Sequence[str], codes: np.ndarray, params: NbsvmConfig, seed: int = 0
) -> Pipeline:
    """Fit the model on cleaned texts.

    Parameters
    ----------
    texts : sequence of str
        Cleaned texts (see ``data_prep.text.clean_text``).
    codes : numpy.ndarray
        The label index of each text, ``0 .. K-1``; every label must be present.
    params : NbsvmConfig
        Hyperparameters.
    seed : int
        Seed of the solver's coordinate order (same seed and data, same model).

    Returns
    -------
    sklearn.pipeline.Pipeline
        ``vectorizer`` (binary counts) then ``classifier`` (logistic regression with
        the NB ratios folded into its weights); ``predict_proba`` has K columns.
    """
    codes = np.asarray(codes)
    k = int(codes.max()) + 1 if len(codes) else 0
    if k < 2 or len(np.unique(codes)) != k:
        raise ValueError(f"Training needs texts of every label (2 or more), got codes {k}")
    vectorizer = make_vectorizer(params)
    features = vectorizer.transform(texts).tocsr()
    if k == 2:
        classifier = _fit_one(features, codes == 1, params, seed)
    else:  # one-vs-rest, gathered in one LogisticRegression (its predict_proba: softmax)
        members = [_fit_one(features, codes == code, params, seed) for code in range(k)]
        classifier = members[0]
        classifier.coef_ = np.vstack([member.coef_ for member in members])
        classifier.intercept_ = np.concatenate([member.intercept_ for member in members])
        classifier.classes_ = np.arange(k)
    return Pipeline([("vectorizer", vectorizer), ("classifier", classifier)])
