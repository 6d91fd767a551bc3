"""A sweep's settings (:class:`SweepSpec`), their checks before any work, and their record.

The record (:func:`spec_record`) is what a run folder's ``sweep_spec.json`` holds; a
checkpoint records :func:`spec_hash`, a hash of the record without the evaluation settings
(:data:`EVAL_KEYS`), so that a checkpoint of another sweep is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Annotated, Any

import torch

from robustlab.common.config import Seed, check_fields
from robustlab.common.constraints import Interval, NonEmpty, NonNegativeInt, PositiveInt
from robustlab.common.errors import ConfigError
from robustlab.pruning.data.evaldata import eval_data_spec
from robustlab.pruning.data.sources import DataSpec
from robustlab.pruning.masks import PruneScope
from robustlab.pruning.methods import METHODS, PruningMethod
from robustlab.pruning.models import ModelSpec, check_model_kwargs
from robustlab.pruning.suites import check_suite_options
from robustlab.pruning.train import TrainSpec

#: Settings of the evaluation alone: a sweep that finished no step may change them and keep
#: its checkpoints (they leave the trained weights as they are).
EVAL_KEYS = ("suites", "eval_batch_size", "eval_max_images", "measure_latency")
#: A per-step pruning rate: the fraction of the remaining weights each step removes.
Rate = Annotated[float, Interval(0, 1, closed="neither")]


@dataclass
class SweepSpec:
    """Everything a sweep needs, as plain values.

    Attributes:
        model, data, train: the model, data and (dense) training settings.
        method: a registered pruning method (``robustlab.pruning.methods.METHODS.list()``).
        steps: prune-and-retrain steps after the dense step.
        rate: per-step rate in (0, 1): step ``k`` targets sparsity ``1 - (1 - rate)^k``.
        scope: which layers are prunable.
        method_options: options passed to the method (``ctx.options``).
        retrain_epochs: epochs of each retraining step (None: the dense schedule's, as the
            paper does).
        suites: evaluation suites to run at every step, ``name -> options``.
        eval_batch_size: images per evaluation batch.
        eval_max_images: cap on held-out images for accuracy (None: all).
        measure_latency: time the forward pass at every step (``latency_ms`` column).
        seed: the sweep's seed.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        label: the model's name in tables (default: ``model.name``).
    """

    model: ModelSpec
    data: DataSpec
    train: TrainSpec
    method: Annotated[str, NonEmpty()] = "imp_lr_rewind"
    steps: NonNegativeInt = 5
    rate: Rate = 0.2
    scope: PruneScope = field(default_factory=PruneScope)
    method_options: dict[str, Any] = field(default_factory=dict)
    retrain_epochs: NonNegativeInt | None = None
    suites: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    eval_batch_size: PositiveInt = 256
    eval_max_images: PositiveInt | None = None
    measure_latency: bool = False
    seed: Seed = 0
    device: Annotated[str, NonEmpty()] = "auto"
    label: str | None = None


#: The config key of each :class:`SweepSpec` field named otherwise in the config.
CONFIG_KEYS = {"method": "method.name", "steps": "method.steps", "rate": "method.rate", "scope": "method.scope",
               "method_options": "method.options", "retrain_epochs": "train.retrain_epochs",
               "suites": "eval.suites", "eval_batch_size": "eval.batch_size", "eval_max_images": "eval.max_images",
               "label": "model.label"}


def target_sparsity(step: int, rate: float) -> float:
    """``1 - (1 - rate)^step``: the sparsity after ``step`` steps removing ``rate`` of the rest."""
    return 1.0 - (1.0 - rate) ** step


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; a clear error when CUDA is asked but absent."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} was asked for but torch sees no CUDA device; "
                          "use device=auto or device=cpu")
    return device


def validate(spec: SweepSpec) -> PruningMethod:
    """Check the spec before any expensive work; return the pruning method.

    Raises:
        ConfigError: a value that breaks its declared constraint (a rate outside (0, 1), a
            negative step count, a bad training setting), named by its config key.
        UnknownNameError: an unknown method or evaluation suite (with close matches).
    """
    check_fields(spec, keys=CONFIG_KEYS)
    spec.data.validate()
    method = METHODS.get(spec.method)
    check_suite_options(spec.suites)
    for name, options in spec.suites.items():
        if options and options.get("data"):
            eval_data_spec(dict(options["data"]), f"eval.suites.{name}.data")
    spec.train.validate()
    check_model_kwargs(spec.model)
    return method


def spec_record(spec: SweepSpec) -> dict[str, Any]:
    """The spec as ``sweep_spec.json`` records it: plain JSON values, the progress bar left out."""
    record = dataclasses.asdict(spec)
    record["train"].pop("progress", None)
    return json.loads(json.dumps(record, default=str))


def spec_hash(record: dict[str, Any]) -> str:
    """What a checkpoint records of the sweep that trained it: a hash of ``record`` without
    :data:`EVAL_KEYS`."""
    trained = {k: v for k, v in record.items() if k not in EVAL_KEYS}
    return hashlib.sha256(json.dumps(trained, sort_keys=True).encode()).hexdigest()[:16]
