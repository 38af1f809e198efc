"""Batch inference over a folder of review files (one review per ``.txt`` file).

    python src/batch_inferencing.py inference.model_path=<PATH_TO_MODEL> \\
        inference.input_data_dir=<DIR_OF_TXT_FILES>

Writes ``batch-infer-res.jsonl`` into this run's output folder (Hydra's
``outputs/<date>/<time>``, or ``inference.output_dir``). Settings: the
``inference`` section of ``conf/base/pipelines.yaml``.
"""

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from {{ cookiecutter.src_package_name }}.configuration import ConfigError
from {{ cookiecutter.src_package_name }}.general_utils import setup_logging
from {{ cookiecutter.src_package_name }}.inference.batch import BatchSettings, run_batch_inference

LOGGER = logging.getLogger(__name__)


@hydra.main(config_path="../conf", config_name="base/pipelines")
def main(cfg: DictConfig) -> None:
    """Predict every review file of the configured folder (this run's shard of it)."""
    setup_logging()
    config = OmegaConf.to_container(cfg.inference, resolve=True)
    try:
        # Validated once here: the library receives a frozen BatchSettings, not a DictConfig.
        settings = BatchSettings.from_config(config, HydraConfig.get().runtime.output_dir)
        run_batch_inference(settings)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        LOGGER.error("Batch inference not run: %s", error)
        sys.exit(2)


if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter
