"""Composition of conf/base/pipelines.yaml and train-model-hptuning.yaml through Hydra."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from pipeline_testkit import CONFIG_DIR, compose_config

from {{ cookiecutter.src_package_name }}.configuration import ConfigError
from {{ cookiecutter.src_package_name }}.modeling.training_config import train_config


def test_pipelines_yml_composes_with_list_overrides() -> None:
    cfg = compose_config(
        "pipelines",
        [
            "data_prep.raw_dirs_paths=[data/raw/set1,data/raw/set2]",
            "data_prep.processed_data_path=data/processed/combined",
            "train.setup_mlflow=false",
        ],
    )
    assert list(cfg.data_prep.raw_dirs_paths) == ["data/raw/set1", "data/raw/set2"]
    assert cfg.data_prep.processed_data_path == "data/processed/combined"
    assert cfg.train.setup_mlflow is False
    assert set(cfg) == {"data_prep", "train", "inference", "search_space"}
    assert {"model_path", "input_data_dir"} <= set(cfg.inference)


def test_tracking_uri_defaults_to_the_embedded_store_and_follows_the_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert compose_config().train.mlflow_tracking_uri == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5005")
    assert compose_config().train.mlflow_tracking_uri == "http://mlflow:5005"


def test_hptuning_config_composes_pipelines_and_adds_the_optuna_sweep() -> None:
    base = compose_config("pipelines")
    cfg = compose_config("train-model-hptuning", ["train.model.C=3.0"], with_hydra=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler"
    assert sweeper.direction == "maximize"
    assert 0.0 < sweeper.max_failure_rate <= 1.0
    assert all(key.startswith("train.model.") for key in sweeper.params)
    searched = {key.removeprefix("train.model.") for key in sweeper.params}
    assert searched <= set(base.train.model), "only model hyperparameters are searched"
    assert all(not key.startswith("train.val_split") for key in sweeper.params)
    assert cfg.train.model.C == 3.0
    assert cfg.train.register_model is False
    assert cfg.data_prep == base.data_prep  # composed, not copied
    assert "HptuningCallback" in cfg.hydra.callbacks.hptuning._target_


def test_hptuning_yml_has_no_copied_blocks() -> None:
    path = CONFIG_DIR / "base" / "train-model-hptuning.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert raw["defaults"][0] == "pipelines"
    assert "data_prep" not in raw and "inference" not in raw
    assert set(raw["train"]) == {"register_model"}


def test_sweep_storage_and_trials_are_configurable() -> None:
    cfg = compose_config(
        "train-model-hptuning",
        ["hydra.sweeper.storage=sqlite:///optuna.db", "hydra.sweeper.n_trials=2"],
        with_hydra=True,
    )
    assert cfg.hydra.sweeper.storage == "sqlite:///optuna.db"
    assert cfg.hydra.sweeper.n_trials == 2


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ConfigCompositionException):
        compose_config("pipelines", ["train.no_such_key=1"])
    assert OmegaConf.is_dict(compose_config("pipelines").train.model)


def test_conf_local_overrides_base_and_the_command_line_overrides_both(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(CONFIG_DIR / "base", conf / "base")
    shutil.copytree(CONFIG_DIR / "model", conf / "model")
    (conf / "local").mkdir()
    (conf / "local" / "pipelines.yaml").write_text(
        "train:\n  val_split: 0.33\n  mlflow_exp_name: my-experiments\n", encoding="utf-8"
    )
    cfg = compose_config(config_dir=conf, overrides=["train.mlflow_exp_name=from-cli"])
    assert cfg.train.val_split == 0.33
    assert cfg.train.mlflow_exp_name == "from-cli"
    tuning = compose_config("train-model-hptuning", config_dir=conf)
    assert tuning.train.val_split == 0.33
    assert tuning.train.register_model is False


def test_conf_local_is_optional(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(CONFIG_DIR / "base", conf / "base")
    shutil.copytree(CONFIG_DIR / "model", conf / "model")
    assert compose_config(config_dir=conf).train.val_split == 0.1


@pytest.mark.parametrize("option", ["nbsvm", "transformer", "ensemble"])
def test_each_model_option_validates_and_tunes_its_own_keys(option: str) -> None:
    cfg = compose_config("train-model-hptuning", [f"model={option}"], with_hydra=True)
    typed = train_config(cfg.train)
    assert typed.model.kind == option
    params = typed.model.model_dump()
    for key in cfg.hydra.sweeper.params:
        node: Any = params
        for part in key.removeprefix("train.model.").split("."):
            node = node[part]  # every searched key exists in this option's schema


def test_a_key_of_another_model_option_is_refused_naming_it() -> None:
    cfg = compose_config("pipelines", ["model=transformer", "+train.model.C=1.0"])
    with pytest.raises(ConfigError, match=r"train\.model\.C: Extra inputs are not permitted"):
        train_config(cfg.train)
    bad_type = compose_config("pipelines", ["model=transformer", "train.model.epochs=many"])
    with pytest.raises(ConfigError, match=r"train\.model\.epochs: Input should be a valid integer"):
        train_config(bad_type.train)


def test_the_default_model_is_nbsvm() -> None:
    assert train_config(compose_config("pipelines").train).model.kind == "nbsvm"
