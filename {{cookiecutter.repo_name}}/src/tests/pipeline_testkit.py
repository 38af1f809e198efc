"""Helpers of the pipeline tests: tiny review trees, composed configs.

The tests write their own data (a few dozen synthetic reviews) in temporary
folders: they need neither the network nor the real dataset.

Positive reviews use praising words and negative ones complaining words, so
even 30 training reviews teach the model something; the texts keep HTML
markup so cleaning is exercised too.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

#: Root of the repository (holds conf/ and src/).
REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "conf"

POSITIVE_WORDS = ["great", "wonderful", "loved", "brilliant", "moving", "superb", "fun"]
NEGATIVE_WORDS = ["awful", "boring", "hated", "dull", "terrible", "waste", "poor"]
NEUTRAL_WORDS = ["the", "film", "plot", "actor", "scene", "story", "movie", "ending", "music"]


def review_text(positive: bool, rng: random.Random) -> str:
    """One synthetic review with a <br /> tag in the middle."""
    words = POSITIVE_WORDS if positive else NEGATIVE_WORDS
    first = " ".join(rng.choice(NEUTRAL_WORDS + words) for _ in range(8))
    second = " ".join(rng.choice(NEUTRAL_WORDS + words + words) for _ in range(10))
    return f"{first.capitalize()}!<br /><br />{second}."


def write_raw_tree(
    root: Path, n_train: int = 15, n_test: int = 5, seed: int = 0, prefix: str = "r"
) -> Path:
    """Write ``n_train``/``n_test`` reviews per label in the IMDB layout under ``root``."""
    rng = random.Random(seed)
    for split, count in (("train", n_train), ("test", n_test)):
        for label in ("pos", "neg"):
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                (folder / f"{prefix}{i}_{rng.randint(1, 10)}.txt").write_text(
                    review_text(label == "pos", rng), encoding="utf-8"
                )
    return root


def compose_config(
    name: str = "pipelines",
    overrides: Sequence[str] = (),
    with_hydra: bool = False,
    config_dir: Path | None = None,
) -> DictConfig:
    """Compose ``<config_dir>/base/<name>.yaml`` with overrides, as the entry scripts would.

    ``config_dir`` defaults to the repository's ``conf/``, whose ``local/`` overrides apply.
    """
    with initialize_config_dir(config_dir=str(config_dir or CONFIG_DIR)):
        return compose(f"base/{name}", overrides=list(overrides), return_hydra_config=with_hydra)


def mlflow_overrides(tmp_path: Path, data_path: Path) -> list[str]:
    """Overrides that keep every MLflow store and artifact inside ``tmp_path``."""
    return [
        f"train.data_path={data_path}",
        f"train.mlflow_tracking_uri=sqlite:///{tmp_path}/mlflow.db",
        f"train.mlflow_artifact_location={tmp_path}/mlartifacts",
        f"train.local_model_dir={tmp_path}/models/model",
    ]


def run_script(
    script: str, args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``src/<script>`` like a user would, from ``cwd``, and return its result."""
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        **(env or {}),
    }
    for name in ("MLFLOW_TRACKING_URI", "POLYAXON_RUN_UUID"):
        if name not in (env or {}):
            full_env.pop(name, None)
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "src" / script), *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False,
    )
