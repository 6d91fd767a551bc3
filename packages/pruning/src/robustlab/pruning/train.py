"""Training of one sweep step: SGD or AdamW, warm-up then cosine or step decay, label smoothing.

On CUDA the forward pass runs under bf16 autocast with channels_last tensors (optionally
``torch.compile``d); on CPU it runs in float32 and, with the seeding of
``robustlab.common.seeding``, is bit-reproducible. Every step starts a fresh optimizer and
learning-rate schedule (learning-rate rewinding, Renda et al., ICLR 2020).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from robustlab.common.errors import ConfigError
from robustlab.pruning.data.sources import DataBundle, train_batches

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "step")


@dataclass
class TrainSpec:
    """How a step trains.

    Attributes:
        epochs: passes over the training split.
        batch_size: images per batch.
        optimizer: ``"sgd"`` (Nesterov-free momentum) or ``"adamw"``.
        lr: peak learning rate.
        momentum: SGD momentum (AdamW's beta1 is 0.9).
        weight_decay: on weights with two or more dimensions (not on biases or norms).
        schedule: ``"cosine"`` (to zero) or ``"step"`` (times ``gamma`` every ``step_epochs``).
        step_epochs, gamma: the step schedule.
        warmup_epochs: linear warm-up from zero, in epochs (fractions allowed).
        label_smoothing: of the cross-entropy loss.
        amp: bf16 autocast on CUDA (ignored on CPU).
        channels_last: channels_last memory format on CUDA (ignored on CPU).
        compile: ``torch.compile`` the model for training.
        num_workers, pin_memory: DataLoader settings for on-disk data.
        max_batches_per_epoch: cap an epoch (tests and quick checks); None for full epochs.
        progress: show a progress bar.
    """

    epochs: int = 1
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    step_epochs: int = 30
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    num_workers: int = 0
    pin_memory: bool = True
    max_batches_per_epoch: int | None = None
    progress: bool = True

    def validate(self) -> None:
        """Raise :class:`~robustlab.common.errors.ConfigError` naming the first bad field."""
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"train.optimizer must be one of {', '.join(OPTIMIZERS)}; got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"train.schedule must be one of {', '.join(SCHEDULES)}; got {self.schedule!r}")
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError(f"train needs epochs >= 0, batch_size >= 1 and lr > 0; got epochs={self.epochs}, "
                             f"batch_size={self.batch_size}, lr={self.lr}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"train.label_smoothing must be in [0, 1); got {self.label_smoothing}")


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


def _optimizer(model: nn.Module, spec: TrainSpec) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": spec.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if spec.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum)
    return torch.optim.AdamW(groups, lr=spec.lr, betas=(spec.momentum, 0.999))


def train(model: nn.Module, data: DataBundle, spec: TrainSpec, device: torch.device, seed: int,
          desc: str = "train") -> TrainStats:
    """Train ``model`` in place on ``data.train`` with a fresh optimizer and schedule.

    Args:
        model: the model, on ``device`` (pruning masks, if any, stay applied).
        data: the sweep's data.
        spec: the training settings.
        device: the device.
        seed: seeds the batch order and every random draw of this run.
        desc: progress-bar label.

    Returns:
        Wall time, images seen, throughput and the last batch's loss.
    """
    spec.validate()
    torch.manual_seed(seed)
    cuda = device.type == "cuda"
    if cuda and spec.channels_last:
        model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if spec.compile else model
    n = len(data.train)
    per_epoch = n // spec.batch_size
    if spec.max_batches_per_epoch is not None:
        per_epoch = min(per_epoch, spec.max_batches_per_epoch)
    total = per_epoch * spec.epochs
    warmup = int(round(spec.warmup_epochs * per_epoch))
    optimizer = _optimizer(model, spec)
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    loss_fn = nn.CrossEntropyLoss(label_smoothing=spec.label_smoothing)
    model.train()
    images_seen, it, loss_value = 0, 0, float("nan")
    bar = tqdm(total=total, desc=desc, disable=not spec.progress, leave=False)
    if cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for epoch in range(spec.epochs):
        batches = train_batches(data, spec.batch_size, epoch=epoch, seed=seed, device=device,
                                num_workers=spec.num_workers, pin_memory=spec.pin_memory and cuda)
        for b, (images, labels) in enumerate(batches):
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
            images_seen += labels.shape[0]
            it += 1
            bar.update(1)
        loss_value = float(loss.detach()) if it else float("nan")
    if cuda:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    bar.close()
    model.eval()
    return TrainStats(seconds, images_seen, images_seen / seconds if seconds > 0 else 0.0, loss_value)
