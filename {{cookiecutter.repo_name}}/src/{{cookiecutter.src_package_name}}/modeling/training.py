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
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from sklearn.model_selection import train_test_split

from ..data_prep.processed_dataset import load_manifest, load_split
from ..general_utils import setup_logging, staged_folder
from . import tracking
from .evaluation import close_figures, evaluate, evaluation_figures
from .nbsvm import NbsvmParams, fit_nbsvm
from .predictor import ModelInfo, SentimentPredictor

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


def _local_model_dir(cfg: DictConfig) -> Path:
    """Where to save the model without MLflow; each sweep trial gets its own folder."""
    if _sweep_trial():
        return Path(HydraConfig.get().runtime.output_dir) / "model"
    return Path(cfg.train.local_model_dir)


def model_requirements() -> list[str]:
    """Pinned requirements of a saved model: scikit-learn and skops.

    Given explicitly, MLflow skips inferring them, which loads the model again
    in a subprocess (seconds per save).
    """
    import mlflow.sklearn  # pylint: disable=import-outside-toplevel

    return list(mlflow.sklearn.get_default_pip_requirements(include_skops=True))


def save_model_atomically(model: Any, destination: Path, input_example: np.ndarray) -> None:
    """Save in MLflow's model format; the folder is complete or left as it was.

    Only a model folder this pipeline saved is replaced; any other non-empty folder
    is refused (:class:`~..general_utils.UnownedDestinationError`), never deleted.
    """
    import mlflow.sklearn  # pylint: disable=import-outside-toplevel

    with staged_folder(destination, MODEL_KIND) as staging:
        mlflow.sklearn.save_model(
            model, str(staging), input_example=input_example, pip_requirements=model_requirements()
        )


def _texts(frame: pd.DataFrame) -> list[str]:
    return frame["text"].astype(str).tolist()


@contextlib.contextmanager
def _tracked_run(cfg: DictConfig, state: dict[str, Any]) -> Iterator[Any]:
    """An MLflow run (or nothing when tracking is off) that always ends.

    ``tracking.tracked_run`` ends it FINISHED, FAILED on an exception, or KILLED
    on SIGTERM/Ctrl-C, so no run stays RUNNING.
    """
    if not cfg.train.setup_mlflow:
        yield None
        return
    import mlflow  # pylint: disable=import-outside-toplevel

    experiment_id = tracking.configure_tracking(
        cfg.train.mlflow_tracking_uri, cfg.train.mlflow_exp_name, cfg.train.mlflow_artifact_location
    )
    state["experiment_id"] = experiment_id
    hptuning_tag = os.environ.get(tracking.HPTUNING_TAG_ENV) or None
    parent = None
    tags = tracking.run_tags(hptuning_tag)
    if hptuning_tag and _sweep_trial():
        parent = tracking.find_parent_run(experiment_id, hptuning_tag)
        tags[tracking.RUN_ROLE_TAG] = tracking.TRIAL_ROLE
    if cfg.train.mlflow_autolog:
        LOGGER.warning(
            "train.mlflow_autolog=true is ignored: MLflow's sklearn autolog turns the "
            "sparse 2**hash_bits-column features into a dense array (15.6 GiB for 500 "
            "reviews at 2**22). Params, metrics, plots, dataset and model are logged anyway."
        )
    with tracking.tracked_run(experiment_id, parent, tags) as run:
        mlflow.log_params(
            tracking.flatten(OmegaConf.to_container(cfg.train, resolve=True))  # type: ignore[arg-type]
        )
        yield run


def _log_run(
    cfg: DictConfig,
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
    # pylint: disable=import-outside-toplevel
    import mlflow
    import mlflow.sklearn
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.models import infer_signature

    manifest = data.manifest
    source = str(cfg.train.data_path)
    with warnings.catch_warnings():
        # Local paths match two equivalent source types; MLflow warns and picks one.
        warnings.simplefilter("ignore", UserWarning)
        dataset_source = resolve_dataset_source(
            source if "://" in source else str(Path(source).resolve())
        )
    dataset = MetaDataset(
        dataset_source,
        name=Path(source.rstrip("/")).name,
        digest=manifest["content_sha256"][:32],
    )
    mlflow.log_input(dataset, context="training")
    mlflow.set_tags(
        {"dataset_sha256": manifest["content_sha256"], "dataset_path": source}
    )
    mlflow.log_dict(manifest, "dataset/manifest.json")
    mlflow.log_metrics(metrics)
    for name, figure in figures.items():
        mlflow.log_figure(figure, f"plots/{name}")
    example = np.array(_texts(data.val.head(N_EXAMPLES)), dtype=object)
    info = mlflow.sklearn.log_model(
        model,
        name=MODEL_ARTIFACT,
        signature=infer_signature(example, model.predict(example)),
        input_example=example,
        pip_requirements=model_requirements(),
    )
    mlflow.set_tag(tracking.MODEL_URI_TAG, info.model_uri)
    registered = None
    if cfg.train.register_model:
        version = tracking.register_model(info.model_uri, cfg.train.registered_model_name)
        registered = f"{cfg.train.registered_model_name}/{version}"
    return info.model_uri, registered


def _evaluate_splits(
    model: Any, data: TrainingData
) -> tuple[dict[str, float], tuple[np.ndarray, np.ndarray, float, str]]:
    """Validation metrics (and test metrics when the test split is loaded).

    Returns the metrics and the arguments of :func:`evaluation_figures` for the
    last split evaluated (test when there is one).
    """
    predictor = SentimentPredictor(model, ModelInfo(uri="in-memory"))
    metrics: dict[str, float] = {}
    plotted: tuple[np.ndarray, np.ndarray, float, str] | None = None
    for split, frame in (("val", data.val), ("test", data.test)):
        if frame is None:
            continue
        labels = frame["label"].to_numpy()
        split_metrics, probabilities = evaluate(predictor, _texts(frame), labels, split)
        metrics.update(split_metrics)
        plotted = (labels, probabilities, predictor.threshold, split)
    assert plotted is not None  # the validation split always exists
    return metrics, plotted


def train_and_report(cfg: DictConfig) -> float:
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


def run_training(cfg: DictConfig) -> TrainingResult:
    """Train, evaluate and track (or save) one model as configured.

    Parameters
    ----------
    cfg : DictConfig
        The composed ``pipelines.yaml`` (``train`` section used).

    Returns
    -------
    TrainingResult
        ``objective`` is ``metrics[cfg.train.objective_metric]``, which the
        sweep maximises (a validation metric: the test split is never used to
        choose a model).
    """
    train_cfg = cfg.train
    timings: dict[str, float] = {}
    start = time.perf_counter()
    state: dict[str, Any] = {}
    load_manifest(str(train_cfg.data_path))  # no dataset: a usage error, before any run
    # Everything after the tracking check runs inside the MLflow run, so any
    # failure (bad hyperparameter, unreadable data) is recorded as a FAILED run.
    with _tracked_run(cfg, state) as run:
        params = NbsvmParams(**OmegaConf.to_container(train_cfg.model, resolve=True))  # type: ignore[arg-type]
        if not str(train_cfg.objective_metric).startswith("val_"):
            raise ValueError(
                "train.objective_metric must be a validation metric (val_*), "
                f"got {train_cfg.objective_metric!r}"
            )
        with_test = bool(train_cfg.evaluate_test) and not _sweep_trial()
        data = load_training_data(
            str(train_cfg.data_path), float(train_cfg.val_split), int(train_cfg.seed), with_test
        )
        timings["load_seconds"] = time.perf_counter() - start
        LOGGER.info(
            "Training on %d reviews, validating on %d%s.",
            len(data.train), len(data.val),
            f", testing on {len(data.test)}" if data.test is not None else "",
        )
        tick = time.perf_counter()
        model = fit_nbsvm(
            _texts(data.train), data.train["label"].to_numpy(), params, int(train_cfg.seed)
        )
        timings["fit_seconds"] = time.perf_counter() - tick
        metrics, plotted = _evaluate_splits(model, data)
        metrics["fit_seconds"] = timings["fit_seconds"]
        LOGGER.info("Metrics: %s", ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        if run is None:
            model_dir = _local_model_dir(cfg)
            save_model_atomically(model, model_dir, np.array(_texts(data.val.head(N_EXAMPLES))))
            model_uri, registered = str(model_dir), None
        else:
            figures = evaluation_figures(*plotted)
            example = np.array(_texts(data.val.head(N_EXAMPLES)))
            save_here = _local_model_dir(cfg)  # if the tracking server fails mid-logging
            try:
                with tracking.keep_model_if_logging_fails(
                    lambda folder: save_model_atomically(model, folder, example), save_here
                ):
                    model_uri, registered = _log_run(cfg, data, model, metrics, figures)
            finally:
                close_figures(figures)
    timings["total_seconds"] = time.perf_counter() - start
    return TrainingResult(
        metrics=metrics,
        objective=metrics[str(train_cfg.objective_metric)],
        model_uri=model_uri,
        run_id=run.info.run_id if run is not None else None,
        experiment_id=state.get("experiment_id"),
        tracking_uri=str(train_cfg.mlflow_tracking_uri) if run is not None else None,
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
