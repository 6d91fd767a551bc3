"""The registry of pruning methods and what a method sees when it prunes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from torch import nn

from robustlab.common.registry import Entry, Registry, deprecated_alias

STARTS = ("previous", "dense", "init")
REWINDS = ("lr", "weights")


class PruneTarget(Protocol):
    """One prunable weight as a method reads it: :class:`robustlab.pruning.masks.Target`, named by
    its shape (masks imports the models, whose checkpoint loading imports this registry)."""

    @property
    def module(self) -> nn.Module: ...

    @property
    def param(self) -> str: ...


@dataclass
class PruneContext:
    """What a pruning method sees.

    Attributes:
        model: the model to prune in place (unstructured methods add ``torch.nn.utils.prune``
            masks; structured methods remove channels).
        targets: the prunable weights chosen by the sweep's scope (``.module``, ``.param``).
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
    targets: Sequence[PruneTarget]
    ignored: list[nn.Module]
    batches: Callable[[], Iterator[tuple[Any, Any]]]
    example_inputs: Any
    step: int
    rate: float
    seed: int
    options: dict[str, Any] = field(default_factory=dict)


PruneFn = Callable[[PruneContext, float], None]


@dataclass(frozen=True)
class PruningMethod(Entry[PruneFn]):
    """A registered method.

    Attributes:
        name: its registry name.
        fn: ``fn(ctx, target_sparsity)``: bring the model to ``target_sparsity`` (also
            ``prune``).
        start: ``"previous"`` (iterative: each step prunes the previous step's retrained model),
            ``"dense"`` (one-shot: each sparsity is reached in one cut of the dense trained
            model) or ``"init"`` (at initialisation: each sparsity is cut from the initial
            weights, then trained from scratch).
        rewind: ``"lr"`` (keep the surviving weights, retrain with a fresh optimizer and learning
            rate schedule) or ``"weights"`` (reset the surviving weights to their initial values
            before retraining: the lottery ticket procedure).
        structured: removes whole channels (the network shrinks) instead of masking weights.
        description: one line for listings (default: the first line of the function's docstring).
    """

    start: str = "previous"
    rewind: str = "lr"
    structured: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.start not in STARTS:
            raise ValueError(f"pruning method {self.name!r}: start must be one of {', '.join(STARTS)}; "
                             f"got {self.start!r}")
        if self.rewind not in REWINDS:
            raise ValueError(f"pruning method {self.name!r}: rewind must be one of {', '.join(REWINDS)}; "
                             f"got {self.rewind!r}")
        if not self.description:
            object.__setattr__(self, "description", (self.fn.__doc__ or "").strip().split("\n")[0])

    @property
    def prune(self) -> PruneFn:
        """The pruning function, ``prune(ctx, target_sparsity)``."""
        return self.fn


#: Every pruning method; plugins add theirs through the entry-point group
#: ``robustlab.pruning_methods`` or a module named in the config's ``plugins``.
METHODS: Registry[PruningMethod] = Registry("pruning method", PruningMethod,
                                            group="robustlab.pruning_methods")

register_method = deprecated_alias("register_method", METHODS.register, "METHODS.register")
get_method = deprecated_alias("get_method", METHODS.get, "METHODS.get")
list_methods = deprecated_alias("list_methods", METHODS.list, "METHODS.list")
