"""Create a sweep's shared Optuna study once, before its parallel workers start.

Workers that start at the same moment on an empty database each create the
storage's tables and the study, and can collide (duplicate tables, or two studies
racing for one name). ``scripts/train-model-hptuning.sh`` therefore runs this
first when ``N_WORKERS`` > 1::

    python -m <package>.modeling.shared_study [hydra.sweeper.<key>=<value> ...]

The study's name, direction and storage come from the tuning config
(``conf/base/train-model-hptuning.yaml``), composed as the workers compose it:
the storage URL from ``OPTUNA_STORAGE`` (never from the command line), name and
direction from the config and the ``hydra.sweeper.*`` overrides given (other
overrides, e.g. search ranges, do not concern the study and are ignored).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from omegaconf import ListConfig

from ..general_utils import PROJECT_ROOT
from .tracking import redact

CONFIG_NAME = "base/train-model-hptuning"


def study_settings(overrides: Sequence[str]) -> tuple[str | None, str, list[str]]:
    """Storage URL, study name and direction(s) of the sweep, as its workers see them."""
    # pylint: disable=import-outside-toplevel
    from hydra import compose, initialize_config_dir

    relevant = [item for item in overrides if item.startswith("hydra.sweeper.")]
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf")):
        cfg = compose(CONFIG_NAME, overrides=relevant, return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    direction = sweeper.direction
    directions = list(direction) if isinstance(direction, ListConfig) else [str(direction)]
    return sweeper.storage, str(sweeper.study_name), directions


def prepare_study(overrides: Sequence[str]) -> str:
    """Create the storage's tables and the study if they do not exist; describe them.

    Raises
    ------
    ValueError
        No storage is configured (``OPTUNA_STORAGE`` unset): there is nothing to share.
    """
    import optuna  # pylint: disable=import-outside-toplevel

    storage, name, directions = study_settings(overrides)
    if not storage:
        raise ValueError("no study storage: set OPTUNA_STORAGE so that the workers share a study")
    optuna.create_study(storage=storage, study_name=name, directions=directions,
                        load_if_exists=True)  # fmt: skip
    return f"Study {name!r} ({', '.join(directions)}) is ready in {redact(storage)}"


def main(argv: Sequence[str]) -> int:
    """Command line: the Hydra overrides of the sweep; exit status 2 on a bad setting."""
    try:
        print(prepare_study(argv), flush=True)
    except ValueError as error:
        print(f"Cannot prepare the shared study: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
