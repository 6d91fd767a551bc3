"""Where robustlab's bundled files are: the config root ``conf/`` and the data files in it.

Scanners, pyradiomics parameter files, bundled studies, phantoms and protocols are plain YAML
files under the repository's ``conf/``, which the command-line apps also compose their configs
from; library code finds them here, never through the command-line layer. A wheel carries the
folder inside this package as package data (``robustlab/common/_conf``, read through
:mod:`importlib.resources`); an editable install reads the source tree's; the
``ROBUSTLAB_CONFIG_DIR`` environment variable points elsewhere.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

CONFIG_ENV = "ROBUSTLAB_CONFIG_DIR"


def config_dir() -> Path:
    """The config root ``conf/``.

    Looked up in this order: the ``ROBUSTLAB_CONFIG_DIR`` environment variable; the ``conf/``
    folder of the source tree this package was installed from (editable install); the copy
    carried inside the wheel (package data of ``robustlab.common``).
    """
    env = os.environ.get(CONFIG_ENV)
    if env:
        path = Path(env).expanduser().resolve()
        if not path.is_dir():
            raise FileNotFoundError(f"{CONFIG_ENV}={env} is not a directory")
        return path
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "conf"
        if (candidate / "hydra").is_dir() and (parent / "packages").is_dir():
            return candidate
    packaged = importlib.resources.files("robustlab.common") / "_conf"
    if packaged.is_dir():
        return Path(str(packaged))
    raise FileNotFoundError(
        f"robustlab's config root was not found; set {CONFIG_ENV} to the repository's conf/ folder"
    )


def data_dir(*parts: str) -> Path:
    """A folder of bundled files under the config root, e.g. ``data_dir("radiomics", "scanner")``."""
    return config_dir().joinpath(*parts)
