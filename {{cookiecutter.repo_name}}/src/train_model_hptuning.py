"""Tune the model's hyperparameters with Optuna; each trial is one MLflow run.

Example (from the repository root)::

    MLFLOW_HPTUNING_TAG=$(date +%s) python src/train_model_hptuning.py --multirun \
        train.data_path=data/processed/combined

The same training as ``train_model.py``; only the config differs
(``conf/base/train-model-hptuning.yml``) and the returned validation
objective is what Optuna maximises.
"""

import logging

import hydra
from omegaconf import DictConfig

from {{ cookiecutter.src_package_name }}.general_utils import setup_logging
from {{ cookiecutter.src_package_name }}.hydra_yml import enable_yml_configs
from {{ cookiecutter.src_package_name }}.modeling.training import run_training, summarise

enable_yml_configs()
LOGGER = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="../conf/base", config_name="train-model-hptuning")
def main(cfg: DictConfig) -> float:
    """Run one trial; return its validation objective to the sweeper."""
    setup_logging()
    result = run_training(cfg)
    LOGGER.info(summarise(result))
    return result.objective


if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter
