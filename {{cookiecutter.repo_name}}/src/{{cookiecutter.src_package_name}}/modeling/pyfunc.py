"""MLflow's ``python_function`` flavour of this project's models, through the project's loader.

Named as ``loader_module`` in every saved ``MLmodel``, so with the project installed::

    mlflow.pyfunc.load_model("models:/<name>@champion").predict(["A great film."])
    mlflow models serve -m models:/<name>@champion --env-manager local

load through :meth:`.predictor.Predictor.load` (no pickle). The input is texts (a list,
a Series, or a DataFrame: its ``text`` column, else its first); the output is a
DataFrame with ``label``, ``probability`` and ``probabilities`` (label -> probability),
one row per text, as the project's API answers.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .predictor import Prediction, Predictor


class PyfuncModel:
    """What ``mlflow.pyfunc`` wraps: ``predict`` on texts."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Label, its probability and every label's probability, per text."""
        del params
        if isinstance(model_input, pd.DataFrame):
            column = "text" if "text" in model_input.columns else model_input.columns[0]
            model_input = model_input[column]
        texts = [str(text) for text in list(model_input)]
        return pd.DataFrame(self.predictor.predict(texts), columns=Prediction._fields)


def _load_pyfunc(path: str) -> PyfuncModel:
    """The loader that ``mlflow.pyfunc.load_model`` calls with the model's local folder."""
    return PyfuncModel(Predictor.load(path))
