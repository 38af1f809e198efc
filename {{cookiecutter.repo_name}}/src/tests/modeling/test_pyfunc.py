"""MLflow's ``python_function`` flavour of the project's models, used by MLflow's own tools.

``mlflow.pyfunc.load_model`` on a model folder and on a ``models:/`` URI of a real
local MLflow store, and ``mlflow models serve`` in a real subprocess, must give the
probabilities of the project's own predictor (:meth:`Predictor.load`), with the
labels its decision rule gives. The models are saved as ``train_model.py`` saves
them: with a signature and an input example.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from serving_support import (
    GUIDE_REQUEST,
    TINY_LABELS,
    fit_tiny_model,
    free_port,
    save_tiny_model,
    wait_until_answering,
)

from {{ cookiecutter.src_package_name }}.modeling import model_io
from {{ cookiecutter.src_package_name }}.modeling.predictor import DecisionRule, Predictor
from {{ cookiecutter.src_package_name }}.modeling.training import save_model_atomically

SRC = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TEXTS = [
    *(review["text"] for review in GUIDE_REQUEST["reviews"]),
    "<p>The team scored a late goal in the league match.</p>",
    "Shares rose as the bank reported a profit.",
    "A new chip and a faster browser for phones.",
]


def _save_as_trained(model: Any, rule: DecisionRule, folder: Path) -> Path:
    """Save as ``train_model.py`` does: signature and input example from a few texts."""
    save_model_atomically(model, rule, folder, TEXTS[:2])
    return folder


def _check(frame: pd.DataFrame, expected: np.ndarray, rule: DecisionRule) -> None:
    """``frame`` (pyfunc's answer) holds ``expected``'s probabilities and the rule's labels."""
    labels = rule.labels
    served = np.array([[row[label] for label in labels] for row in frame["probabilities"]])
    np.testing.assert_allclose(served, expected, rtol=1e-9)
    if rule.positive_label is None:
        codes = expected.argmax(axis=1)
    else:
        positive = labels.index(rule.positive_label)
        codes = np.where(expected[:, positive] >= rule.threshold, positive, 1 - positive)
    assert list(frame["label"]) == [labels[code] for code in codes]
    np.testing.assert_allclose(frame["probability"], expected[np.arange(len(codes)), codes],
                               rtol=1e-9)  # fmt: skip


@pytest.mark.parametrize(
    ("labels", "positive_label", "threshold"),
    [("binary", None, 0.5), ("three", None, 0.5), ("binary", "positive", 0.9)],
)
def test_pyfunc_of_a_model_folder_gives_the_predictors_probabilities(
    tmp_path: Path, labels: str, positive_label: str | None, threshold: float
) -> None:
    rule = DecisionRule(TINY_LABELS[labels], positive_label, threshold)
    folder = _save_as_trained(fit_tiny_model(labels), rule, tmp_path / "model")
    expected = Predictor.load(folder).predict_proba(TEXTS)
    model = mlflow.pyfunc.load_model(str(folder))
    assert model.metadata.signature is not None
    for given in (TEXTS, pd.Series(TEXTS), pd.DataFrame({"text": TEXTS}), np.array(TEXTS)):
        _check(model.predict(given), expected, rule)


def test_pyfunc_reads_the_text_column_of_a_table(tmp_path: Path) -> None:
    # Without a signature MLflow hands any table over: its "text" column, else its first.
    folder = save_tiny_model(tmp_path / "model", labels="three")
    rule = DecisionRule(TINY_LABELS["three"])
    expected = Predictor.load(folder).predict_proba(TEXTS)
    model = mlflow.pyfunc.load_model(str(folder))
    _check(model.predict(pd.DataFrame({"id": range(len(TEXTS)), "text": TEXTS})), expected, rule)
    _check(model.predict(pd.DataFrame({"review": TEXTS, "id": range(len(TEXTS))})), expected,
           rule)  # fmt: skip


def test_pyfunc_of_a_registered_model(tmp_path: Path) -> None:
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")  # a real local store
    experiment = mlflow.create_experiment("pyfunc", artifact_location=(tmp_path / "a").as_uri())
    rule = DecisionRule(TINY_LABELS["three"])
    model = fit_tiny_model("three")
    with mlflow.start_run(experiment_id=experiment) as run:
        model_io.log_model(model, "model", rule.as_dict(), None, TEXTS[:2])
    name = "pyfunc-test"
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    mlflow.MlflowClient().set_registered_model_alias(name, "champion", version.version)
    for uri in (f"models:/{name}/{version.version}", f"models:/{name}@champion"):
        expected = Predictor.load(uri).predict_proba(TEXTS)
        _check(mlflow.pyfunc.load_model(uri).predict(TEXTS), expected, rule)


@contextmanager
def mlflow_models_serve(model: Path, tmp_path: Path) -> Iterator[str]:
    """``mlflow models serve -m <model> --env-manager local`` on a free port; its base URL."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    # mlflow starts uvicorn by name; the project's code comes from this checkout.
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", HOME=str(tmp_path),
               PYTHONPATH=str(SRC))  # fmt: skip
    args = [str(BIN / "mlflow"), "models", "serve", "-m", str(model), "--env-manager", "local",
            "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/ping", process, log, timeout=180)
        yield f"http://127.0.0.1:{port}"
    finally:
        # mlflow's process and the uvicorn it runs share the session this test started.
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.mark.slow
def test_mlflow_models_serve_answers_with_the_labels_and_probabilities(tmp_path: Path) -> None:
    rule = DecisionRule(TINY_LABELS["three"])
    folder = _save_as_trained(fit_tiny_model("three"), rule, tmp_path / "model")
    expected = Predictor.load(folder).predict_proba(TEXTS)
    with mlflow_models_serve(folder, tmp_path) as url:
        example = json.loads((folder / "serving_input_example.json").read_text())
        answers = [httpx.post(f"{url}/invocations", json=body, timeout=30)
                   for body in ({"inputs": TEXTS}, example)]  # fmt: skip
    assert [answer.status_code for answer in answers] == [200, 200], answers[0].text
    _check(pd.DataFrame(answers[0].json()["predictions"]), expected, rule)
    assert len(answers[1].json()["predictions"]) == len(example["inputs"])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["transformer", "ensemble"])
def test_pyfunc_of_a_neural_model_gives_the_predictors_probabilities(
    tmp_path: Path, tiny_encoder: Path, kind: str
) -> None:
    pytest.importorskip("torch", reason="the neural extra is not installed")
    # pylint: disable=import-outside-toplevel
    import torch

    from {{ cookiecutter.src_package_name }}.modeling.ensemble import EnsembleModel
    from {{ cookiecutter.src_package_name }}.modeling.training_config import TransformerConfig
    from {{ cookiecutter.src_package_name }}.modeling.transformer import build_model

    # The encoder with a fresh three-label head: what pyfunc must reproduce needs no training.
    cfg = TransformerConfig(
        kind="transformer", base_model=str(tiny_encoder), base_model_sha256=None, max_tokens=24,
        head_tokens=6, epochs=1, batch_size=8, learning_rate=1e-3, weight_decay=0.0,
        warmup_ratio=0.0, device="cpu", eval_batch_size=8, progress=False,
    )  # fmt: skip
    torch.manual_seed(0)
    model: Any = build_model(cfg, torch.device("cpu"), str(tiny_encoder), num_labels=3)
    if kind == "ensemble":
        model = EnsembleModel(fit_tiny_model("three"), model, 0.4)
    rule = DecisionRule(TINY_LABELS["three"])
    folder = _save_as_trained(model, rule, tmp_path / "model")
    expected = Predictor.load(folder).predict_proba(TEXTS)
    _check(mlflow.pyfunc.load_model(str(folder)).predict(TEXTS), expected, rule)
