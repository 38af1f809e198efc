"""Typed config sections: frozen, unknown keys refused, errors name the key."""

import pytest
from omegaconf import OmegaConf
from pydantic import ValidationError

from {{ cookiecutter.src_package_name }}.configuration import ConfigError, FrozenConfig, typed_section


class _Section(FrozenConfig):
    seed: int
    rate: float = 0.5


def test_section_is_validated_and_frozen() -> None:
    section = typed_section(OmegaConf.create({"seed": 3}), _Section, "train")
    assert (section.seed, section.rate) == (3, 0.5)
    with pytest.raises(ValidationError):
        section.seed = 4  # type: ignore[misc]


def test_interpolations_are_resolved() -> None:
    cfg = OmegaConf.create({"base": 7, "train": {"seed": "${base}"}})
    assert typed_section(cfg.train, _Section, "train").seed == 7


def test_errors_name_each_key() -> None:
    with pytest.raises(ConfigError) as caught:
        typed_section({"seed": "many", "rat": 1.0}, _Section, "train")
    message = str(caught.value)
    assert "train.seed:" in message
    assert "train.rat: Extra inputs are not permitted" in message
