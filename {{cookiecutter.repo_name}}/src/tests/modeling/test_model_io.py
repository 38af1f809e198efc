"""Safe model loading: only this project's flavour, numeric arrays and safetensors, no pickle."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pytest
import yaml
from serving_support import TINY_LABELS, fit_tiny_model, save_tiny_model

from {{ cookiecutter.src_package_name }}.modeling import model_io
from {{ cookiecutter.src_package_name }}.modeling.predictor import DecisionRule, Predictor
from {{ cookiecutter.src_package_name }}_fastapi.config import Settings
from {{ cookiecutter.src_package_name }}_fastapi.deps import ModelLoadError, load_predictor


class _Payload:
    """Unpickling this touches a marker file: proof that code ran on load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def _pickle_model(
    folder: Path, marker: Path, serializer: str, loader: str = "mlflow.sklearn"
) -> Path:
    """A model folder as MLflow's sklearn flavour writes it, holding a malicious pickle."""
    folder.mkdir(parents=True)
    (folder / "model.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    flavors = {
        "python_function": {"loader_module": loader, "model_path": "model.pkl"},
        "sklearn": {"pickled_model": "model.pkl", "serialization_format": serializer},
    }
    (folder / "MLmodel").write_text(yaml.safe_dump({"flavors": flavors}))
    return folder


@pytest.mark.parametrize("serializer", ["pickle", "cloudpickle"])
def test_a_pickled_model_is_refused_before_any_code_runs(
    tmp_path: Path, serializer: str
) -> None:
    marker = tmp_path / "code-ran"
    folder = _pickle_model(tmp_path / "model", marker, serializer)
    with pytest.raises(model_io.UnsafeModelError, match="not this project's"):
        Predictor.load(folder)
    assert not marker.exists()
    assert os.environ[model_io.PICKLE_ENV] == "false"


def test_mlflow_pyfunc_through_the_projects_loader_refuses_a_pickle_too(tmp_path: Path) -> None:
    # A crafted MLmodel that names the project's loader: mlflow.pyfunc then goes
    # through Predictor.load, which refuses the folder before reading the pickle.
    marker = tmp_path / "code-ran"
    folder = _pickle_model(tmp_path / "model", marker, "pickle", loader=model_io.PYFUNC_LOADER)
    with pytest.raises(model_io.UnsafeModelError, match="not this project's"):
        mlflow.pyfunc.load_model(str(folder))
    assert not marker.exists()


def test_the_api_does_not_start_on_a_crafted_model(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    folder = _pickle_model(tmp_path / "model", marker, "pickle")
    with pytest.raises(ModelLoadError, match=r"Cannot start the API.*UnsafeModelError.*pickle"):
        load_predictor(Settings(PRED_MODEL_PATH=str(folder)))
    assert not marker.exists()


def test_an_array_file_holding_a_pickle_is_refused_before_any_code_runs(tmp_path: Path) -> None:
    folder = save_tiny_model(tmp_path / "model")
    marker = tmp_path / "code-ran"
    # An object array is stored as a pickle inside the .npz: loading it would run _Payload.
    weights = dict(np.load(folder / model_io.NBSVM_FILE))
    weights["coef"] = np.array([_Payload(marker)], dtype=object)
    np.savez(folder / model_io.NBSVM_FILE, **weights)
    with pytest.raises(model_io.UnsafeModelError, match=r"not a valid NBSVM file.*allow_pickle"):
        Predictor.load(folder)
    with pytest.raises(model_io.UnsafeModelError, match="not a valid NBSVM file"):
        mlflow.pyfunc.load_model(str(folder))
    with pytest.raises(ModelLoadError, match="not a valid NBSVM file"):
        load_predictor(Settings(PRED_MODEL_PATH=str(folder)))
    assert not marker.exists()


def test_member_paths_cannot_leave_the_model_folder(tmp_path: Path) -> None:
    folder = save_tiny_model(tmp_path / "model")
    meta = yaml.safe_load((folder / "MLmodel").read_text())
    meta["flavors"][model_io.FLAVOR]["nbsvm"] = "../elsewhere.npz"
    (folder / "MLmodel").write_text(yaml.safe_dump(meta))
    with pytest.raises(model_io.UnsafeModelError, match="outside the model"):
        model_io.load_model(folder)


def test_a_corrupt_or_mismatched_nbsvm_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = save_tiny_model(tmp_path / "model")
    weights = dict(np.load(folder / model_io.NBSVM_FILE))
    np.savez(folder / model_io.NBSVM_FILE, **{**weights, "n_features": 8})
    with pytest.raises(model_io.UnsafeModelError, match="do not fit 8"):
        model_io.load_model(folder)
    (folder / model_io.NBSVM_FILE).write_bytes(b"not a zip")
    with pytest.raises(model_io.UnsafeModelError, match="not a valid NBSVM file"):
        model_io.load_model(folder)


def test_the_saved_nbsvm_is_plain_arrays_and_round_trips(tmp_path: Path) -> None:
    model = fit_tiny_model()
    folder = save_tiny_model(tmp_path / "model")
    with np.load(folder / model_io.NBSVM_FILE, allow_pickle=False) as arrays:
        assert sorted(arrays) == ["classes", "coef", "intercept", "n_features", "ngram_max"]
        assert all(arrays[name].dtype != object for name in arrays)
    texts = ["an awesome wonderful film", "a boring awful film"]
    expected = model.predict_proba(texts)
    loaded, rule = model_io.load_model(folder)
    np.testing.assert_allclose(loaded.predict_proba(texts), expected)
    assert rule == {"labels": TINY_LABELS["binary"], "positive_label": None, "threshold": 0.5}
    flavors = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]
    assert set(flavors) == {model_io.FLAVOR, "python_function"}
    assert flavors[model_io.FLAVOR]["kind"] == "nbsvm"
    # MLflow's generic flavour loads through the project's code, from the same files:
    # no second copy of the model, and nothing pickled.
    assert flavors["python_function"]["loader_module"] == model_io.PYFUNC_LOADER
    assert sorted(path.name for path in folder.iterdir()) == [
        "MLmodel", model_io.NBSVM_FILE]  # fmt: skip


@pytest.mark.parametrize(
    ("labels", "positive_label", "threshold"),
    [("three", None, 0.5), ("binary", "positive", 0.8), ("binary", "negative", 0.3)],
)
def test_the_decision_rule_is_saved_with_the_model(
    tmp_path: Path, labels: str, positive_label: str | None, threshold: float
) -> None:
    rule = DecisionRule(TINY_LABELS[labels], positive_label, threshold)
    model_io.save_model(fit_tiny_model(labels), tmp_path / "model", rule.as_dict())
    predictor = Predictor.load(tmp_path / "model")
    assert predictor.rule == rule
    assert predictor.predict_proba(["a text"]).shape == (1, len(TINY_LABELS[labels]))


def test_a_saved_rule_out_of_bounds_is_refused_on_load(tmp_path: Path) -> None:
    """A model's MLmodel is a file anyone can edit: a threshold of 1.5 would answer "negative"
    to every review without a word, so loading refuses it (the training config never sees it)."""
    rule = DecisionRule(TINY_LABELS["binary"], "positive", 0.8)
    model_io.save_model(fit_tiny_model("binary"), tmp_path / "model", rule.as_dict())
    mlmodel = tmp_path / "model" / "MLmodel"
    mlmodel.write_text(mlmodel.read_text().replace("threshold: 0.8", "threshold: 1.5"))
    with pytest.raises(ValueError, match=r"threshold must be between 0 and 1, got 1\.5"):
        Predictor.load(tmp_path / "model")
