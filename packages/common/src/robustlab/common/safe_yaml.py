"""YAML read safely: no Python objects, no key written twice, bounded in size.

PyYAML keeps the last of two equal keys without a word, so an acquisition written twice in a
study file silently replaces the first. :func:`load` is ``yaml.safe_load`` (no Python objects
constructed) that raises :class:`DuplicateKeyError` naming the file, the key and both lines,
and :class:`YAMLSyntaxError` in one line (PyYAML's own messages span five) for text that is
not YAML or a file that is not UTF-8.

It also bounds what a small file can make (:class:`YAMLTooLargeError`): at most
:data:`MAX_BYTES` of text, and at most :data:`MAX_NODES` values once every alias is counted
as the copy it stands for. PyYAML shares an aliased value rather than copying it, but every
reader that walks the result (a study's validation, a hash of it) visits each copy: nine
levels of nine aliases (a "billion laughs", under 1 kB) are 9^9 values to walk. An alias
inside its own anchor (a recursive value) and nesting deeper than Python's recursion limit
are refused too. The count is made on PyYAML's node graph, each node once, before anything
is constructed.
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


class YAMLTooLargeError(YAMLSyntaxError):
    """YAML beyond the bounds of :func:`load`: too many bytes, too many values with its aliases
    expanded, a recursive alias or nesting too deep."""


#: The largest YAML text read (bytes): a study, design or parameter file is a few kB.
MAX_BYTES = 16 * 2**20
#: The most values (mapping keys, values and list items) a YAML document may hold, with every
#: alias counted as the copy it stands for.
MAX_NODES = 1_000_000


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


def loads(text: str, source: str = "<string>", max_nodes: int = MAX_NODES) -> Any:
    """Parse YAML ``text`` like ``yaml.safe_load``; a repeated key raises naming ``source``,
    as does a document of more than ``max_nodes`` values with its aliases expanded."""
    try:
        loader = _UniqueKeyLoader(text)
    except yaml.YAMLError as exc:
        raise YAMLSyntaxError(_one_line(exc, source)) from None
    loader.source = source
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, source, max_nodes)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise YAMLSyntaxError(_one_line(exc, source)) from None
    except RecursionError:
        raise YAMLTooLargeError(f"{source}: YAML nested too deeply to read") from None
    finally:
        loader.dispose()


def _check_size(root: yaml.Node, source: str, limit: int) -> None:
    """Refuse a node graph of more than ``limit`` values with aliases expanded, or with a cycle.

    Each node is visited once (an alias is the same node object as its anchor); its expanded
    size, ``1 + the sizes of its children``, is computed after its children's.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        children = _children(node)
        if children_done:
            open_nodes.discard(id(node))
            sizes[id(node)] = size = 1 + sum(sizes[id(c)] for c in children)
            if size > limit:
                mark = node.start_mark
                raise YAMLTooLargeError(f"{source}: more than {limit:,} values once its aliases are expanded "
                                        f"(from line {mark.line + 1}); write the values out, or split the file")
            continue
        if id(node) in sizes:
            continue
        open_nodes.add(id(node))
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                mark = child.start_mark
                raise YAMLTooLargeError(f"{source}: an alias inside its own anchor (a recursive value) at line "
                                        f"{mark.line + 1}")
            if id(child) not in sizes:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def load(path: str | Path, max_bytes: int = MAX_BYTES, max_nodes: int = MAX_NODES) -> Any:
    """Read the YAML file at ``path`` (UTF-8) like ``yaml.safe_load``; repeated keys raise, as
    does a file of more than ``max_bytes`` or ``max_nodes`` values with its aliases expanded."""
    path = Path(path)
    with path.open("rb") as fh:  # read at most max_bytes + 1: a device or pipe may never end
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise YAMLTooLargeError(f"{path}: larger than {max_bytes:,} bytes; not a config file of this project")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YAMLSyntaxError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
                              f"offset {exc.start}); save it as UTF-8") from None
    return loads(text, str(path), max_nodes)
