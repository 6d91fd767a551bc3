"""YAML that refuses a key written twice in one mapping.

PyYAML keeps the last of two equal keys without a word, so an acquisition written twice in a
study file silently replaces the first. :func:`load` is ``yaml.safe_load`` (no Python objects
constructed) that raises :class:`DuplicateKeyError` naming the file, the key and both lines,
and :class:`YAMLSyntaxError` in one line (PyYAML's own messages span five) for text that is
not YAML or a file that is not UTF-8.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from robustlab.common.errors import RobustlabError


class DuplicateKeyError(RobustlabError, ValueError):
    """A mapping holds the same key twice; the message names both lines (1-based)."""


class YAMLSyntaxError(RobustlabError, ValueError):
    """Text that does not parse as YAML, or a file that is not UTF-8; one line naming the
    source, the problem and its line and column."""


def _one_line(exc: yaml.YAMLError, source: str) -> str:
    """PyYAML's message of ``exc`` in one line: what, and where (line and column, 1-based)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        what = ", ".join(str(p) for p in (exc.context, exc.problem) if p) or type(exc).__name__
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    else:  # a ReaderError: a character YAML does not allow
        what = str(exc).strip().splitlines()[0]
        position = getattr(exc, "position", None)
        where = f" at character {position + 1}" if isinstance(position, int) else ""
    return f"{source}: not valid YAML: {what}{where}"


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
    try:
        loader = _UniqueKeyLoader(text)
    except yaml.YAMLError as exc:
        raise YAMLSyntaxError(_one_line(exc, source)) from None
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise YAMLSyntaxError(_one_line(exc, source)) from None
    finally:
        loader.dispose()


def load(path: str | Path) -> Any:
    """Read the YAML file at ``path`` (UTF-8) like ``yaml.safe_load``; repeated keys raise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YAMLSyntaxError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
                              f"offset {exc.start}); save it as UTF-8") from None
    return loads(text, str(path))
