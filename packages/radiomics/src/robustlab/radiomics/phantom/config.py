"""Named configuration files of the phantom simulator, and the scanner registry.

Phantoms, protocols and scanners are YAML files under the config root
(``conf/radiomics/{phantom,protocol,scanner}/<name>.yaml``); a user adds one with one file.
The scanner registry maps a name to the plain dict in its file, like timm's model registry
maps a name to a constructor: :func:`list_scanners` discovers, :func:`get_scanner` resolves
and an unknown name is a ``ValueError`` listing the close matches.
"""

from __future__ import annotations

import difflib
import fnmatch
from pathlib import Path
from typing import Any

from robustlab.common import safe_yaml
from robustlab.common.errors import ConfigError
from robustlab.common.resources import data_dir

GROUPS = ("phantom", "protocol", "scanner")


def group_dir(group: str) -> Path:
    """The folder ``conf/radiomics/<group>/`` of one config group."""
    if group not in GROUPS:
        raise ConfigError(f"unknown config group {group!r}; expected one of {GROUPS}")
    return data_dir("radiomics", group)


def list_configs(group: str, pattern: str = "*") -> list[str]:
    """Names of the YAML files of ``group`` whose name matches the glob ``pattern``, sorted."""
    names = (p.stem for p in group_dir(group).glob("*.yaml"))
    return sorted(n for n in names if fnmatch.fnmatch(n, pattern))


def load_config(group: str, name: str) -> dict[str, Any]:
    """Read ``conf/radiomics/<group>/<name>.yaml`` as a plain dict.

    Raises:
        ValueError: no such file; the message lists the close matches and every name.
    """
    path = group_dir(group) / f"{name}.yaml"
    if not path.is_file():
        known = list_configs(group)
        close = difflib.get_close_matches(str(name), known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown {group} {name!r}{hint} (known: {', '.join(known) or 'none'})")
    data = safe_yaml.load(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def list_scanners(pattern: str = "*") -> list[str]:
    """Names of the registered scanners (files in ``conf/radiomics/scanner/``)."""
    return list_configs("scanner", pattern)


def get_scanner(name: str) -> dict[str, Any]:
    """The scanner ``name`` as a plain dict; ``ValueError`` with close matches when unknown."""
    return load_config("scanner", name)
