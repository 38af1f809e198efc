"""Batch inference over a folder of text files (one text per ``.txt`` file) or a table.

    python src/batch_inferencing.py inference.model_path=<PATH_TO_MODEL> \\
        inference.input_data_dir=<DIR_OF_TXT_FILES>

Writes ``batch-infer-res.jsonl`` into this run's output folder (Hydra's
``outputs/<date>/<time>``, or ``inference.output_dir``). Settings: the
``inference`` section of ``conf/base/pipelines.yaml``.
"""

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from {{ cookiecutter.src_package_name }}.configuration import exit_on_user_error, typed_section
from {{ cookiecutter.src_package_name }}.inference.batch import BatchSettings, run_batch_inference


@hydra.main(config_path="../conf", config_name="base/pipelines")
def main(cfg: DictConfig) -> None:
    """Predict every item of the configured input (this run's shard of it)."""
    output_dir = cfg.inference.output_dir or HydraConfig.get().runtime.output_dir
    with exit_on_user_error("Batch inference"):
        section = {**cfg.inference, "output_dir": output_dir}
        run_batch_inference(typed_section(section, BatchSettings, "inference"))


if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter
