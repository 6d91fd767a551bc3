"""YAML that refuses a key written twice in one mapping.

PyYAML keeps the last of two equal keys without a word, so an acquisition written twice in a
study file silently replaces the first. :func:`load` is ``yaml.safe_load`` (no Python objects
constructed) that raises :class:`DuplicateKeyError` naming the file, the key and both lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from robustlab.common.errors import RobustlabError


class DuplicateKeyError(RobustlabError, ValueError):
    """A mapping holds the same key twice; the message names both lines (1-based)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """``SafeLoader`` whose mappings reject repeated keys."""

    source = "<string>"

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)  # merge keys (<<) first, as SafeLoader does
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise DuplicateKeyError(f"{self.source}: key {key!r} is written twice "
                                            f"(lines {seen[key]} and {line}); keep one")
                seen[key] = line
            except TypeError:  # an unhashable key: SafeLoader raises its own error below
                continue
        return super().construct_mapping(node, deep=deep)


def loads(text: str, source: str = "<string>") -> Any:
    """Parse YAML ``text`` like ``yaml.safe_load``; a repeated key raises naming ``source``."""
    loader = _UniqueKeyLoader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load(path: str | Path) -> Any:
    """Read the YAML file at ``path`` (UTF-8) like ``yaml.safe_load``; repeated keys raise."""
    path = Path(path)
    return loads(path.read_text(encoding="utf-8"), str(path))
