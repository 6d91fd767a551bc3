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
from typing import Any

from robustlab.common.config import from_dict
from robustlab.common.errors import ConfigError
from robustlab.pruning.data.sources import DataSpec
from robustlab.pruning.masks import PruneScope
from robustlab.pruning.models import ModelSpec
from robustlab.pruning.suites import check_suite_options
from robustlab.pruning.sweep_spec import SweepSpec
from robustlab.pruning.train import TrainSpec


@dataclass
class ModelConfig(ModelSpec):
    """``model``: a :class:`~robustlab.pruning.models.ModelSpec` and its name in tables."""

    label: str | None = None


@dataclass
class TrainConfig(TrainSpec):
    """``train``: the dense schedule (:class:`~robustlab.pruning.train.TrainSpec`) and the
    epochs of each retraining step (None: the dense schedule's, as the paper does)."""

    retrain_epochs: int | None = None


@dataclass
class MethodConfig:
    """``method``: a registered pruning method, its steps, per-step rate, scope and options."""

    name: str = "imp_lr_rewind"
    steps: int = 5
    rate: float = 0.2
    scope: PruneScope = field(default_factory=PruneScope)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalConfig:
    """``eval``: the evaluation batch size, the accuracy cap and the suites with their options."""

    batch_size: int = 256
    max_images: int | None = None
    suites: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoggerConfig:
    """``logger``: the experiment tracker (:mod:`robustlab.pruning.loggers`) and its keys."""

    name: str = "none"
    dir: str | None = None
    tracking_uri: str | None = None
    experiment: str = "robustlab-pruning"
    project: str = "robustlab-pruning"
    mode: str = "offline"


@dataclass
class PruningConfig:
    """The whole config of ``robustlab-prune`` (see ``conf/pruning.yaml`` for what each key means)."""

    model: ModelConfig
    data: DataSpec = field(default_factory=DataSpec)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    seed: int = 0
    plugins: list[str] = field(default_factory=list)
    device: str = "auto"
    deterministic: bool = True
    measure_latency: bool = False
    report: bool = True
    threads: int | None = None
    plan: bool = False
    dist_timeout_s: float = 600.0

    def sweep_spec(self) -> SweepSpec:
        """The :class:`~robustlab.pruning.sweep_spec.SweepSpec` of this config."""
        model = {f.name: getattr(self.model, f.name) for f in dataclasses.fields(ModelSpec)}
        train = {f.name: getattr(self.train, f.name) for f in dataclasses.fields(TrainSpec)}
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
    """The composed config (a plain mapping, ``hydra`` left out) as a :class:`PruningConfig`."""
    scope = (config.get("method") or {}).get("scope") or {}
    if "attention" in scope:
        raise ConfigError("method.scope.attention was split into method.scope.attention_qkv (input "
                          "projections) and method.scope.attention_out (output projections); set those")
    cfg = from_dict(PruningConfig, {k: v for k, v in config.items() if k != "hydra"})
    check_suite_options(cfg.eval.suites)
    return cfg
