"""Training pipeline shared by ``train_model.py`` and ``train_model_hptuning.py``.

One run: load the processed dataset, hold out a stratified validation split
of train, fit the model, evaluate it on validation (and on test, outside
sweeps), then either log everything to MLflow (params, metrics, plots,
dataset lineage, the model with its signature, a registry version) or save
the model under ``models/``. The labels come from the dataset's manifest; the
decision rule (``train.positive_label``, ``train.threshold``) is saved with the model.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import mlflow
import numpy as np
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from mlflow.models import infer_signature
from sklearn.model_selection import train_test_split

from ..configuration import ConfigError
from ..data_prep.processed_dataset import load_manifest, load_split
from ..general_utils import staged_folder
from . import model_io, tracking
from .evaluation import Evaluation, evaluate, evaluation_figures
from .nbsvm import fit_nbsvm
from .predictor import DecisionRule, ModelInfo, Predictor
from .pyfunc import PyfuncModel
from .training_config import EnsembleConfig, NbsvmConfig, TrainConfig, TransformerConfig

LOGGER = logging.getLogger(__name__)
#: What the ownership marker of a locally saved model folder says it holds.
MODEL_KIND = "model"
#: Name of the model inside each MLflow run.
MODEL_ARTIFACT = "model"
#: Texts stored as the model's input example.
N_EXAMPLES = 3


@dataclass(frozen=True)
class TrainingData:
    """Train, validation and (optionally) test splits, and the labels they use."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame | None
    manifest: dict[str, Any]
    labels: tuple[str, ...]

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        """The label index (into :attr:`labels`) of each row of ``frame``."""
        return frame["label"].map({label: i for i, label in enumerate(self.labels)}).to_numpy()

    def example(self) -> list[str]:
        """A few validation texts: the model's input example and the base of its signature."""
        return _texts(self.val.head(N_EXAMPLES))


class TrainingResult(NamedTuple):
    """Outcome of one training run."""

    metrics: dict[str, float]
    objective: float
    model_uri: str
    run_id: str | None
    tracking_uri: str | None
    registered_model: str | None
    seconds: float


class FittedModels(NamedTuple):
    """The model scored on validation, the one saved, and what fitting them logged."""

    val_model: Any
    final_model: Any
    metrics: dict[str, float] | None = None


def decision_rule(cfg: TrainConfig, manifest: dict[str, Any]) -> DecisionRule:
    """The dataset's labels with the configured rule; a rule that does not fit is a ConfigError."""
    try:
        return DecisionRule(tuple(manifest["labels"]), cfg.positive_label, cfg.threshold)
    except ValueError as error:
        raise ConfigError(f"train.positive_label: {error}") from None


def load_training_data(cfg: TrainConfig, manifest: dict[str, Any], with_test: bool) -> TrainingData:
    """Load the processed dataset and split validation off train.

    The split is stratified and shuffled with ``cfg.seed`` (raw folders list the
    texts of one label after another).
    """
    frame = load_split(cfg.data_path, "train")
    train, val = train_test_split(
        frame, test_size=cfg.val_split, stratify=frame["label"], shuffle=True,
        random_state=cfg.seed,
    )
    if with_test and "test" not in manifest["files"]:
        LOGGER.warning("The dataset at %s has no test split: no test metrics.", cfg.data_path)
        with_test = False
    test = load_split(cfg.data_path, "test") if with_test else None
    return TrainingData(train, val, test, manifest, tuple(manifest["labels"]))


def _sweep_trial() -> bool:
    """Whether this run is one trial of a Hydra ``--multirun`` sweep."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _local_model_dir(cfg: TrainConfig) -> Path:
    """Where to save the model without MLflow; each sweep trial gets its own folder."""
    if _sweep_trial():
        return Path(HydraConfig.get().runtime.output_dir) / "model"
    return Path(cfg.local_model_dir)


def _texts(frame: pd.DataFrame) -> list[str]:
    return frame["text"].astype(str).tolist()


def _signature(model: Any, rule: DecisionRule, example: list[str]) -> Any:
    """Input: texts; output: what ``mlflow.pyfunc`` gives (label, probabilities)."""
    pyfunc = PyfuncModel(Predictor(model, rule, ModelInfo("in-memory")))
    return infer_signature(example, pyfunc.predict(example))


def save_model_atomically(
    model: Any, rule: DecisionRule, destination: Path, example: list[str]
) -> None:
    """Save in MLflow's model format (this project's flavour, no pickle).

    The folder is complete or left as it was. Only a model folder this pipeline saved
    is replaced; any other non-empty folder is refused
    (:class:`~..general_utils.UnownedDestinationError`), never deleted.
    """
    with staged_folder(destination, MODEL_KIND) as staging:
        model_io.save_model(model, staging, rule.as_dict(),
                            signature=_signature(model, rule, example), input_example=example)


@contextlib.contextmanager
def _tracked_run(cfg: TrainConfig) -> Iterator[Any]:
    """An MLflow run (or nothing when tracking is off) that always ends.

    ``tracking.tracked_run`` ends it FINISHED, FAILED on an exception, or KILLED
    on SIGTERM/Ctrl-C, so no run stays RUNNING.
    """
    if not cfg.setup_mlflow:
        yield None
        return
    experiment_id = tracking.configure_tracking(
        cfg.mlflow_tracking_uri, cfg.mlflow_exp_name, cfg.mlflow_artifact_location
    )
    if cfg.mlflow_autolog:
        LOGGER.warning(
            "train.mlflow_autolog=true is ignored: MLflow's sklearn autolog turns the "
            "sparse 2**hash_bits-column features into a dense array (15.6 GiB for 500 "
            "reviews at 2**22). Params, metrics, plots, dataset and model are logged anyway."
        )
    with tracking.tracked_run(experiment_id, cfg.model_dump(mode="json"), _sweep_trial()) as run:
        yield run


def _log_run(  # pylint: disable=too-many-arguments
    cfg: TrainConfig,
    data: TrainingData,
    model: Any,
    rule: DecisionRule,
    metrics: dict[str, float],
    figures: dict[str, Any],
) -> tuple[str, str | None]:
    """Log the dataset (the run's input: lineage, with its manifest), metrics, plots, model.

    Returns
    -------
    model_uri, registered : str, str or None
        The logged model's URI and ``name/version`` when registered.
    """
    sha256, run_id = data.manifest["content_sha256"], mlflow.active_run().info.run_id
    tracking.log_dataset(run_id, cfg.data_path, sha256, "training")
    mlflow.set_tags({"dataset_sha256": sha256, "dataset_path": cfg.data_path})
    mlflow.log_dict(data.manifest, "dataset/manifest.json")
    mlflow.log_metrics(metrics)
    for name, figure in figures.items():
        mlflow.log_figure(figure, f"plots/{name}")
    example = data.example()
    info = model_io.log_model(model, MODEL_ARTIFACT, rule.as_dict(),
                              _signature(model, rule, example), example)
    mlflow.set_tag(tracking.MODEL_URI_TAG, info.model_uri)
    if not cfg.register_model:
        return info.model_uri, None
    version = tracking.register_model(info.model_uri, cfg.registered_model_name)
    return info.model_uri, f"{cfg.registered_model_name}/{version}"


def _evaluate_splits(
    fitted: FittedModels, data: TrainingData, rule: DecisionRule
) -> tuple[dict[str, float], Predictor, Evaluation]:
    """Validation metrics of the validated model and test metrics of the final one.

    They differ when the final model is refit on train + validation: validation
    then scores the model fitted on train alone (the one that was chosen). Also
    returns the predictor and evaluation of the last split (test when there is one),
    for the plots.
    """
    metrics: dict[str, float] = {}
    for split, frame, model in (("val", data.val, fitted.val_model),
                                ("test", data.test, fitted.final_model)):
        if frame is None:
            continue
        predictor = Predictor(model, rule, ModelInfo(uri="in-memory"))
        evaluation = evaluate(predictor, _texts(frame), data.codes(frame), split)
        metrics.update(evaluation.metrics)
    return metrics, predictor, evaluation


def _fit_nbsvm(cfg: NbsvmConfig, data: TrainingData, seed: int) -> FittedModels:
    """Fit on train (scored on validation), then refit on train + validation if configured."""
    model = fit_nbsvm(_texts(data.train), data.codes(data.train), cfg, seed)
    if not cfg.refit_on_all_train:
        return FittedModels(model, model)
    everything = pd.concat([data.train, data.val])
    LOGGER.info("Refitting the NBSVM on train + validation (%d texts).", len(everything))
    return FittedModels(model, fit_nbsvm(_texts(everything), data.codes(everything), cfg, seed))


def _fit_transformer(  # pylint: disable=too-many-arguments
    cfg: TransformerConfig, data: TrainingData, seed: int, run: Any, base: str, prefix: str
) -> FittedModels:
    from .transformer import fit_transformer  # pylint: disable=import-outside-toplevel

    model = fit_transformer(
        _texts(data.train), data.codes(data.train), _texts(data.val), data.codes(data.val),
        cfg, num_labels=len(data.labels), seed=seed, base=base,
        on_epoch=None if run is None else lambda epoch, metrics: mlflow.log_metrics(
            {f"{prefix}{k}": v for k, v in metrics.items()}, step=epoch),  # one step an epoch
    )
    return FittedModels(model, model)


def _fit_ensemble(
    cfg: EnsembleConfig, data: TrainingData, seed: int, run: Any, base: str
) -> FittedModels:
    """Both members on train, the weight chosen on validation, NBSVM refit if configured."""
    from .ensemble import EnsembleModel, choose_weight  # pylint: disable=import-outside-toplevel

    nbsvm = _fit_nbsvm(cfg.nbsvm, data, seed)
    transformer = _fit_transformer(
        cfg.transformer, data, seed, run, base, "transformer_epoch_"
    ).final_model
    val_texts = _texts(data.val)
    weight, accuracies = choose_weight(
        nbsvm.val_model.predict_proba(val_texts), transformer.predict_proba(val_texts),
        data.codes(data.val), cfg.weights,
    )
    LOGGER.info("Ensemble weight of the transformer: %.2f (validation accuracy by weight: %s)",
                weight, ", ".join(f"{w:.2f}={a:.4f}" for w, a in accuracies.items()))
    metrics = {"ensemble_transformer_weight": weight}
    metrics.update({f"ensemble_val_accuracy_w{w:.2f}": a for w, a in accuracies.items()})
    return FittedModels(
        EnsembleModel(nbsvm.val_model, transformer, weight),
        EnsembleModel(nbsvm.final_model, transformer, weight),
        metrics,
    )


def _resolve_base(cfg: TrainConfig) -> str | None:
    """Check a transformer's base model before any run starts (missing folder, wrong hash)."""
    model_cfg = cfg.model.transformer if isinstance(cfg.model, EnsembleConfig) else cfg.model
    if not isinstance(model_cfg, TransformerConfig):
        return None
    # pylint: disable=import-outside-toplevel
    try:
        from .transformer import choose_device, resolve_base_model
    except ImportError as error:
        raise ConfigError(
            f"train.model.kind={cfg.model.kind} needs the neural extra: "
            f"pip install '.[neural]' ({error})"
        ) from None
    choose_device(model_cfg.device)
    return resolve_base_model(model_cfg.base_model, model_cfg.base_model_sha256)


def _fit(cfg: TrainConfig, data: TrainingData, run: Any, base: str | None) -> FittedModels:
    model_cfg = cfg.model
    if isinstance(model_cfg, NbsvmConfig):
        return _fit_nbsvm(model_cfg, data, cfg.seed)
    assert base is not None
    if isinstance(model_cfg, TransformerConfig):
        return _fit_transformer(model_cfg, data, cfg.seed, run, base, "epoch_")
    return _fit_ensemble(model_cfg, data, cfg.seed, run, base)


def _keep(  # pylint: disable=too-many-arguments
    cfg: TrainConfig, data: TrainingData, fitted: FittedModels, rule: DecisionRule,
    metrics: dict[str, float], plotted: tuple[Predictor, Evaluation], run: Any,
) -> tuple[str, str | None]:
    """Save the final model locally, or log it to the run; its URI and registry version."""
    model, example = fitted.final_model, data.example()
    if run is None:
        folder = _local_model_dir(cfg)
        save_model_atomically(model, rule, folder, example)
        return str(folder), None
    keep = tracking.keep_model_if_logging_fails(  # if the tracking server fails mid-logging
        lambda folder: save_model_atomically(model, rule, folder, example), _local_model_dir(cfg))
    with evaluation_figures(*plotted) as figures, keep:
        return _log_run(cfg, data, model, rule, metrics, figures)


def run_training(cfg: TrainConfig) -> TrainingResult:
    """Train, evaluate and track (or save) one model as configured.

    Parameters
    ----------
    cfg : TrainConfig
        The validated ``train`` section (see :func:`.training_config.train_config`).

    Returns
    -------
    TrainingResult
        ``objective`` is ``metrics[cfg.objective_metric]``, which the sweep
        maximises (a validation metric: the test split is never used to choose
        a model).
    """
    start = time.perf_counter()
    manifest = load_manifest(cfg.data_path)  # no dataset: a usage error, before any run
    rule = decision_rule(cfg, manifest)
    base = _resolve_base(cfg)  # no base model or a wrong hash: also before any run
    # Everything after the tracking check runs inside the MLflow run, so any
    # failure (unreadable data, a crash while fitting) is recorded as a FAILED run.
    with _tracked_run(cfg) as run:
        data = load_training_data(cfg, manifest, cfg.evaluate_test and not _sweep_trial())
        LOGGER.info(
            "Training a %s model on %d texts (labels %s), validating on %d%s.",
            cfg.model.kind, len(data.train), ", ".join(data.labels), len(data.val),
            f", testing on {len(data.test)}" if data.test is not None else "",
        )
        tick = time.perf_counter()
        fitted = _fit(cfg, data, run, base)
        metrics, *plotted = _evaluate_splits(fitted, data, rule)
        metrics.update(fitted.metrics or {}, fit_seconds=time.perf_counter() - tick)
        LOGGER.info("Metrics: %s", ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        model_uri, registered = _keep(cfg, data, fitted, rule, metrics, tuple(plotted), run)
    return TrainingResult(
        metrics, metrics[cfg.objective_metric], model_uri,
        run.info.run_id if run is not None else None,
        cfg.mlflow_tracking_uri if run is not None else None,
        registered, time.perf_counter() - start,
    )


def summarise(result: TrainingResult) -> str:
    """A closing summary: metrics, where the model and run are, how to look at them."""
    lines = [f"Training finished in {result.seconds:.1f} s."]
    lines += [f"  {name:<16} {value:.4f}" for name, value in result.metrics.items()]
    if result.run_id is None:
        return "\n".join([*lines, f"  Model saved to {result.model_uri} (MLflow model format).",
                          "  Tracking was off (train.setup_mlflow=false)."])
    lines += [f"  MLflow run {result.run_id}",
              f"  Model: runs:/{result.run_id}/{MODEL_ARTIFACT}  ({result.model_uri})"]
    if result.registered_model:
        lines.append(f"  Registered as models:/{result.registered_model}")
    uri = str(result.tracking_uri)
    server = uri.startswith(("http://", "https://"))
    lines.append(f"  See it at {uri}" if server else
                 f"  See it with: mlflow ui --backend-store-uri {uri}")
    return "\n".join(lines)
