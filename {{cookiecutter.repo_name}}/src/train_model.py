"""Train the sentiment model, evaluate it and track it in MLflow.

Example (from the repository root)::

    python src/train_model.py train.data_path=data/processed/combined train.setup_mlflow=true
"""

import logging

import hydra
from omegaconf import DictConfig

from {{ cookiecutter.src_package_name }}.general_utils import setup_logging
from {{ cookiecutter.src_package_name }}.hydra_yml import enable_yml_configs
from {{ cookiecutter.src_package_name }}.modeling.training import run_training, summarise

enable_yml_configs()
LOGGER = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="../conf/base", config_name="pipelines")
def main(cfg: DictConfig) -> float:
    """Train once with the ``train`` section of the config; return the validation objective."""
    setup_logging()
    result = run_training(cfg)
    LOGGER.info(summarise(result))
    return result.objective


if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter
