"""Typed configuration at the boundary, and how the entry scripts end on a user error.

Hydra composes the configuration; each entry script validates the sections it
uses, once, into frozen pydantic models defined beside the code that reads
them (one model per section, and per model option). The library below the
entry scripts receives those objects, never a ``DictConfig``, and does not check
them again. A wrong type or an unknown key fails at start-up with one line per
problem, naming the key.

Every entry script ends the same way on a problem the user can fix (a
:class:`UserError`, or a missing file): one ``ERROR`` line saying what failed and
why, and exit status 2 (:func:`exit_on_user_error`). Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from pydantic import BaseModel, ConfigDict, ValidationError

LOGGER = logging.getLogger(__name__)
#: Exit status of an entry script stopped by a user error.
USER_ERROR_STATUS = 2


class UserError(Exception):
    """A problem the user can fix (a setting, a path, the data); the message says what to do."""


@contextmanager
def exit_on_user_error(what: str) -> Iterator[None]:
    """Turn a user error inside the block into one log line and exit status 2.

    Parameters
    ----------
    what : str
        What the script does, for the message (``Data preparation``).
    """
    try:
        yield
    except (UserError, FileNotFoundError) as error:
        LOGGER.error("%s failed: %s", what, error)
        raise SystemExit(USER_ERROR_STATUS) from None


class FrozenConfig(BaseModel):
    """Base of every config section: immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


SectionT = TypeVar("SectionT", bound=BaseModel)


class ConfigError(UserError, ValueError):
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
