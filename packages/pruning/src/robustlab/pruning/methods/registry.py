"""The registry of pruning methods and what a method sees when it prunes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from robustlab.common.registry import Registry

STARTS = ("previous", "dense", "init")
REWINDS = ("lr", "weights")


@dataclass
class PruneContext:
    """What a pruning method sees.

    Attributes:
        model: the model to prune in place (unstructured methods add ``torch.nn.utils.prune``
            masks; structured methods remove channels).
        targets: the prunable ``(module, "weight")`` pairs chosen by the sweep's scope.
        ignored: modules a structured method must not shrink (e.g. the classifier head).
        batches: a callable returning an iterator of normalised ``(images, labels)`` training
            batches on the model's device (SNIP's saliency batches).
        example_inputs: one input tensor for tracing the dependency graph.
        step: the sweep step being made (1, 2, ...).
        rate: the method's per-step rate.
        seed: the sweep's seed; a method drawing random numbers seeds from it.
        options: the method's own options from the config.
    """

    model: nn.Module
    targets: list[tuple[nn.Module, str]]
    ignored: list[nn.Module]
    batches: Callable[[], Iterator[tuple[Any, Any]]]
    example_inputs: Any
    step: int
    rate: float
    seed: int
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PruningMethod:
    """A registered method.

    Attributes:
        name: its registry name.
        prune: ``prune(ctx, target_sparsity)``: bring the model to ``target_sparsity``.
        start: ``"previous"`` (iterative: each step prunes the previous step's retrained model),
            ``"dense"`` (one-shot: each sparsity is reached in one cut of the dense trained
            model) or ``"init"`` (at initialisation: each sparsity is cut from the initial
            weights, then trained from scratch).
        rewind: ``"lr"`` (keep the surviving weights, retrain with a fresh optimizer and learning
            rate schedule) or ``"weights"`` (reset the surviving weights to their initial values
            before retraining: the lottery ticket procedure).
        structured: removes whole channels (the network shrinks) instead of masking weights.
        description: one line for ``list_methods``.
    """

    name: str
    prune: Callable[[PruneContext, float], None]
    start: str = "previous"
    rewind: str = "lr"
    structured: bool = False
    description: str = ""


#: Every pruning method; plugins add theirs through the entry-point group
#: ``robustlab.pruning_methods`` or a module named in the config's ``plugins``.
METHODS: Registry[PruningMethod] = Registry("pruning method", group="robustlab.pruning_methods")


def register_method(name: str, *, start: str = "previous", rewind: str = "lr",
                    structured: bool = False, description: str = "", override: bool = False,
                    ) -> Callable[[Callable[[PruneContext, float], None]], Callable[[PruneContext, float], None]]:
    """Register ``fn`` as pruning method ``name`` (see :class:`PruningMethod` for the fields)."""
    if start not in STARTS:
        raise ValueError(f"start must be one of {', '.join(STARTS)}; got {start!r}")
    if rewind not in REWINDS:
        raise ValueError(f"rewind must be one of {', '.join(REWINDS)}; got {rewind!r}")

    def decorate(fn: Callable[[PruneContext, float], None]) -> Callable[[PruneContext, float], None]:
        text = description or (fn.__doc__ or "").strip().split("\n")[0]
        METHODS.add(name, PruningMethod(name, fn, start, rewind, structured, text), override=override,
                    start=start, rewind=rewind, structured=structured, description=text)
        return fn

    return decorate


def get_method(name: str) -> PruningMethod:
    """The method registered as ``name``; an ``UnknownNameError`` with close matches otherwise."""
    return METHODS.get(name)


def list_methods(pattern: str = "*") -> list[str]:
    """Names of the registered pruning methods matching the glob ``pattern``."""
    return METHODS.list(pattern)
