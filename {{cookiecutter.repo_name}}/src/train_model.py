"""Train the sentiment model, evaluate it and track it in MLflow.

Example (from the repository root)::

    python src/train_model.py train.data_path=data/processed/combined train.setup_mlflow=true
"""

import hydra
from omegaconf import DictConfig

from {{ cookiecutter.src_package_name }}.modeling.training import train_and_report
from {{ cookiecutter.src_package_name }}.modeling.training_config import train_config


@hydra.main(config_path="../conf", config_name="base/pipelines")
def main(cfg: DictConfig) -> float:
    """Train once with the ``train`` section of the config; return the validation objective."""
    return train_and_report(train_config(cfg.train))


if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter
