"""Helpers shared by every pipeline: logging set-up and project paths."""

from __future__ import annotations

import logging
import logging.config
from pathlib import Path
from typing import Any

import yaml

LOGGER = logging.getLogger(__name__)

#: Root of the repository when the package is installed in editable mode or run from a clone.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: The logging configuration that ships with the project.
DEFAULT_LOGGING_CONFIG = PROJECT_ROOT / "conf" / "base" / "logging.yaml"


def setup_logging(
    config_path: str | Path = DEFAULT_LOGGING_CONFIG,
    default_level: int = logging.INFO,
) -> None:
    """Configure logging from a YAML ``dictConfig`` file.

    Parameters
    ----------
    config_path : str or Path
        YAML file in :func:`logging.config.dictConfig` format.
    default_level : int
        Level for a plain ``basicConfig`` when the file is missing or invalid.

    Notes
    -----
    A missing or broken file never stops a pipeline: logging falls back to
    ``basicConfig`` and the cause is logged as a warning.
    """
    path = Path(config_path)
    try:
        with path.open(encoding="utf-8") as handle:
            config: dict[str, Any] = yaml.safe_load(handle)
        logging.config.dictConfig(config)
    except (OSError, yaml.YAMLError, ValueError, TypeError) as error:
        logging.basicConfig(
            level=default_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        LOGGER.warning("Logging config %s not used (%s); using basic logging.", path, error)
