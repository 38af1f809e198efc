"""The start and finish steps of a sweep whose trials run in several workers (processes, pods).

Workers sharing one study do not crown the champion: one step before them creates
what they share, and one step after them crowns, each run once::

    python -m <package>.modeling.sweep_steps start [<overrides of the workers>]
    python src/train_model_hptuning.py --multirun hptuning.promote=false [...]  # each worker
    python -m <package>.modeling.sweep_steps finish [<overrides of the workers>]

``start`` creates the Optuna study (and the storage's tables: workers creating them at the
same moment on an empty database collide) and, when tracking is on, the MLflow experiment
and the sweep's parent run, so that the workers only find them. ``finish`` crowns the
best trial and ends the parent run (see :mod:`.hptuning`); ``cancel`` ends it KILLED,
crowning nothing (``scripts/train-model-hptuning.sh`` runs it when its workers were
stopped). ``scripts/train-model-hptuning.sh`` runs these steps around ``N_WORKERS`` > 1.

The config is composed as the workers compose theirs (``conf/base/train-model-hptuning``
and the same overrides; sweep ranges such as ``choice(...)`` do not concern these steps
and are left out). The study's storage URL comes from ``OPTUNA_STORAGE``, the sweep's tag
from ``MLFLOW_HPTUNING_TAG``: both must be set, and the same for every worker.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

import mlflow
import optuna
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig

from ..general_utils import PROJECT_ROOT
from ..redaction import redact, redact_secrets_in_logs
from . import hptuning, tracking
from .training_config import train_config

CONFIG_NAME = "base/train-model-hptuning"


class NoChampionError(RuntimeError):
    """No trial of the sweep finished."""


def sweep_config(overrides: Sequence[str]) -> DictConfig:
    """The tuning config the workers compose with ``overrides``, without sweep ranges."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    fixed = [item.input_line for item in parsed if not item.is_sweep_override()]
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf")):
        return compose(CONFIG_NAME, overrides=fixed, return_hydra_config=True)


def _tag() -> str:
    tag = os.environ.get(tracking.HPTUNING_TAG_ENV)
    if not tag:
        raise ValueError(f"set {tracking.HPTUNING_TAG_ENV}: the workers find the sweep's "
                         "parent run by it")
    return tag


def start(config: DictConfig) -> str:
    """Create the study, the experiment and the parent run if they do not exist; describe them."""
    sweeper, train = config.hydra.sweeper, train_config(config.train)
    if not sweeper.storage:
        raise ValueError("no study storage: set OPTUNA_STORAGE so that the workers share a study")
    tag = _tag() if train.setup_mlflow else None
    optuna.create_study(storage=sweeper.storage, study_name=sweeper.study_name,
                        direction=sweeper.direction, load_if_exists=True)  # fmt: skip
    said = f"Study {sweeper.study_name!r} ({sweeper.direction}) is ready in "
    said += redact(sweeper.storage)
    if tag is not None:
        experiment_id, parent = hptuning.open_parent_run(train, tag)
        said += f"; parent MLflow run {parent} (experiment {experiment_id})"
    return said


def finish(config: DictConfig, cancel: bool = False) -> str:
    """Crown the best trial and end the parent run (``cancel``: end it KILLED); describe it."""
    train = train_config(config.train)
    if not train.setup_mlflow:
        return "Tracking is off (train.setup_mlflow=false): there is no champion to crown."
    tag = _tag()
    experiment_id, parent = hptuning.open_parent_run(train, tag, create=False)
    if parent is None:
        raise ValueError(f"no parent run tagged {tracking.HPTUNING_TAG}={tag} in experiment "
                         f"{train.mlflow_exp_name!r}: did the start step run with this tag?")
    if cancel:
        with tracking.short_retries():
            mlflow.MlflowClient().set_terminated(parent, "KILLED")
        return f"Parent run {parent} ended KILLED: no champion crowned."
    force = hptuning.hptuning_settings(config).force_champion
    if hptuning.finish_sweep(train, experiment_id, parent, force) is None:
        raise NoChampionError(f"no trial of parent run {parent} finished: no champion")
    return f"Parent run {parent} ended FINISHED."


def main(argv: Sequence[str]) -> int:
    """Command line: a step and the workers' Hydra overrides; exit status 2 on a bad setting."""
    steps = {"start": start, "finish": finish, "cancel": lambda c: finish(c, cancel=True)}
    if not argv or argv[0] not in steps:
        print(f"usage: python -m {__package__}.sweep_steps {'|'.join(steps)} [overrides]",
              file=sys.stderr)
        return 2
    redact_secrets_in_logs()
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(name)s: %(message)s")
    try:
        print(steps[argv[0]](sweep_config(argv[1:])), flush=True)
    except (ValueError, OSError, HydraException) as error:  # settings, data, tracking server
        print(f"Sweep step {argv[0]} failed: {error}", file=sys.stderr)
        return 2
    except NoChampionError as error:
        print(f"Sweep step {argv[0]}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
