"""Tune the model's hyperparameters with Optuna; each trial is one MLflow run.

Example (from the repository root)::

    MLFLOW_HPTUNING_TAG=$(date +%s) python src/train_model_hptuning.py --multirun \
        train.data_path=data/processed/combined

The same training as ``train_model.py``; only the config differs
(``conf/base/train-model-hptuning.yaml``) and the returned validation
objective is what Optuna maximises.
"""

import hydra
from omegaconf import DictConfig

from {{ cookiecutter.src_package_name }}.modeling.training import train_and_report
from {{ cookiecutter.src_package_name }}.modeling.training_config import train_config


@hydra.main(config_path="../conf", config_name="base/train-model-hptuning")
def main(cfg: DictConfig) -> float:
    """Run one trial; return its validation objective to the sweeper."""
    return train_and_report(train_config(cfg.train))


if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter
