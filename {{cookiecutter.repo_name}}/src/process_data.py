"""Clean and combine raw data (folder trees or tables) into one processed dataset.

Example (from the repository root)::

    python src/process_data.py \
        data_prep.raw_dirs_paths='[data/raw/set1,data/raw/set2]' \
        data_prep.processed_data_path=data/processed/combined
"""

import logging

import hydra
from omegaconf import DictConfig

from {{ cookiecutter.src_package_name }}.configuration import exit_on_user_error, typed_section
from {{ cookiecutter.src_package_name }}.data_prep.config import DataPrepConfig
from {{ cookiecutter.src_package_name }}.data_prep.pipeline import prepare_dataset, summarise

LOGGER = logging.getLogger(__name__)


@hydra.main(config_path="../conf", config_name="base/pipelines")
def main(cfg: DictConfig) -> None:
    """Run data preparation with the ``data_prep`` section of the config."""
    with exit_on_user_error("Data preparation"):
        LOGGER.info(summarise(prepare_dataset(typed_section(cfg.data_prep, DataPrepConfig,
                                                            "data_prep"))))


if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter
