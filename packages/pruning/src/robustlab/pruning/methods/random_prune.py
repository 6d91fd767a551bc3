"""Random unstructured pruning: the control that any criterion must beat."""

from __future__ import annotations

import torch
from torch.nn.utils import prune

from robustlab.pruning.methods.magnitude import prune_count
from robustlab.pruning.methods.registry import METHODS, PruneContext


@METHODS.register("random", start="previous", rewind="lr")
def random_global(ctx: PruneContext, target_sparsity: float) -> None:
    """Iterative global random pruning (uniform over the unpruned weights), learning-rate rewinding."""
    params = [(t.module, t.param) for t in ctx.targets]
    total = sum(getattr(m, n).numel() for m, n in params)
    zeros = sum(int((getattr(m, n) == 0).sum()) for m, n in params)
    amount = prune_count(total, zeros, target_sparsity)
    g = torch.Generator().manual_seed(ctx.seed * 1009 + ctx.step)
    # Random scores through the global L1 criterion: uniform over the unpruned weights, drawn
    # from the sweep's seed (prune.RandomUnstructured would use the global generator).
    scores = {(m, n): torch.rand(getattr(m, n).shape, generator=g).to(getattr(m, n).device)
              for m, n in params}
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount,
                              importance_scores=scores)
