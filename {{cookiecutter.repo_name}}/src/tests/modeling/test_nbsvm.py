"""The NBSVM-style model and its plain-sklearn saved form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pipeline_testkit import review_text
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from {{ cookiecutter.src_package_name }}.modeling import model_io
from {{ cookiecutter.src_package_name }}.modeling.nbsvm import (
    fit_nbsvm,
    log_count_ratio,
    make_vectorizer,
)
from {{ cookiecutter.src_package_name }}.modeling.predictor import SentimentPredictor
from {{ cookiecutter.src_package_name }}.modeling.training_config import NbsvmConfig


def _data(n: int = 30, seed: int = 0) -> tuple[list[str], np.ndarray]:
    import random  # pylint: disable=import-outside-toplevel

    rng = random.Random(seed)
    labels = np.array([i % 2 for i in range(n)])
    return [review_text(bool(label), rng).replace("<br />", " ") for label in labels], labels


def test_saved_model_is_a_plain_sklearn_pipeline() -> None:
    texts, labels = _data()
    model = fit_nbsvm(texts, labels, NbsvmConfig(hash_bits=16))
    assert isinstance(model, Pipeline)
    assert [type(step) for _, step in model.steps] == [HashingVectorizer, LogisticRegression]
    proba = model.predict_proba(["great wonderful loved it", "awful boring waste"])
    assert proba.shape == (2, 2)
    assert proba[0, 1] > 0.5 > proba[1, 1]


def test_folding_the_ratio_into_the_weights_changes_no_prediction() -> None:
    texts, labels = _data()
    params = NbsvmConfig(hash_bits=16, C=2.0)
    model = fit_nbsvm(texts, labels, params, seed=3)
    features = make_vectorizer(params).transform(texts).tocsr()
    ratio = log_count_ratio(features, labels, params.nb_alpha)
    unfolded = LogisticRegression(C=2.0, solver="liblinear", dual=True, max_iter=1000,
                                   random_state=3)
    unfolded.fit(features @ sparse.diags(ratio), labels)
    expected = unfolded.decision_function(features @ sparse.diags(ratio))
    np.testing.assert_allclose(model.decision_function(texts), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "bad", [{"C": 0.0}, {"ngram_max": 0}, {"hash_bits": 40}, {"nb_alpha": -1.0}]
)
def test_bad_hyperparameters_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        NbsvmConfig(**bad)  # type: ignore[arg-type]


def test_one_class_is_refused() -> None:
    with pytest.raises(ValueError, match="both"):
        fit_nbsvm(["good", "great"], np.array([1, 1]), NbsvmConfig(hash_bits=12))


def test_saved_as_skops_with_the_allow_list_and_loaded_by_the_shared_predictor(
    tmp_path: Path,
) -> None:
    texts, labels = _data()
    model = fit_nbsvm(texts, labels, NbsvmConfig(hash_bits=16))
    model_io.save_model(model, tmp_path / "model")
    assert (tmp_path / "model" / model_io.NBSVM_FILE).exists()
    predictor = SentimentPredictor.load(tmp_path / "model")
    raw = ["<b>Great</b> wonderful film!", "Awful &amp; boring."]
    expected = model.predict_proba(["Great wonderful film!", "Awful & boring."])[:, 1]
    np.testing.assert_allclose(predictor.predict_proba(raw), expected)
