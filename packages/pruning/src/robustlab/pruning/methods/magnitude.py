"""L1-magnitude pruning: global (the paper's) or layer by layer; iterative or one-shot.

Global unstructured L1 pruning removes the smallest-magnitude weights over all prunable layers
together (``torch.nn.utils.prune.global_unstructured``), as the study does (arXiv 2507.01722,
after Han et al., "Learning both weights and connections", NeurIPS 2015). Iterative magnitude
pruning with learning-rate rewinding retrains each step with the full schedule and a fresh
optimizer (Renda et al., "Comparing rewinding and fine-tuning in neural network pruning",
ICLR 2020); with weight rewinding it resets the survivors to their initial values (Frankle &
Carbin, "The lottery ticket hypothesis", ICLR 2019).
"""

from __future__ import annotations

from torch.nn.utils import prune

from robustlab.pruning.methods.registry import METHODS, PruneContext


def prune_count(n_total: int, n_zero: int, target_sparsity: float) -> int:
    """How many more weights to remove to reach ``target_sparsity`` of ``n_total``.

    ``round(target * n_total) - n_zero``, never negative: the global sparsity then equals the
    target to within one weight.
    """
    return max(0, round(target_sparsity * n_total) - n_zero)


def global_l1(ctx: PruneContext, target_sparsity: float) -> None:
    """Remove the globally smallest |w| among the still unpruned prunable weights."""
    params = [(t.module, t.param) for t in ctx.targets]
    total = sum(getattr(m, n).numel() for m, n in params)
    zeros = sum(int((getattr(m, n) == 0).sum()) for m, n in params)
    amount = prune_count(total, zeros, target_sparsity)
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)


def layerwise_l1(ctx: PruneContext, target_sparsity: float) -> None:
    """Bring every prunable layer to ``target_sparsity`` by its own smallest |w|."""
    for t in ctx.targets:
        weight = getattr(t.module, t.param)
        amount = prune_count(weight.numel(), int((weight == 0).sum()), target_sparsity)
        prune.l1_unstructured(t.module, t.param, amount=amount)


METHODS.register("imp_lr_rewind", start="previous", rewind="lr",
                 description="iterative global L1 magnitude pruning, learning-rate rewinding (the paper's)")(global_l1)
METHODS.register("imp_weight_rewind", start="previous", rewind="weights",
                 description="iterative global L1 magnitude pruning, weight rewinding (lottery ticket)")(global_l1)
METHODS.register("oneshot_l1", start="dense", rewind="lr",
                 description="one-shot global L1 magnitude pruning of the dense model, then retraining")(global_l1)
METHODS.register("layerwise_l1", start="previous", rewind="lr",
                 description="iterative layer-wise L1 magnitude pruning, learning-rate rewinding")(layerwise_l1)
