"""Training of one sweep step: SGD or AdamW, warm-up then cosine or step decay, label smoothing.

On CUDA the forward pass runs under bf16 autocast with channels_last tensors (optionally
``torch.compile``d); on CPU it runs in float32 and, with the seeding of
``robustlab.common.seeding``, is bit-reproducible. Every step starts a fresh optimizer and
learning-rate schedule (learning-rate rewinding, Renda et al., ICLR 2020).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import torch
from torch import nn

from robustlab.common.config import check_fields
from robustlab.common.constraints import (
    Interval,
    NonNegativeFloat,
    NonNegativeInt,
    OneOf,
    PositiveFloat,
    PositiveInt,
)
from robustlab.common.progress import progress
from robustlab.pruning.data.loader import LoaderOptions, TrainStream
from robustlab.pruning.data.sources import DataBundle
from robustlab.pruning.distributed import (
    Dist,
    data_parallel,
    mean_over_ranks,
    sync_module,
    synchronized_batchnorm,
)

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "step")
WEIGHT_DECAY_SCOPES = ("matrices", "all")


@dataclass
class TrainSpec:
    """How a step trains.

    Attributes:
        epochs: passes over the training split.
        batch_size: images per batch: the global batch, split evenly over the ranks of a
            data-parallel run.
        optimizer: ``"sgd"`` (Nesterov-free momentum) or ``"adamw"``.
        lr: peak learning rate, for the global ``batch_size``.
        lr_batch: when set, the batch that ``lr`` is given for: the learning rate becomes
            ``lr * batch_size / lr_batch`` (the linear scaling rule, Goyal et al. 2017).
        momentum: SGD momentum (AdamW's beta1 is 0.9).
        weight_decay: the decay coefficient.
        weight_decay_scope: ``"matrices"`` decays weights with two or more dimensions (not
            biases, norms or other 1-D parameters); ``"all"`` decays every parameter, as
            torchvision's reference recipe does without ``--norm-weight-decay`` (the study's
            ``train.py``, ``utils.set_weight_decay(..., norm_weight_decay=args.norm_weight_decay)``
            with its default None).
        schedule: ``"cosine"`` (to zero) or ``"step"`` (times ``gamma`` every ``step_epochs``).
        step_epochs, gamma: the step schedule.
        warmup_epochs: linear warm-up from zero, in epochs (fractions allowed).
        label_smoothing: of the cross-entropy loss.
        amp: bf16 autocast on CUDA (ignored on CPU).
        channels_last: channels_last memory format on CUDA (ignored on CPU).
        compile: ``torch.compile`` the model for training.
        sync_batchnorm: in a data-parallel run, BatchNorm statistics over the global batch
            (else each rank normalises its own share).
        num_workers, pin_memory, persistent_workers, prefetch_factor: DataLoader settings for
            on-disk data (workers per rank).
        gpu_decode: decode JPEGs and augment on the device (ImageFolder data).
        max_batches_per_epoch: cap an epoch (tests and quick checks); None for full epochs.
        progress: show a progress bar (images, rate, time left: :mod:`robustlab.common.progress`).
    """

    epochs: NonNegativeInt = 1
    batch_size: PositiveInt = 128
    optimizer: Annotated[str, OneOf(*OPTIMIZERS)] = "sgd"
    lr: PositiveFloat = 0.1
    lr_batch: PositiveInt | None = None
    momentum: Annotated[float, Interval(0, 1, closed="left")] = 0.9
    weight_decay: NonNegativeFloat = 5e-4
    weight_decay_scope: Annotated[str, OneOf(*WEIGHT_DECAY_SCOPES)] = "matrices"
    schedule: Annotated[str, OneOf(*SCHEDULES)] = "cosine"
    step_epochs: PositiveInt = 30
    gamma: Annotated[float, Interval(0, 1, closed="right")] = 0.1
    warmup_epochs: NonNegativeFloat = 0.0
    label_smoothing: Annotated[float, Interval(0, 1, closed="left")] = 0.0
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    sync_batchnorm: bool = False
    num_workers: NonNegativeInt = 0
    pin_memory: bool = True
    persistent_workers: bool = True
    prefetch_factor: PositiveInt = 2
    gpu_decode: bool = False
    max_batches_per_epoch: PositiveInt | None = None
    progress: bool = True

    def validate(self) -> None:
        """Check every field against its declared constraint, for a spec made in code rather
        than bound from a config (a :class:`~robustlab.common.errors.ConfigError` naming
        ``train.<field>`` otherwise)."""
        check_fields(self, "train")


@dataclass
class TrainStats:
    """What a training run measured."""

    seconds: float
    images: int
    images_per_second: float
    final_loss: float


def lr_factor(it: int, total: int, warmup: int, spec: TrainSpec, iters_per_epoch: int) -> float:
    """The learning-rate multiplier at iteration ``it`` of ``total``.

    Linear warm-up ``(it + 1) / warmup`` for the first ``warmup`` iterations, then cosine
    ``0.5 * (1 + cos(pi * t))`` with ``t`` the fraction of the post-warm-up iterations done
    (Loshchilov & Hutter, "SGDR", ICLR 2017), or ``gamma ** floor(epoch / step_epochs)``.
    """
    if it < warmup:
        return (it + 1) / warmup
    if spec.schedule == "cosine":
        t = (it - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * t))
    return spec.gamma ** ((it // max(1, iters_per_epoch)) // max(1, spec.step_epochs))


def peak_lr(spec: TrainSpec) -> float:
    """The learning rate for the global batch: ``lr``, or ``lr * batch_size / lr_batch``."""
    return spec.lr if spec.lr_batch is None else spec.lr * spec.batch_size / spec.lr_batch


def _optimizer(model: nn.Module, spec: TrainSpec) -> torch.optim.Optimizer:
    every = spec.weight_decay_scope == "all"
    decay = [p for p in model.parameters() if p.requires_grad and (every or p.ndim >= 2)]
    no_decay = [p for p in model.parameters() if p.requires_grad and not (every or p.ndim >= 2)]
    groups = [{"params": decay, "weight_decay": spec.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if spec.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=peak_lr(spec), momentum=spec.momentum)
    return torch.optim.AdamW(groups, lr=peak_lr(spec), betas=(spec.momentum, 0.999))


def train(model: nn.Module, data: DataBundle, spec: TrainSpec, device: torch.device, seed: int,
          desc: str = "train", dist: Dist | None = None) -> TrainStats:
    """Train ``model`` in place on ``data.train`` with a fresh optimizer and schedule.

    Args:
        model: the model, on ``device`` (pruning masks, if any, stay applied).
        data: the sweep's data.
        spec: the training settings.
        device: the device.
        seed: seeds the batch order and every random draw of this run.
        desc: progress-bar label.
        dist: this process's rank in a data-parallel run (None: one process). Each rank
            trains on its share of every global batch under DistributedDataParallel; at the end
            every rank holds rank 0's parameters and buffers.

    Returns:
        Wall time, images seen (all ranks), throughput and the last global batch's mean loss.
    """
    spec.validate()
    dist = dist or Dist()
    torch.manual_seed(seed)
    cuda = device.type == "cuda"
    if cuda and spec.channels_last:
        model.to(memory_format=torch.channels_last)
    options = LoaderOptions(num_workers=spec.num_workers, pin_memory=spec.pin_memory,
                            persistent_workers=spec.persistent_workers, prefetch_factor=spec.prefetch_factor,
                            gpu_decode=spec.gpu_decode)
    stream = TrainStream(data, spec.batch_size, seed, device, rank=dist.rank, world_size=dist.world_size,
                         options=options)
    per_epoch = len(stream)
    if spec.max_batches_per_epoch is not None:
        per_epoch = min(per_epoch, spec.max_batches_per_epoch)
    bar = progress(per_epoch * spec.epochs, desc, unit="img", enabled=spec.progress and dist.is_main,
                   unit_scale=spec.batch_size, leave=False)
    if cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    with synchronized_batchnorm(model, dist, device, spec.sync_batchnorm):
        wrapped = data_parallel(dist, model, device)
        forward = torch.compile(wrapped) if spec.compile else wrapped
        iters, loss_value = _epochs(forward, model, stream, spec, device, per_epoch, bar)
        del forward, wrapped
    if cuda:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    bar.close()
    sync_module(dist, model)
    loss_value = mean_over_ranks(dist, loss_value, device)
    images = iters * spec.batch_size
    model.eval()
    return TrainStats(seconds, images, images / seconds if seconds > 0 else 0.0, loss_value)


def _epochs(forward: Callable[..., torch.Tensor], model: nn.Module, stream: TrainStream, spec: TrainSpec,
            device: torch.device, per_epoch: int, bar: Any) -> tuple[int, float]:
    """The optimisation loop; returns the iterations done and this rank's last batch loss."""
    cuda = device.type == "cuda"
    total = per_epoch * spec.epochs
    warmup = int(round(spec.warmup_epochs * per_epoch))
    optimizer = _optimizer(model, spec)
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    loss_fn = nn.CrossEntropyLoss(label_smoothing=spec.label_smoothing)
    model.train()
    it, loss = 0, None
    for epoch in range(spec.epochs):
        for b, (images, labels) in enumerate(stream.epoch(epoch)):
            if b >= per_epoch:
                break
            factor = lr_factor(it, total, warmup, spec, per_epoch)
            for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = base * factor
            if cuda and spec.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cuda and spec.amp):
                loss = loss_fn(forward(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            it += 1
            bar.update(1)
    return it, float(loss.detach()) if loss is not None else float("nan")
