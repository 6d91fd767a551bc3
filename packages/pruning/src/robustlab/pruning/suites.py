"""Evaluation suites run by the sweep at every sparsity: a name -> function registry.

A suite is a function ``suite(ctx: EvalContext, **options) -> SuiteResult``. The sweep calls
every suite named in the ``eval`` config after each step, appends the suite's ``rows`` to
``<run_dir>/<table>.csv`` (each row tagged with ``step`` and ``sparsity``) and keeps its
per-image values under ``<run_dir>/per_image/``. Register a suite in one file::

    @register_suite("my_suite", table="my_suite")
    def my_suite(ctx: EvalContext, n_images: int = 64) -> SuiteResult:
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from robustlab.common.registry import lookup


@dataclass
class EvalBatch:
    """One batch of evaluation data.

    Attributes:
        images: ``(B, C, H, W)`` float tensor, normalised as the model expects, on ``ctx.device``.
        labels: ``(B,)`` long tensor of class indices.
        masks: ``(B, H, W)`` bool tensor, the object's pixels (the union of objects).
        boxes: one ``(m_i, 4)`` float array of ``(x0, y0, x1, y1)`` pixel boxes per image.
        index: ``(B,)`` dataset indices, stable across steps (for per-image values).
    """

    images: Any
    labels: Any
    masks: Any
    boxes: list[Any]
    index: Any


@dataclass
class EvalContext:
    """What a suite sees of the sweep at one step.

    Attributes:
        model: the pruned model, in eval mode, on ``device``.
        arch: ``"cnn"`` or ``"vit"``.
        batches: a callable returning a fresh iterator of :class:`EvalBatch` over the
            evaluation split (``batches(max_images=n)`` stops after ``n`` images).
        device: the torch device.
        step, sparsity: the sweep step (0 = dense) and the global sparsity of prunable weights.
        run_dir: the run directory; a suite may write files under ``run_dir / <suite name>``.
        seed: the sweep's seed, for any randomness of the suite.
        num_classes, img_size: of the model and data.
        extras: anything else the data provides (e.g. the procedural dataset's generator
            for cue-conflict stimuli under ``"shapes"``).
    """

    model: Any
    arch: str
    batches: Callable[..., Iterator[EvalBatch]]
    device: Any
    step: int
    sparsity: float
    run_dir: Path
    seed: int
    num_classes: int
    img_size: int
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class SuiteResult:
    """A suite's output at one step.

    Attributes:
        rows: summary rows, e.g. ``{"method": "gradcam", "metric": "rma", "mean": .., "std": ..,
            "n": ..}``; the sweep adds ``step`` and ``sparsity``.
        per_image: optional long table of per-image values (columns at least ``index``,
            ``metric`` and ``value``), kept for bootstrap intervals.
    """

    rows: list[dict[str, Any]]
    per_image: pd.DataFrame | None = None


@dataclass(frozen=True)
class _Entry:
    fn: Callable[..., SuiteResult]
    table: str


_SUITES: dict[str, _Entry] = {}


def register_suite(name: str, table: str | None = None) -> Callable[[Callable[..., SuiteResult]], Callable[..., SuiteResult]]:
    """Register ``fn`` as suite ``name``, writing its rows to ``<table>.csv`` (default ``name``)."""

    def decorate(fn: Callable[..., SuiteResult]) -> Callable[..., SuiteResult]:
        if name in _SUITES:
            raise ValueError(f"an evaluation suite named {name!r} is already registered")
        _SUITES[name] = _Entry(fn, table or name)
        return fn

    return decorate


def get_suite(name: str) -> tuple[Callable[..., SuiteResult], str]:
    """The suite function and its table name; a clear error with close matches otherwise."""
    _load_builtin_suites()
    entry = lookup(_SUITES, name, "evaluation suite")
    return entry.fn, entry.table


def list_suites() -> list[str]:
    """Names of all registered suites."""
    _load_builtin_suites()
    return sorted(_SUITES)


def _load_builtin_suites() -> None:
    # Importing a suite's module registers it; suites whose module is absent are skipped.
    import importlib

    for module in ("robustlab.pruning.interpret.suite", "robustlab.pruning.discovery.suite",
                   "robustlab.pruning.alignment.suite"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name is None or not module.startswith(err.name):
                raise
