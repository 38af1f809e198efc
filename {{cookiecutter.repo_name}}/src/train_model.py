"""Train the model, evaluate it and track it in MLflow.

Example (from the repository root)::

    python src/train_model.py train.data_path=data/processed/combined train.setup_mlflow=true
"""

import logging

import hydra
from omegaconf import DictConfig

from {{ cookiecutter.src_package_name }}.configuration import exit_on_user_error
from {{ cookiecutter.src_package_name }}.modeling.training import run_training, summarise
from {{ cookiecutter.src_package_name }}.modeling.training_config import train_config

LOGGER = logging.getLogger(__name__)


@hydra.main(config_path="../conf", config_name="base/pipelines")
def main(cfg: DictConfig) -> float:
    """Train once with the ``train`` section of the config; return the validation objective."""
    with exit_on_user_error("Training"):
        result = run_training(train_config(cfg.train))
    LOGGER.info(summarise(result))
    return result.objective


if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter
