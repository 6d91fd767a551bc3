"""Name -> object registries: one lookup with the error every registry of robustlab gives.

Pruning methods, attribution and discovery methods, distortions, evaluation suites, radiomics
statistics and reconstruction filters are registries (as timm's models are); an unknown name
gets the same message everywhere: what was asked for, the close matches and every known name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TypeVar

from robustlab.common.errors import UnknownNameError

T = TypeVar("T")


def unknown_name_message(kind: str, name: str, known: Iterable[str]) -> str:
    """``unknown <kind> '<name>'; did you mean ...? (known: ...)``.

    Example:
        >>> unknown_name_message("pruning method", "snp", ["snip", "random"])
        "unknown pruning method 'snp'; did you mean snip? (known: random, snip)"
    """
    known = sorted(known)
    close = difflib.get_close_matches(str(name), known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"unknown {kind} {name!r}{hint} (known: {', '.join(known)})"


def lookup(registry: Mapping[str, T], name: str, kind: str, error: type[Exception] = UnknownNameError) -> T:
    """``registry[name]``, or ``error`` with :func:`unknown_name_message` when it is absent."""
    if name not in registry:
        raise error(unknown_name_message(kind, name, registry))
    return registry[name]
