"""Structured channel pruning with Torch-Pruning's dependency graph: the network shrinks.

Fang et al., "DepGraph: towards any structural pruning", CVPR 2023. Each step removes ``rate``
of the remaining channels of every prunable layer group, ranked by the group's L1 magnitude
(``torch_pruning.importance.MagnitudeImportance(p=1)``); coupled layers (residual additions,
batch norms) are pruned together, so MACs, parameters and latency really drop. Layers outside
the pruning scope (the classifier head's outputs always) are left whole.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from robustlab.pruning.methods.registry import METHODS, PruneContext


@METHODS.register("structured_channels", start="previous", rewind="lr", structured=True)
def structured_channels(ctx: PruneContext, target_sparsity: float) -> None:
    """Iterative L1 channel pruning (Torch-Pruning dependency graph), learning-rate rewinding."""
    import torch_pruning as tp

    model = ctx.model
    num_heads = {}
    for module in model.modules():
        # timm attention: prune head dimensions consistently across heads.
        if hasattr(module, "qkv") and hasattr(module, "num_heads"):
            num_heads[module.qkv] = module.num_heads
    pruner = tp.pruner.MetaPruner(
        model,
        ctx.example_inputs,
        importance=tp.importance.MagnitudeImportance(p=1),
        pruning_ratio=ctx.rate,
        ignored_layers=list(ctx.ignored),
        num_heads=num_heads,
        round_to=int(ctx.options.get("round_to", 1)) or None,
    )
    pruner.step()
    sync_attention_sizes(model)


def sync_attention_sizes(model: nn.Module) -> None:
    """Keep timm attention's size attributes (``head_dim``, ``attn_dim``) in step with its
    pruned ``qkv`` projection (its forward reshapes by them)."""
    for module in model.modules():
        attention: Any = module  # its sizes are plain ints, which nn.Module's typing does not allow
        qkv = getattr(attention, "qkv", None)
        if isinstance(qkv, nn.Linear) and hasattr(attention, "num_heads"):
            attention.head_dim = qkv.out_features // 3 // attention.num_heads
            if hasattr(attention, "attn_dim"):
                attention.attn_dim = qkv.out_features // 3
