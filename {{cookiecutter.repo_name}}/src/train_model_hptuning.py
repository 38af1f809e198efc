"""Tune the model's hyperparameters with Optuna; each trial is one MLflow run.

Example (from the repository root)::

    MLFLOW_HPTUNING_TAG=$(date +%s) python src/train_model_hptuning.py --multirun \
        train.data_path=data/processed/combined

The same training as ``train_model.py``; only the config differs
(``conf/base/train-model-hptuning.yaml``) and the returned validation
objective is what Optuna maximises.
"""

import logging

import hydra
from omegaconf import DictConfig

from {{ cookiecutter.src_package_name }}.configuration import ConfigError, exit_on_user_error
from {{ cookiecutter.src_package_name }}.modeling.training import run_training, summarise
from {{ cookiecutter.src_package_name }}.modeling.training_config import train_config

LOGGER = logging.getLogger(__name__)


@hydra.main(config_path="../conf", config_name="base/train-model-hptuning")
def main(cfg: DictConfig) -> float:
    """Run one trial; return its validation objective to the sweeper.

    A sampled value that the config refuses fails this trial only (the sweep goes on);
    any other user error stops the sweep, as it would stop every trial.
    """
    try:
        train = train_config(cfg.train)
    except ConfigError as error:
        raise ValueError(str(error)) from None  # the sweeper records the trial as FAIL
    with exit_on_user_error("Training"):
        result = run_training(train)
    LOGGER.info(summarise(result))
    return result.objective


if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter
