"""Content hashes: of JSON-able values (configs, cache keys), of files and of source trees.

Every key robustlab computes (a run's config hash, an extraction cache key, a simulated
study's folder name, an analysis key) is a hash of the *canonical JSON* of a value: keys
sorted, anything JSON cannot write written as ``str(x)``, so equal values always give equal
hashes, whatever the order they were built in.

Example:
    >>> json_hash({"b": 1, "a": [1, 2]}) == json_hash({"a": [1, 2], "b": 1})
    True
    >>> json_hash({"a": 1}, length=12)
    '015abd7f5cc5'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def canonical_json(value: Any, *, compact: bool = True) -> str:
    """``value`` as JSON with sorted keys; ``default=str`` for anything else.

    Args:
        value: a JSON-able value (dicts, lists, strings, numbers...); other objects are
            written as ``str(obj)``.
        compact: no spaces after ``,`` and ``:`` (False: json's default separators, which the
            phantom simulator's keys were defined with and keep, so that studies simulated
            before still resolve to their folders).
    """
    separators = (",", ":") if compact else None
    return json.dumps(value, sort_keys=True, separators=separators, default=str)


def json_hash(value: Any, *, length: int | None = None, compact: bool = True,
              algorithm: str = "sha256") -> str:
    """The hex digest of :func:`canonical_json` (UTF-8), cut to ``length`` characters."""
    digest = hashlib.new(algorithm, canonical_json(value, compact=compact).encode("utf-8")).hexdigest()
    return digest if length is None else digest[:length]


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes (of every file, in name order, for a folder such as a DICOM series)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def tree_hash(roots: Iterable[str | Path], pattern: str = "*.py") -> str:
    """SHA-256 over the relative path and bytes of every file matching ``pattern`` under each root."""
    h = hashlib.sha256()
    for root in map(Path, roots):
        for path in sorted(root.rglob(pattern)):
            h.update(path.relative_to(root).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()
