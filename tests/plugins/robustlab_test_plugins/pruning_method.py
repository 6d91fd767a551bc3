"""A pruning method: global L1 pruning of each weight relative to its layer's RMS."""

from torch.nn.utils import prune

from robustlab.pruning.methods import METHODS, PruneContext


@METHODS.register("layer_normalised_l1", start="previous", rewind="lr")
def layer_normalised_l1(ctx: PruneContext, target_sparsity: float) -> None:
    """Global L1 pruning of ``|w| / RMS(layer)``: a layer of small weights is not emptied first."""
    params = [(t.module, t.param) for t in ctx.targets]
    weights = [getattr(module, name).detach() for module, name in params]
    total = sum(w.numel() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    scores = {p: w.abs() / w.pow(2).mean().sqrt().clamp_min(1e-12) for p, w in zip(params, weights, strict=True)}
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured,
                              amount=max(0, round(target_sparsity * total) - zeros),
                              importance_scores=scores)
