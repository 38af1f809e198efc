"""The NBSVM-style model and its plain-sklearn saved form, for two labels and for more."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from pipeline_testkit import LABEL_SETS, label_text
from scipy import sparse
from serving_support import TINY_NBSVM
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from {{ cookiecutter.src_package_name }}.modeling import model_io
from {{ cookiecutter.src_package_name }}.modeling.nbsvm import (
    fit_nbsvm,
    log_count_ratio,
    make_vectorizer,
)
from {{ cookiecutter.src_package_name }}.modeling.predictor import DecisionRule, Predictor
from {{ cookiecutter.src_package_name }}.modeling.training_config import NbsvmConfig


def _data(labels: str = "binary", n: int = 30, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """``n`` texts of each label, cleaned; codes index the sorted labels (pos = 1 of 2)."""
    rng = random.Random(seed)
    words = [LABEL_SETS[labels][name] for name in sorted(LABEL_SETS[labels])]
    codes = np.array([i % len(words) for i in range(n * len(words))])
    return [label_text(words[code], rng).replace("<br />", " ") for code in codes], codes


def _params(**values: object) -> NbsvmConfig:
    return TINY_NBSVM.model_copy(update=values)


@pytest.mark.parametrize("labels", ["binary", "three"])
def test_saved_model_is_a_plain_sklearn_pipeline_with_a_column_per_label(labels: str) -> None:
    texts, codes = _data(labels)
    model = fit_nbsvm(texts, codes, _params())
    assert isinstance(model, Pipeline)
    assert [type(step) for _, step in model.steps] == [HashingVectorizer, LogisticRegression]
    proba = model.predict_proba(texts)
    assert proba.shape == (len(texts), len(LABEL_SETS[labels]))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba.argmax(axis=1) == codes).mean() > 0.9  # it learned the labels' words


def test_folding_the_ratio_into_the_weights_changes_no_prediction() -> None:
    texts, codes = _data()
    params = _params(C=2.0)
    model = fit_nbsvm(texts, codes, params, seed=3)
    features = make_vectorizer(params).transform(texts).tocsr()
    ratio = log_count_ratio(features, codes == 1, params.nb_alpha)
    unfolded = LogisticRegression(C=2.0, solver="liblinear", dual=True, max_iter=1000,
                                  random_state=3)
    unfolded.fit(features @ sparse.diags(ratio), codes)
    expected = unfolded.decision_function(features @ sparse.diags(ratio))
    np.testing.assert_allclose(model.decision_function(texts), expected, rtol=1e-9, atol=1e-9)


def test_with_more_labels_each_is_scored_one_against_the_rest() -> None:
    texts, codes = _data("three")
    params = _params()
    model = fit_nbsvm(texts, codes, params)
    features = make_vectorizer(params).transform(texts).tocsr()
    for code in range(3):  # each row of weights is its own binary NBSVM, the ratio folded in
        members = codes == code
        ratio = log_count_ratio(features, members, params.nb_alpha)
        alone = LogisticRegression(C=params.C, solver="liblinear", dual=True, max_iter=1000,
                                   random_state=0).fit(features @ sparse.diags(ratio), members)
        np.testing.assert_allclose(model[-1].coef_[code], alone.coef_[0] * ratio, rtol=1e-9)


@pytest.mark.parametrize(
    "bad", [{"C": 0.0}, {"ngram_max": 0}, {"hash_bits": 40}, {"nb_alpha": -1.0}]
)
def test_bad_hyperparameters_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        NbsvmConfig(**{**TINY_NBSVM.model_dump(), **bad})


def test_one_label_is_refused() -> None:
    with pytest.raises(ValueError, match="every label"):
        fit_nbsvm(["good", "great"], np.array([1, 1]), _params(hash_bits=12))


@pytest.mark.parametrize("labels", ["binary", "three"])
def test_saved_as_plain_arrays_and_loaded_by_the_shared_predictor(
    tmp_path: Path, labels: str
) -> None:
    texts, codes = _data(labels)
    model = fit_nbsvm(texts, codes, _params())
    rule = DecisionRule(tuple(sorted(LABEL_SETS[labels])))
    model_io.save_model(model, tmp_path / "model", rule.as_dict())
    assert (tmp_path / "model" / model_io.NBSVM_FILE).exists()
    predictor = Predictor.load(tmp_path / "model")
    assert predictor.labels == rule.labels
    raw = ["<b>Great</b> wonderful film!", "Awful &amp; boring."]
    expected = model.predict_proba(["Great wonderful film!", "Awful & boring."])
    np.testing.assert_allclose(predictor.predict_proba(raw), expected)
