"""Methods defined for some model architectures: attribution and discovery methods.

The entry type of both registries
(:data:`~robustlab.pruning.interpret.methods.ATTRIBUTIONS`,
:data:`~robustlab.pruning.discovery.methods.DISCOVERY`) and the checks both make: at
registration, the declared ``archs`` are known architectures; at use, the method applies to the
model's architecture (one method, :func:`method_for`) or is skipped (a suite's list,
:func:`configured_methods`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from robustlab.common.registry import Entry, Registry

log = logging.getLogger(__name__)

ARCHS = ("cnn", "vit", "swin")


@dataclass(frozen=True)
class ArchMethod(Entry[Callable[..., Any]]):
    """A registered method and the architectures it applies to.

    Attributes:
        archs: among :data:`ARCHS` (default: all of them).
    """

    archs: tuple[str, ...] = ARCHS

    def __post_init__(self) -> None:
        archs = (self.archs,) if isinstance(self.archs, str) else tuple(self.archs)
        unknown = sorted(set(archs) - set(ARCHS))
        if unknown or not archs:
            raise ValueError(f"method {self.name!r}: archs must be among {ARCHS}, got {list(archs)}")
        object.__setattr__(self, "archs", archs)


def method_for(registry: Registry[ArchMethod], name: str, arch: str) -> ArchMethod:
    """The method ``name`` of ``registry`` after checking that it applies to ``arch``.

    Raises:
        UnknownNameError: no such method (the message names the close matches).
        ValueError: ``arch`` is not among :data:`ARCHS`, or the method is not defined for it.
    """
    method = registry.get(name)
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    if arch not in method.archs:
        raise ValueError(f"{registry.kind} {name!r} is defined for {'/'.join(method.archs)} "
                         f"models only, not for arch={arch!r}")
    return method


def configured_methods(
    suite: str, registry: Registry[ArchMethod], arch: str,
    methods: Sequence[str] | Mapping[str, Sequence[str]],
    method_options: Mapping[str, Mapping[str, Any]] | None,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The methods a suite runs on an ``arch`` model and each method's options.

    Args:
        suite: the suite's name (``eval.suites.<suite>``), for messages.
        registry: the registry of its methods.
        arch: the model's architecture.
        methods: a list, of which the methods not defined for ``arch`` are skipped (with a log
            line), or a mapping ``arch -> list``.
        method_options: the config's ``method_options: {<method>: {<option>: value}}``.
        defaults: the options the suite's own keys give (overridden by ``method_options``).

    Returns:
        The applicable method names, in order, and method -> options
        (:func:`~robustlab.pruning.suites.merge_method_options`).

    Raises:
        UnknownNameError, ConfigError: an unknown method or option, before any work.
    """
    from robustlab.pruning.suites import merge_method_options  # suites imports pandas

    names = list(methods.get(arch, [])) if isinstance(methods, Mapping) else list(methods)
    chosen = []
    for name in names:
        if arch in registry.get(name).archs:
            chosen.append(name)
        else:
            log.info("%s: method %r does not apply to arch=%r; skipped", suite, name, arch)
    return chosen, merge_method_options(suite, registry, defaults or {}, method_options)
