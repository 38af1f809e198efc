"""Clean and combine raw review trees into one processed dataset.

Example (from the repository root)::

    python src/process_data.py \
        data_prep.raw_dirs_paths='[data/raw/set1,data/raw/set2]' \
        data_prep.processed_data_path=data/processed/combined
"""

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from {{ cookiecutter.src_package_name }}.configuration import ConfigError, typed_section
from {{ cookiecutter.src_package_name }}.data_prep.pipeline import (
    DataPrepConfig,
    TooManyRejectsError,
    prepare_dataset,
    summarise,
)
from {{ cookiecutter.src_package_name }}.general_utils import UnownedDestinationError, setup_logging

LOGGER = logging.getLogger(__name__)


@hydra.main(config_path="../conf", config_name="base/pipelines")
def main(cfg: DictConfig) -> None:
    """Run data preparation with the ``data_prep`` section of the config."""
    setup_logging()
    section = OmegaConf.to_container(cfg.data_prep, resolve=True)
    if isinstance(section, dict) and isinstance(section.get("raw_dirs_paths"), str):
        section["raw_dirs_paths"] = [section["raw_dirs_paths"]]  # one folder without brackets
    try:
        params = typed_section(section, DataPrepConfig, "data_prep")
        result = prepare_dataset(
            raw_dirs_paths=params.raw_dirs_paths,
            processed_data_path=params.processed_data_path,
            max_reject_fraction=params.max_reject_fraction,
            n_jobs=params.n_jobs,
            parallel_min_files=params.parallel_min_files,
            max_file_bytes=params.max_file_bytes,
        )
    except (ConfigError, UnownedDestinationError, TooManyRejectsError, FileNotFoundError,
            ValueError) as error:
        LOGGER.error("Data preparation not run: %s", error)
        sys.exit(2)
    LOGGER.info(summarise(result))


if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter
