"""Training pipeline shared by ``train_model.py`` and ``train_model_hptuning.py``.

One run: load the processed dataset, hold out a stratified validation split
of train, fit the model, evaluate it on validation (and on test, outside
sweeps), then either log everything to MLflow (params, metrics, plots,
dataset lineage, the model with its signature, a registry version) or save
the model under ``models/``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from sklearn.model_selection import train_test_split

from ..data_prep.processed_dataset import load_manifest, load_split
from ..general_utils import setup_logging, staged_folder
from . import model_io, tracking
from .evaluation import close_figures, evaluate, evaluation_figures
from .nbsvm import fit_nbsvm
from .predictor import ModelInfo, SentimentPredictor
from .training_config import EnsembleConfig, NbsvmConfig, TrainConfig, TransformerConfig

LOGGER = logging.getLogger(__name__)
#: What the ownership marker of a locally saved model folder says it holds.
MODEL_KIND = "model"
#: Name of the model inside each MLflow run.
MODEL_ARTIFACT = "model"
#: Reviews stored as the model's input example.
N_EXAMPLES = 3


@dataclass(frozen=True)
class TrainingData:
    """Train, validation and (optionally) test texts and labels."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame | None
    manifest: dict[str, Any]


@dataclass
class TrainingResult:  # pylint: disable=too-many-instance-attributes
    """Outcome of one training run."""

    metrics: dict[str, float]
    objective: float
    model_uri: str
    run_id: str | None = None
    experiment_id: str | None = None
    tracking_uri: str | None = None
    registered_model: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


def load_training_data(
    data_path: str, val_split: float, seed: int, with_test: bool = True
) -> TrainingData:
    """Load the processed dataset and split validation off train.

    The split is stratified and shuffled with ``seed`` (the raw folders list
    every positive review before every negative one).
    """
    if not 0.0 < val_split < 1.0:
        raise ValueError(f"train.val_split must be between 0 and 1, got {val_split}")
    manifest = load_manifest(data_path)
    frame = load_split(data_path, "train")
    train, val = train_test_split(
        frame, test_size=val_split, stratify=frame["label"], shuffle=True, random_state=seed
    )
    if with_test and "test" not in manifest["files"]:
        LOGGER.warning("The dataset at %s has no test split: no test metrics.", data_path)
        with_test = False
    test = load_split(data_path, "test") if with_test else None
    return TrainingData(train, val, test, manifest)


def _sweep_trial() -> bool:
    """Whether this run is one trial of a Hydra ``--multirun`` sweep."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _local_model_dir(cfg: TrainConfig) -> Path:
    """Where to save the model without MLflow; each sweep trial gets its own folder."""
    if _sweep_trial():
        return Path(HydraConfig.get().runtime.output_dir) / "model"
    return Path(cfg.local_model_dir)


def save_model_atomically(model: Any, destination: Path, input_example: np.ndarray) -> None:
    """Save in MLflow's model format (this project's flavour, no pickle).

    The folder is complete or left as it was. Only a model folder this pipeline saved
    is replaced; any other non-empty folder is refused
    (:class:`~..general_utils.UnownedDestinationError`), never deleted.
    """
    with staged_folder(destination, MODEL_KIND) as staging:
        model_io.save_model(
            model, staging, signature=_signature(model, input_example), input_example=input_example
        )


def _texts(frame: pd.DataFrame) -> list[str]:
    return frame["text"].astype(str).tolist()


def _signature(model: Any, example: np.ndarray) -> Any:
    """Input: review texts; output: P(positive) per review."""
    from mlflow.models import infer_signature  # pylint: disable=import-outside-toplevel

    column = list(model.classes_).index(1)
    return infer_signature(example, np.asarray(model.predict_proba(list(example)))[:, column])


@contextlib.contextmanager
def _tracked_run(cfg: TrainConfig, state: dict[str, Any]) -> Iterator[Any]:
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
    state["experiment_id"] = experiment_id
    if cfg.mlflow_autolog:
        LOGGER.warning(
            "train.mlflow_autolog=true is ignored: MLflow's sklearn autolog turns the "
            "sparse 2**hash_bits-column features into a dense array (15.6 GiB for 500 "
            "reviews at 2**22). Params, metrics, plots, dataset and model are logged anyway."
        )
    with tracking.tracked_run(experiment_id, cfg.as_params(), trial=_sweep_trial()) as run:
        yield run


def _log_run(
    cfg: TrainConfig,
    data: TrainingData,
    model: Any,
    metrics: dict[str, float],
    figures: dict[str, Any],
) -> tuple[str, str | None]:
    """Log params, lineage, metrics, plots and the model to the active run.

    Returns
    -------
    model_uri, registered : str, str or None
        The logged model's URI and ``name/version`` when registered.
    """
    import mlflow  # pylint: disable=import-outside-toplevel

    manifest = data.manifest
    source = str(cfg.data_path)
    run_id = mlflow.active_run().info.run_id
    tracking.log_dataset(run_id, source, manifest["content_sha256"], "training")
    mlflow.set_tags(
        {"dataset_sha256": manifest["content_sha256"], "dataset_path": source}
    )
    mlflow.log_dict(manifest, "dataset/manifest.json")
    mlflow.log_metrics(metrics)
    for name, figure in figures.items():
        mlflow.log_figure(figure, f"plots/{name}")
    example = np.array(_texts(data.val.head(N_EXAMPLES)), dtype=object)
    info = model_io.log_model(model, MODEL_ARTIFACT, _signature(model, example), example)
    mlflow.set_tag(tracking.MODEL_URI_TAG, info.model_uri)
    registered = None
    if cfg.register_model:
        version = tracking.register_model(info.model_uri, cfg.registered_model_name)
        registered = f"{cfg.registered_model_name}/{version}"
    return info.model_uri, registered


def _evaluate_splits(
    val_model: Any, final_model: Any, data: TrainingData
) -> tuple[dict[str, float], tuple[np.ndarray, np.ndarray, float, str]]:
    """Validation metrics of ``val_model`` and test metrics of ``final_model``.

    They differ when the final model is refit on train + validation: validation
    then scores the model fitted on train alone (the one that was chosen).
    Returns the metrics and the arguments of :func:`evaluation_figures` for the
    last split evaluated (test when there is one).
    """
    metrics: dict[str, float] = {}
    plotted: tuple[np.ndarray, np.ndarray, float, str] | None = None
    for split, frame, model in (("val", data.val, val_model), ("test", data.test, final_model)):
        if frame is None:
            continue
        predictor = SentimentPredictor(model, ModelInfo(uri="in-memory"))
        labels = frame["label"].to_numpy()
        split_metrics, probabilities = evaluate(predictor, _texts(frame), labels, split)
        metrics.update(split_metrics)
        plotted = (labels, probabilities, predictor.threshold, split)
    assert plotted is not None  # the validation split always exists
    return metrics, plotted


def train_and_report(cfg: TrainConfig) -> float:
    """What the entry scripts run: set up logging, train, log the summary.

    Returns
    -------
    float
        The validation objective (what a sweep maximises).
    """
    setup_logging()
    result = run_training(cfg)
    LOGGER.info(summarise(result))
    return result.objective


@dataclass
class FittedModels:
    """The model scored on validation, the one saved, and what fitting them logged."""

    val_model: Any
    final_model: Any
    metrics: dict[str, float] = field(default_factory=dict)


def _epoch_logger(run: Any, prefix: str) -> Any:
    """Log a transformer's per-epoch metrics to the run, one MLflow step per epoch."""
    if run is None:
        return None
    import mlflow  # pylint: disable=import-outside-toplevel

    def log(epoch: int, metrics: dict[str, float]) -> None:
        mlflow.log_metrics({f"{prefix}{k}": v for k, v in metrics.items()}, step=epoch)

    return log


def _fit_nbsvm(cfg: NbsvmConfig, data: TrainingData, seed: int) -> FittedModels:
    """Fit on train (scored on validation), then refit on train + validation if configured."""
    model = fit_nbsvm(_texts(data.train), data.train["label"].to_numpy(), cfg, seed)
    if not cfg.refit_on_all_train:
        return FittedModels(model, model)
    everything = pd.concat([data.train, data.val])
    LOGGER.info("Refitting the NBSVM on train + validation (%d reviews).", len(everything))
    final = fit_nbsvm(_texts(everything), everything["label"].to_numpy(), cfg, seed)
    return FittedModels(model, final)


def _fit_transformer(
    cfg: TransformerConfig, data: TrainingData, seed: int, run: Any, base: str, prefix: str
) -> FittedModels:
    # pylint: disable=import-outside-toplevel
    from .transformer import fit_transformer

    model = fit_transformer(
        _texts(data.train), data.train["label"].to_numpy(),
        _texts(data.val), data.val["label"].to_numpy(),
        cfg, seed=seed, on_epoch=_epoch_logger(run, prefix), base=base,
    )
    return FittedModels(model, model)


def _fit_ensemble(
    cfg: EnsembleConfig, data: TrainingData, seed: int, run: Any, base: str
) -> FittedModels:
    """Both members on train, the weight chosen on validation, NBSVM refit if configured."""
    # pylint: disable=import-outside-toplevel
    from .ensemble import EnsembleModel, choose_weight, positive_probability

    nbsvm = _fit_nbsvm(cfg.nbsvm, data, seed)
    transformer = _fit_transformer(
        cfg.transformer, data, seed, run, base, "transformer_epoch_"
    ).final_model
    val_texts = _texts(data.val)
    weight, accuracies = choose_weight(
        positive_probability(nbsvm.val_model, val_texts),
        positive_probability(transformer, val_texts),
        data.val["label"].to_numpy(),
        cfg.weights,
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
        raise ImportError(
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
    timings: dict[str, float] = {}
    start = time.perf_counter()
    state: dict[str, Any] = {}
    load_manifest(cfg.data_path)  # no dataset: a usage error, before any run
    base = _resolve_base(cfg)  # no base model or a wrong hash: also before any run
    # Everything after the tracking check runs inside the MLflow run, so any
    # failure (unreadable data, a crash while fitting) is recorded as a FAILED run.
    with _tracked_run(cfg, state) as run:
        with_test = cfg.evaluate_test and not _sweep_trial()
        data = load_training_data(cfg.data_path, cfg.val_split, cfg.seed, with_test)
        timings["load_seconds"] = time.perf_counter() - start
        LOGGER.info(
            "Training a %s model on %d reviews, validating on %d%s.",
            cfg.model.kind, len(data.train), len(data.val),
            f", testing on {len(data.test)}" if data.test is not None else "",
        )
        tick = time.perf_counter()
        fitted = _fit(cfg, data, run, base)
        timings["fit_seconds"] = time.perf_counter() - tick
        metrics, plotted = _evaluate_splits(fitted.val_model, fitted.final_model, data)
        metrics.update(fitted.metrics)
        metrics["fit_seconds"] = timings["fit_seconds"]
        LOGGER.info("Metrics: %s", ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        if run is None:
            model_dir = _local_model_dir(cfg)
            save_model_atomically(
                fitted.final_model, model_dir,
                np.array(_texts(data.val.head(N_EXAMPLES)), dtype=object),
            )
            model_uri, registered = str(model_dir), None
        else:
            figures = evaluation_figures(*plotted)
            example = np.array(_texts(data.val.head(N_EXAMPLES)))
            save_here = _local_model_dir(cfg)  # if the tracking server fails mid-logging
            try:
                with tracking.keep_model_if_logging_fails(
                    lambda folder: save_model_atomically(fitted.final_model, folder, example),
                    save_here,
                ):
                    model_uri, registered = _log_run(
                        cfg, data, fitted.final_model, metrics, figures
                    )
            finally:
                close_figures(figures)
    timings["total_seconds"] = time.perf_counter() - start
    return TrainingResult(
        metrics=metrics,
        objective=metrics[cfg.objective_metric],
        model_uri=model_uri,
        run_id=run.info.run_id if run is not None else None,
        experiment_id=state.get("experiment_id"),
        tracking_uri=cfg.mlflow_tracking_uri if run is not None else None,
        registered_model=registered,
        timings=timings,
    )


def summarise(result: TrainingResult) -> str:
    """A closing summary: metrics, where the model and run are, how to look at them."""
    lines = [f"Training finished in {result.timings.get('total_seconds', 0.0):.1f} s."]
    lines += [f"  {name:<16} {value:.4f}" for name, value in result.metrics.items()]
    if result.run_id is None:
        lines.append(f"  Model saved to {result.model_uri} (MLflow model format).")
        lines.append("  Tracking was off (train.setup_mlflow=false).")
    else:
        lines.append(f"  MLflow run {result.run_id} (experiment {result.experiment_id})")
        lines.append(f"  Model: runs:/{result.run_id}/{MODEL_ARTIFACT}  ({result.model_uri})")
        if result.registered_model:
            lines.append(f"  Registered as models:/{result.registered_model}")
        if result.tracking_uri and not result.tracking_uri.startswith(("http://", "https://")):
            lines.append(f"  See it with: mlflow ui --backend-store-uri {result.tracking_uri}")
        else:
            lines.append(f"  See it at {result.tracking_uri}")
    return "\n".join(lines)
