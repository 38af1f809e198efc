"""Safe model loading: only this project's flavour, skops with a fixed allow-list, no pickle."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pytest
import skops.io
import yaml
from serving_support import TINY_LABELS, fit_tiny_model, save_tiny_model
from sklearn.preprocessing import FunctionTransformer

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


def test_a_skops_file_with_a_type_off_the_allow_list_is_refused(tmp_path: Path) -> None:
    folder = save_tiny_model(tmp_path / "model")
    # A pipeline step that would call any function: skops itself would ask to trust it.
    skops.io.dump(FunctionTransformer(np.exp), folder / model_io.NBSVM_FILE)
    with pytest.raises(model_io.UnsafeModelError, match="FunctionTransformer"):
        Predictor.load(folder)
    with pytest.raises(model_io.UnsafeModelError, match="FunctionTransformer"):
        mlflow.pyfunc.load_model(str(folder))
    with pytest.raises(ModelLoadError, match="allow-list"):
        load_predictor(Settings(PRED_MODEL_PATH=str(folder)))


def test_member_paths_cannot_leave_the_model_folder(tmp_path: Path) -> None:
    folder = save_tiny_model(tmp_path / "model")
    meta = yaml.safe_load((folder / "MLmodel").read_text())
    meta["flavors"][model_io.FLAVOR]["nbsvm"] = "../elsewhere.skops"
    (folder / "MLmodel").write_text(yaml.safe_dump(meta))
    with pytest.raises(model_io.UnsafeModelError, match="outside the model"):
        model_io.load_model(folder)


def test_a_corrupt_skops_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = save_tiny_model(tmp_path / "model")
    (folder / model_io.NBSVM_FILE).write_bytes(b"not a zip")
    with pytest.raises(model_io.UnsafeModelError, match="not a valid skops file"):
        model_io.load_model(folder)


def test_the_saved_nbsvm_holds_only_allowed_types_and_round_trips(tmp_path: Path) -> None:
    model = fit_tiny_model()
    folder = save_tiny_model(tmp_path / "model")
    with zipfile.ZipFile(folder / model_io.NBSVM_FILE) as archive:
        assert "schema.json" in archive.namelist()
    assert model_io.skops_types(folder / model_io.NBSVM_FILE) <= model_io.SKOPS_ALLOWED_TYPES
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
        "MLmodel", model_io.NBSVM_FILE, "requirements.txt"]  # fmt: skip


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
