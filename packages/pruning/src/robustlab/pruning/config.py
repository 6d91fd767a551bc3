"""The pruning app's config as typed dataclasses (``conf/pruning.yaml`` and its groups).

:func:`bind` turns the composed Hydra config into a :class:`PruningConfig` once, strictly
(:func:`robustlab.common.config.from_dict`: an unknown key is an error naming it and the close
matches), and :meth:`PruningConfig.sweep_spec` into the :class:`~robustlab.pruning.sweep_spec.SweepSpec`
the library runs. Each key's default is stated once, in these dataclasses or the library's
(:class:`~robustlab.pruning.models.ModelSpec`, :class:`~robustlab.pruning.data.sources.DataSpec`,
:class:`~robustlab.pruning.train.TrainSpec`, :class:`~robustlab.pruning.masks.PruneScope`); the
YAML files choose values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from robustlab.common.config import Seed, from_dict
from robustlab.common.constraints import (
    NonEmpty,
    NonNegativeInt,
    OneOf,
    PositiveFloat,
    PositiveInt,
    Unique,
)
from robustlab.common.errors import ConfigError
from robustlab.pruning.data.evaldata import EvalDataSpec
from robustlab.pruning.data.sources import DataSpec
from robustlab.pruning.loggers import LOGGERS, WANDB_MODES
from robustlab.pruning.masks import PruneScope
from robustlab.pruning.models import ModelSpec
from robustlab.pruning.suites import check_suite_options
from robustlab.pruning.sweep_spec import Rate, SweepSpec
from robustlab.pruning.sweetspot import SweetSpotOptions
from robustlab.pruning.train import TrainSpec


@dataclass
class ModelConfig(ModelSpec):
    """``model``: a :class:`~robustlab.pruning.models.ModelSpec` and its name in tables."""

    label: str | None = None


@dataclass
class TrainConfig(TrainSpec):
    """``train``: the dense schedule (:class:`~robustlab.pruning.train.TrainSpec`) and the
    epochs of each retraining step (None: the dense schedule's, as the paper does)."""

    retrain_epochs: NonNegativeInt | None = None


@dataclass
class MethodConfig:
    """``method``: a registered pruning method, its steps, per-step rate, scope and options.

    ``rate`` is the fraction of the remaining weights each step prunes: step ``k`` targets
    sparsity ``1 - (1 - rate)^k``.
    """

    name: Annotated[str, NonEmpty()] = "imp_lr_rewind"
    steps: NonNegativeInt = 5
    rate: Rate = 0.2
    scope: PruneScope = field(default_factory=PruneScope)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalConfig:
    """``eval``: the evaluation batch size, the accuracy cap (null: every held-out image) and
    the suites with their options (checked against each suite's declared keywords)."""

    batch_size: PositiveInt = 256
    max_images: PositiveInt | None = None
    suites: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoggerConfig:
    """``logger``: the experiment tracker (:mod:`robustlab.pruning.loggers`) and its keys."""

    name: Annotated[str, OneOf(*LOGGERS)] = "none"
    dir: str | None = None
    tracking_uri: str | None = None
    experiment: Annotated[str, NonEmpty()] = "robustlab-pruning"
    project: Annotated[str, NonEmpty()] = "robustlab-pruning"
    mode: Annotated[str, OneOf(*WANDB_MODES)] = "offline"


@dataclass
class PruningConfig:
    """The whole config of ``robustlab-prune`` (see ``conf/pruning.yaml`` for what each key means)."""

    model: ModelConfig
    data: DataSpec = field(default_factory=DataSpec)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    sweetspot: SweetSpotOptions = field(default_factory=SweetSpotOptions)
    seed: Seed = 0
    plugins: Annotated[list[str], Unique()] = field(default_factory=list)
    device: Annotated[str, NonEmpty()] = "auto"
    deterministic: bool = True
    measure_latency: bool = False
    report: bool = True
    threads: PositiveInt | None = None
    plan: bool = False
    dist_timeout_s: PositiveFloat = 600.0
    progress: bool = True

    def sweep_spec(self) -> SweepSpec:
        """The :class:`~robustlab.pruning.sweep_spec.SweepSpec` of this config."""
        model = {f.name: getattr(self.model, f.name) for f in dataclasses.fields(ModelSpec)}
        train = {f.name: getattr(self.train, f.name) for f in dataclasses.fields(TrainSpec)}
        train["progress"] = self.progress and self.train.progress  # either key quietens the sweep
        return SweepSpec(
            model=ModelSpec(**model), data=self.data, train=TrainSpec(**train),
            method=self.method.name, steps=self.method.steps, rate=self.method.rate,
            scope=self.method.scope, method_options=dict(self.method.options),
            retrain_epochs=self.train.retrain_epochs,
            suites={name: dict(opts or {}) for name, opts in self.eval.suites.items()},
            eval_batch_size=self.eval.batch_size, eval_max_images=self.eval.max_images,
            measure_latency=self.measure_latency, seed=self.seed, device=self.device,
            label=self.model.label or self.model.name)


def bind(config: Mapping[str, Any]) -> PruningConfig:
    """The composed config (a plain mapping, ``hydra`` left out) as a :class:`PruningConfig`,
    every value checked against its declared constraint (the suites' options against their
    functions' keywords) before any work.

    Raises:
        ConfigError: the first key whose value does not fit, named by its path.
    """
    scope = (config.get("method") or {}).get("scope") or {}
    if "attention" in scope:
        raise ConfigError("method.scope.attention was split into method.scope.attention_qkv (input "
                          "projections) and method.scope.attention_out (output projections); set those")
    cfg = from_dict(PruningConfig, {k: v for k, v in config.items() if k != "hydra"})
    check_suite_options(cfg.eval.suites)
    for name, options in cfg.eval.suites.items():
        if (options or {}).get("data"):
            from_dict(EvalDataSpec, options["data"], f"eval.suites.{name}.data")
    return cfg
