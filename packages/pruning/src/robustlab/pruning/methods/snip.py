"""SNIP: single-shot network pruning at initialisation by connection sensitivity.

Lee, Ajanthan & Torr, "SNIP: single-shot network pruning based on connection sensitivity",
ICLR 2019. The saliency of weight ``w`` is ``|g * w|`` with ``g = dL/dw`` on a few training
batches at initialisation; the globally least salient weights are removed and the network is
trained from scratch. Each sparsity of a sweep is cut once from the same initial weights.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn.utils import prune

from robustlab.pruning.methods.magnitude import prune_count
from robustlab.pruning.methods.registry import METHODS, PruneContext


@METHODS.register("snip", start="init", rewind="lr")
def snip(ctx: PruneContext, target_sparsity: float) -> None:
    """SNIP at initialisation: remove the weights with the smallest |dL/dw * w| (one shot)."""
    n_batches = int(ctx.options.get("snip_batches", 1))
    params = [(t.module, t.param) for t in ctx.targets]
    weights = [getattr(m, n) for m, n in params]
    grads = [torch.zeros_like(w) for w in weights]
    model = ctx.model
    was_training = model.training
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    for images, labels in itertools.islice(ctx.batches(), n_batches):
        model.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), labels)
        for acc, g in zip(grads, torch.autograd.grad(loss, _leaves(params), allow_unused=True), strict=True):
            if g is not None:
                acc += g.detach()
    model.train(was_training)
    scores = {(m, n): (g * w.detach()).abs() for (m, n), g, w in zip(params, grads, weights, strict=True)}
    total = sum(w.numel() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    amount = prune_count(total, zeros, target_sparsity)
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount,
                              importance_scores=scores)


def _leaves(params: list[tuple[nn.Module, str]]) -> list[torch.Tensor]:
    # The trainable tensor behind each weight: ``<name>_orig`` once masked, else the weight.
    return [getattr(m, f"{n}_orig") if hasattr(m, f"{n}_orig") else getattr(m, n) for m, n in params]
