"""Typed configuration at the boundary.

Hydra composes the configuration; each entry script validates the sections it
uses, once, into frozen pydantic models defined beside the code that reads
them (one model per section, and per model option). The library below the
entry scripts receives those objects, never a ``DictConfig``. A wrong type or
an unknown key fails at start-up with one line per problem, naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from pydantic import BaseModel, ConfigDict, ValidationError


class FrozenConfig(BaseModel):
    """Base of every config section: immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


SectionT = TypeVar("SectionT", bound=BaseModel)


class ConfigError(ValueError):
    """A config section does not match its schema; the message has one line per problem."""


def typed_section(
    section: DictConfig | Mapping[str, Any], schema: type[SectionT], name: str
) -> SectionT:
    """Validate one section of the composed config into its schema.

    Parameters
    ----------
    section : DictConfig or Mapping
        The section as Hydra composed it (interpolations are resolved here).
    schema : type
        The pydantic model of the section.
    name : str
        The section's key in the config (e.g. ``train``), used in error messages.

    Raises
    ------
    ConfigError
        With one ``<name>.<key>: <problem>`` line per problem.
    """
    data = (
        OmegaConf.to_container(section, resolve=True)
        if isinstance(section, DictConfig)
        else dict(section)
    )
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        lines = [
            f"{'.'.join([name, *map(str, problem['loc'])])}: {problem['msg']}"
            for problem in error.errors()
        ]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
