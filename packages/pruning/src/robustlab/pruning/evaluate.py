"""Accuracy at one sweep step, and the context every evaluation suite receives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from robustlab.pruning.data.evaldata import (
    EvalSource,
    build_eval_source,
    eval_data_spec,
    output_stride,
    training_source,
)
from robustlab.pruning.data.sources import DataBundle, eval_batches
from robustlab.pruning.distributed import Dist, all_gather_objects
from robustlab.pruning.models import model_arch
from robustlab.pruning.suites import EvalContext


@dataclass
class Accuracy:
    """Top-1 and top-5 accuracy (fractions) and per-image top-1 correctness.

    ``per_image`` has columns ``index, metric, value`` (metric ``"top1"``, value 0 or 1).
    """

    top1: float
    top5: float
    n: int
    per_image: pd.DataFrame


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, data: DataBundle, device: torch.device, batch_size: int,
                      max_images: int | None = None, amp: bool = True, dist: Dist | None = None) -> Accuracy:
    """Top-k accuracy on the held-out split: the fraction of images whose label is among the
    ``k`` highest logits (top-5 becomes top-``num_classes`` when there are fewer classes).

    In a data-parallel run (``dist``) each rank scores its block of the images and every rank
    receives all per-image values, in index order: the same numbers as one process.
    """
    dist = dist or Dist()
    model.eval()
    k = min(5, data.num_classes)
    correct1, correct5, index = [], [], []
    for batch in eval_batches(data, batch_size, device, max_images, rank=dist.rank, world_size=dist.world_size):
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                            enabled=amp and device.type == "cuda"):
            logits = model(batch.images)
        top = logits.float().topk(k, dim=1).indices
        hit = top == batch.labels[:, None]
        correct1.append(hit[:, 0].cpu())
        correct5.append(hit.any(dim=1).cpu())
        index.append(torch.as_tensor(batch.index).cpu())
    shards = all_gather_objects(dist, tuple(torch.cat(t) if t else torch.zeros(0) for t in (correct1, correct5, index)))
    c1, c5, idx = (torch.cat([shard[i] for shard in shards]) for i in range(3))
    per_image = pd.DataFrame({"index": idx.numpy().astype("int64"), "metric": "top1",
                              "value": c1.numpy().astype("float64")})
    return Accuracy(float(c1.float().mean()), float(c5.float().mean()), int(c1.numel()), per_image)


def suite_source(data_options: dict[str, Any] | None, model: nn.Module, data: DataBundle,
                 device: torch.device, batch_size: int) -> EvalSource:
    """The data a suite measures on: its own ``data`` options, or the sweep's held-out split."""
    if not data_options:
        return training_source(data, batch_size, device)
    arch = model_arch(model)
    return build_eval_source(eval_data_spec(dict(data_options)), mean=data.mean, std=data.std,
                             batch_size=batch_size, device=device, arch=arch,
                             multiple=output_stride(model, arch, data.spec.img_size))


def make_context(model: nn.Module, data: DataBundle, device: torch.device, *, step: int,
                 sparsity: float, run_dir: Path, seed: int, batch_size: int,
                 source: EvalSource | None = None) -> EvalContext:
    """The :class:`EvalContext` of one step (the model is put in eval mode).

    ``batches`` come from ``source`` (default: the sweep's held-out split). ``extras`` holds the
    source's extras (``"shapes"``: the procedural held-out generator), ``"has_masks"``,
    ``"normalize"`` (mean, std), ``"classes"`` (the model's classes, also as ``"class_names"``),
    ``"eval_classes"`` (the classes the batches' labels index) and ``"eval_data"`` (its name).
    """
    model.eval()
    source = source or training_source(data, batch_size, device)
    extras = {**source.extras, "has_masks": source.has_masks, "normalize": (data.mean, data.std),
              "classes": list(data.classes), "class_names": list(data.classes),
              "eval_classes": list(source.classes), "eval_data": source.name}
    return EvalContext(model=model, arch=model_arch(model), batches=source.batches, device=device,
                       step=step, sparsity=sparsity, run_dir=run_dir, seed=seed,
                       num_classes=data.num_classes, img_size=data.spec.img_size, extras=extras)
