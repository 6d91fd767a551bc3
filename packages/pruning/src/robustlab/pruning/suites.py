"""Evaluation suites run by the sweep at every sparsity: a name -> function registry.

A suite is a function ``suite(ctx: EvalContext, **options) -> SuiteResult``. The sweep calls
every suite named in the ``eval`` config after each step, appends the suite's ``rows`` to
``<run_dir>/<table>.csv`` (each row tagged with ``step`` and ``sparsity``) and keeps its
per-image values under ``<run_dir>/per_image/``. Register a suite in one file::

    @SUITES.register("my_suite", directions=[("*", "error", -1), ("*", "*", +1)])
    def my_suite(ctx: EvalContext, n_images: int = 64) -> SuiteResult:
        ...
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pandas as pd

from robustlab.common.config import check_value, function_hints
from robustlab.common.constraints import NonEmpty, Unique
from robustlab.common.errors import ConfigError
from robustlab.common.registry import Entry, Registry, deprecated_alias, unknown_name_message


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


SuiteFn = Callable[..., SuiteResult]


@dataclass(frozen=True)
class Suite(Entry[SuiteFn]):
    """A registered evaluation suite.

    Attributes:
        table: its rows go to ``<table>.csv`` (default: the suite's name).
        directions: ``((method, metric, direction), ...)`` glob patterns saying which of its
            metrics are better high (+1) or low (-1), or not tested for sweet spots (0); the
            first matching pattern wins, a metric that matches none is not tested.
        summarize: when the suite's rows are a function of its per-image table alone, that
            function; a data-parallel sweep then splits the suite's batches over the ranks and
            summarises the gathered table (otherwise every rank runs the whole suite).
        methods: the registry of the methods the suite runs, when it takes ``method_options``
            (checked against it before the sweep starts: :func:`merge_method_options`).
        check: ``check(ctx, **options)``, called by the sweep with the suite's options and a
            context of the initial model before any training: raises a ``ConfigError`` naming
            the option whose value the suite cannot use (an unknown metric, a count below 1...).
    """

    table: str = ""
    directions: tuple[tuple[str, str, int], ...] = ()
    summarize: Callable[[pd.DataFrame], list[dict[str, Any]]] | None = None
    methods: Registry[Any] | None = None
    check: Callable[..., None] | None = None

    def __post_init__(self) -> None:
        for pattern in self.directions:
            if len(pattern) != 3 or pattern[2] not in (-1, 0, 1):
                raise ValueError(f"suite {self.name!r}: a direction is (method, metric, +1/-1/0); got {pattern!r}")
        object.__setattr__(self, "directions", tuple(tuple(d) for d in self.directions))
        object.__setattr__(self, "table", self.table or self.name)


#: Every evaluation suite (:class:`Suite`); the sweep runs those named under ``eval.suites``.
#: Plugins add suites through the entry-point group ``robustlab.suites`` or a module named in
#: the config's ``plugins``.
SUITES: Registry[Suite] = Registry(
    "evaluation suite", Suite, group="robustlab.suites",
    builtins=("robustlab.pruning.interpret.suite", "robustlab.pruning.discovery.suite",
              "robustlab.pruning.alignment.suite"))

register_suite = deprecated_alias("register_suite", SUITES.register, "SUITES.register")
#: The methods a suite runs, as a config names them: a list, or a mapping ``arch -> list``.
MethodNames = Annotated[Sequence[str], NonEmpty(), Unique()]
get_suite = deprecated_alias("get_suite", lambda name: (SUITES.get(name).fn, SUITES.get(name).table),
                             "SUITES.get(name) (.fn, .table)")
list_suites = deprecated_alias("list_suites", SUITES.list, "SUITES.list")


def suite_tables() -> dict[str, tuple[tuple[str, str, int], ...]]:
    """Table name -> the metric directions of the suite writing it, for every registered suite."""
    return {entry.table: entry.directions for entry in SUITES.entries()}


def merge_method_options(suite: str, registry: Registry[Any], defaults: Mapping[str, Mapping[str, Any]],
                   given: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Each method's options: the suite's own keys (``defaults``) overridden by the config's
    ``method_options: {<method>: {<option>: value}}``.

    Raises:
        ConfigError: an unknown method, an option that is not a keyword of the method's
            function, named by its path (``eval.suites.<suite>.method_options.<method>``) with
            the close matches, or a value that does not fit the keyword's declared type.
    """
    out = {name: dict(opts) for name, opts in defaults.items()}
    for name, opts in (given or {}).items():
        where = f"eval.suites.{suite}.method_options"
        if name not in registry:
            raise ConfigError(f"{where}: " + unknown_name_message(registry.kind, str(name), registry.list()))
        known = [p.name for p in inspect.signature(registry.get(name).fn).parameters.values()
                 if p.kind is inspect.Parameter.KEYWORD_ONLY or
                 (p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and p.default is not inspect.Parameter.empty)]
        known = [k for k in known if k != "arch"]
        hints = function_hints(registry.get(name).fn)
        for key, value in (opts or {}).items():
            if key not in known:
                raise ConfigError(f"{where}.{name}: " + unknown_name_message("option", str(key), known))
            if key in hints:
                check_value(value, hints[key], f"{where}.{name}.{key}")
        out[str(name)] = {**out.get(str(name), {}), **dict(opts or {})}
    return out


#: Keys of ``eval.suites.<suite>`` read by the sweep itself rather than passed to the suite
#: (``data``: the suite's evaluation data, :mod:`robustlab.pruning.data.evaldata`).
SWEEP_SUITE_KEYS = ("data",)


def check_suite_options(suites: Mapping[str, Any]) -> None:
    """Every suite is registered, its options are keywords of its function and fit their
    annotations with the constraints declared there (:mod:`robustlab.common.constraints`); a
    ``ConfigError`` naming the key otherwise. ``method_options`` name known methods."""
    for name, given in suites.items():
        suite = SUITES.get(name)
        if given is not None and not isinstance(given, Mapping):
            raise ConfigError(f"eval.suites.{name}: expected a mapping of options, got {given!r}")
        options: Mapping[str, Any] = given or {}
        params = inspect.signature(suite.fn).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            continue
        known = [*(p for p in params if p != "ctx"), *SWEEP_SUITE_KEYS]
        hints = function_hints(suite.fn)
        for key, value in options.items():
            if key not in known:
                raise ConfigError(f"eval.suites.{name}: " + unknown_name_message("option", str(key), known))
            if key in hints:
                check_value(value, hints[key], f"eval.suites.{name}.{key}")
        if suite.methods is not None and options.get("method_options"):
            merge_method_options(name, suite.methods, {}, options["method_options"])


def suite_arguments(fn: Callable[..., Any], ctx: EvalContext, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options of suite function ``fn`` with its defaults filled in (for a ``check``)."""
    bound = inspect.signature(fn).bind(ctx, **options)
    bound.apply_defaults()
    return dict(bound.arguments)
