"""Let Hydra load the project's ``.yml`` config files.

Hydra 1.4 only reads ``.yaml`` files: a config name ending in ``.yml`` raises
"Unsupported config file extension", and a bare name looks for ``<name>.yaml``.
The guide's files are called ``conf/base/pipelines.yml`` and
``conf/base/train-model-hptuning.yml``. Rather than renaming them or dropping
to ``version_base=None`` (Hydra 1.1 behaviour), this module plugs two small
classes into Hydra through its public ``Plugins.register``:

* :class:`YmlConfigSource`, a config source for the ``yml://`` scheme that
  reads ``<name>.yml`` files of a folder;
* :class:`YmlSearchPathPlugin`, which adds a ``yml://`` twin after every
  ``file://`` folder of the search path (the ``config_path`` of
  ``@hydra.main`` or ``initialize_config_dir`` included).

``.yaml`` files and the ``pkg://`` configs of Hydra and its plugins load
exactly as before; a ``.yaml`` file wins over a ``.yml`` file of the same name.
Call :func:`enable_yml_configs` before ``@hydra.main`` runs or before
``initialize_config_dir``; the entry scripts and tests do.
"""

from __future__ import annotations

import builtins
import os

from hydra._internal.core_plugins.file_config_source import FileConfigSource
from hydra.core.config_search_path import ConfigSearchPath, SearchPathQuery
from hydra.core.object_type import ObjectType
from hydra.core.plugins import Plugins
from hydra.plugins.search_path_plugin import SearchPathPlugin

_YAML = ".yaml"
_YML = ".yml"
_SCHEME = "yml"


class YmlConfigSource(FileConfigSource):
    """A folder of ``<name>.yml`` config files (``yml://<folder>``)."""

    @staticmethod
    def scheme() -> str:
        """The URL scheme of this source."""
        return _SCHEME

    def is_config(self, config_path: str) -> bool:
        """Whether ``<config_path>.yml`` exists."""
        return os.path.isfile(os.path.join(self.path, self._normalize_file_name(config_path)))

    def list(self, config_path: str, results_filter: ObjectType | None) -> builtins.list[str]:
        """Names of the ``.yml`` configs in a group (groups are listed by the file source)."""
        if results_filter not in (None, ObjectType.CONFIG):
            return []
        folder = os.path.realpath(os.path.join(self.path, config_path))
        if not os.path.isdir(folder):
            return []
        return sorted(
            os.path.join(config_path, name[: -len(_YML)]) if config_path else name[: -len(_YML)]
            for name in os.listdir(folder)
            if name.endswith(_YML) and os.path.isfile(os.path.join(folder, name))
        )

    @staticmethod
    def _normalize_file_name(filename: str) -> str:
        return filename if filename.endswith(_YML) else filename + _YML


class YmlSearchPathPlugin(SearchPathPlugin):
    """Add a ``yml://`` entry after each ``file://`` entry of Hydra's search path."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        """Give every local config folder a ``.yml`` reading twin."""
        for element in list(search_path.get_path()):
            if "://" in element.path and not element.path.startswith("file://"):
                continue  # pkg://, structured://: nothing to read from a folder
            twin = _SCHEME + "://" + element.path.removeprefix("file://")
            if all(other.path != twin for other in search_path.get_path()):
                search_path.append(
                    element.provider, twin, anchor=SearchPathQuery(element.provider, element.path)
                )


def enable_yml_configs() -> None:
    """Register the ``.yml`` config source and search-path plugin with Hydra.

    Calling it again is harmless.
    """
    plugins = Plugins.instance()
    plugins.register(YmlConfigSource)
    plugins.register(YmlSearchPathPlugin)
