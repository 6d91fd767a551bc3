"""The bundled configs as trees of keys: composed, walked leaf by leaf, changed at one key."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

#: The config groups of each app whose options are composed one at a time.
GROUPS = {"pruning": ("model", "data", "method", "train", "eval", "logger", "experiment"),
          "radiomics": ("experiment",)}


def compose_all(app: str, groups: Sequence[str]) -> list[dict[str, Any]]:
    """The app's primary config, then with each option of each of ``groups``, as plain dicts."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from robustlab.common.hydra_app import CONFIG_ENV, config_dir

    root = config_dir()
    os.environ.setdefault(CONFIG_ENV, str(root))
    choices = [[]] + [[f"{g}={p.stem}"] for g in groups for p in sorted((root / app / g).glob("*.yaml"))]
    out = []
    with initialize_config_dir(config_dir=str(root), version_base="1.3"):
        for overrides in choices:
            cfg = compose(config_name=app, overrides=overrides)
            out.append(OmegaConf.to_container(cfg, resolve=True))
    return out


def leaves(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """``(key, value)`` of every leaf and every list under ``node`` (list items as ``key[i]``)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from leaves(value, f"{path}.{key}" if path else str(key))
        return
    if isinstance(node, list):
        yield path, node
        for i, value in enumerate(node):
            yield from leaves(value, f"{path}[{i}]")
        return
    yield path, node


def set_leaf(config: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """A copy of ``config`` with ``value`` at ``key`` (``a.b[2].c``)."""
    out = copy.deepcopy(config)
    parts = key.replace("[", ".[").split(".")
    node: Any = out
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    last = parts[-1]
    if last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value
    return out
