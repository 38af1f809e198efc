"""The project's own MLflow model flavour: saved and loaded without pickle.

Every model (``nbsvm``, ``transformer``, ``ensemble``) is one MLflow model
folder whose ``MLmodel`` names the flavour :data:`FLAVOR` with its ``kind`` and
its decision rule (``labels``, ``positive_label``, ``threshold``; see
:class:`.predictor.DecisionRule`):

- ``nbsvm``: ``nbsvm.npz``, the pipeline's settings and weights as numeric arrays,
  read without pickle (see :func:`.nbsvm.save`);
- ``transformer``: ``transformer/`` with the encoder's ``config.json`` and
  ``model.safetensors``, the head in ``head.safetensors``, tokenizer files and
  ``settings.json`` (see :mod:`.transformer`);
- ``ensemble``: ``nbsvm.npz``, ``transformer/`` and the weight in ``MLmodel``.

Loading resolves any MLflow URI to a local folder, reads ``MLmodel`` (YAML,
safe loader) and dispatches on the flavour this module wrote. Anything else
(an ``MLmodel`` naming pickle, cloudpickle or another flavour, an array file
holding objects) is refused with :class:`UnsafeModelError` before
any of its files is deserialised. Pickle deserialisation in MLflow is turned
off (``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false``) on the way.

The folder also has MLflow's ``python_function`` flavour, loaded through this
project's code (:mod:`.pyfunc`), so that ``mlflow.pyfunc.load_model`` and
``mlflow models serve --env-manager local`` work where the project is installed.
"""

from __future__ import annotations

import logging
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

import mlflow
import yaml
from mlflow.models import Model
from mlflow.models.utils import _save_example
from sklearn.pipeline import Pipeline

from . import nbsvm
from .predictor import Classifier

LOGGER = logging.getLogger(__name__)

#: Name of the flavour in ``MLmodel``.
FLAVOR = "text_classifier"
FORMAT_VERSION = 2
#: The module that ``mlflow.pyfunc`` loads these models with.
PYFUNC_LOADER = f"{__package__}.pyfunc"
#: The decision rule's keys in the flavour config.
RULE_KEYS = ("labels", "positive_label", "threshold")
KINDS = ("nbsvm", "transformer", "ensemble")
NBSVM_FILE = "nbsvm.npz"
TRANSFORMER_DIR = "transformer"
PICKLE_ENV = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"


class UnsafeModelError(ValueError):
    """The model folder is not one this project saved, or holds untrusted content."""


def model_kind(model: Any) -> str:
    """The ``kind`` a fitted model is saved as."""
    kind = getattr(model, "kind", None)
    if kind in KINDS:
        return str(kind)
    if isinstance(model, Pipeline):
        return "nbsvm"
    raise TypeError(f"cannot save a {type(model).__name__}: not a model of this project")


def save_model(  # pylint: disable=unused-argument,too-many-arguments
    model: Any,
    path: str | Path,
    rule: dict[str, Any],
    mlflow_model: Any = None,
    signature: Any = None,
    input_example: Any = None,
    **kwargs: Any,
) -> None:
    """Write ``model`` as an MLflow model folder of this project's flavour.

    Also the ``save_model`` of the flavour module that :meth:`mlflow.models.Model.log`
    calls (hence ``mlflow_model`` and the ignored ``kwargs``).

    Parameters
    ----------
    model : sklearn Pipeline, TransformerModel or EnsembleModel
        A fitted model of this project.
    path : str or Path
        The folder to create (must not exist).
    rule : dict
        The decision rule (:meth:`.predictor.DecisionRule.as_dict`).
    signature, input_example :
        Recorded in ``MLmodel`` as MLflow does for its own flavours.
    """
    folder = Path(path)
    folder.mkdir(parents=True)
    kind = model_kind(model)
    mlflow_model = mlflow_model or Model()
    mlflow_model.signature = signature
    if input_example is not None:
        _save_example(mlflow_model, input_example, str(folder))
    config: dict[str, Any] = {"kind": kind, "format_version": FORMAT_VERSION, **rule}
    if kind in ("nbsvm", "ensemble"):
        nbsvm.save(model if kind == "nbsvm" else model.nbsvm, folder / NBSVM_FILE)
        config["nbsvm"] = NBSVM_FILE
    if kind in ("transformer", "ensemble"):
        (model if kind == "transformer" else model.transformer).save(folder / TRANSFORMER_DIR)
        config["transformer"] = TRANSFORMER_DIR
    if kind == "ensemble":
        config["transformer_weight"] = float(model.weight)
    mlflow_model.add_flavor(FLAVOR, **config)
    mlflow.pyfunc.add_to_model(mlflow_model, loader_module=PYFUNC_LOADER)
    mlflow_model.save(str(folder / "MLmodel"))


def log_model(
    model: Any, name: str, rule: dict[str, Any], signature: Any, input_example: Any
) -> Any:
    """Log ``model`` to the active MLflow run; returns MLflow's ``ModelInfo``."""
    return Model.log(
        artifact_path=None,
        name=name,
        flavor=sys.modules[__name__],
        model=model,
        rule=rule,
        signature=signature,
        input_example=input_example,
        validate_serving_input=False,
    )


def load_nbsvm(path: Path) -> Pipeline:
    """The NBSVM pipeline saved at ``path``: numeric arrays only, never a pickle."""
    try:
        return nbsvm.load(path)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise UnsafeModelError(f"{path} is not a valid NBSVM file ({error})") from None


def local_model_dir(uri: str | Path) -> Path:
    """A local folder holding the model at ``uri`` (downloaded when it is remote).

    MLflow gives a local path or ``file://`` URI back as it is, without copying.
    """
    text = str(uri)
    if "://" not in text and ":/" not in text and not Path(text).exists():
        raise FileNotFoundError(f"{text}: no such file or directory")
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=text))


def read_flavor(folder: Path) -> dict[str, Any]:
    """This project's flavour config from ``folder/MLmodel``; refuses any other model."""
    mlmodel = folder / "MLmodel"
    if not mlmodel.is_file():
        raise FileNotFoundError(f"{folder} holds no MLmodel file: not an MLflow model folder")
    meta = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
    flavors = meta.get("flavors") or {}
    config = flavors.get(FLAVOR)
    if not isinstance(config, dict) or config.get("kind") not in KINDS:
        raise UnsafeModelError(
            f"refusing to load the model in {folder}: its MLmodel has flavours "
            f"{sorted(flavors)}, not this project's {FLAVOR!r} (nbsvm, transformer or "
            "ensemble). Models in pickle, cloudpickle or other formats are never loaded; "
            "retrain it with src/train_model.py."
        )
    if config.get("format_version") != FORMAT_VERSION:
        raise UnsafeModelError(
            f"{folder}: format_version {config.get('format_version')!r} is not "
            f"{FORMAT_VERSION}; retrain the model with this version of the project"
        )
    return config


def _member_path(folder: Path, config: dict[str, Any], key: str) -> Path:
    """A member file named in the flavour config, which must stay inside ``folder``."""
    relative = str(config.get(key, ""))
    target = (folder / relative).resolve()
    if not relative or not target.is_relative_to(folder.resolve()):
        raise UnsafeModelError(f"{folder}: MLmodel names {key}={relative!r} outside the model")
    return target


def load_model(uri: str | Path) -> tuple[Classifier, dict[str, Any]]:
    """Load a model this project saved, from a folder or any MLflow model URI.

    Returns
    -------
    model, rule : Classifier, dict
        The model and its decision rule (the keyword arguments of ``DecisionRule``).

    Raises
    ------
    UnsafeModelError
        When the folder is not this project's flavour or holds untrusted content.
    FileNotFoundError
        When there is no ``MLmodel``.
    """
    os.environ[PICKLE_ENV] = "false"  # MLflow refuses pickle and cloudpickle (its default: allowed)
    folder = local_model_dir(uri)
    config = read_flavor(folder)
    rule = {key: config.get(key) for key in RULE_KEYS}
    rule["labels"] = tuple(rule["labels"] or ())
    return _load_members(folder, config), rule


def _load_members(folder: Path, config: dict[str, Any]) -> Classifier:
    """The model of the ``kind`` that ``config`` names, from its member files."""
    kind = config["kind"]
    linear = load_nbsvm(_member_path(folder, config, "nbsvm")) if kind != "transformer" else None
    if kind == "nbsvm":
        return linear
    # pylint: disable=import-outside-toplevel
    try:
        from .transformer import TransformerModel
    except ImportError as error:
        raise ImportError(
            f"the model in {folder} is a {kind} model: install the neural extra "
            f"(pip install '.[neural]') to load it ({error})"
        ) from None
    transformer = TransformerModel.load(_member_path(folder, config, "transformer"))
    if kind == "transformer":
        return transformer
    from .ensemble import EnsembleModel

    return EnsembleModel(linear, transformer, float(config["transformer_weight"]))
