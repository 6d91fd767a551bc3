"""Names of a package's modules offered by the package itself, each module imported on first use.

The ``__getattr__`` and ``__dir__`` of a package (PEP 562): ``from package import name`` works
as with eager re-exports, but importing one module of the package (an extraction worker
importing :mod:`robustlab.radiomics.study.images`) imports none of the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, modules: Mapping[str, str]) -> tuple[Callable[[str], Any],
                                                                Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``; ``modules``: name -> the module defining it."""

    def getattr_(name: str) -> Any:
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{modules[name]}"), name)

    def dir_() -> list[str]:
        return sorted(modules)

    return getattr_, dir_
