"""Which weights are prunable, how sparse they are, and masks in and out of checkpoints.

Unstructured masks are ``torch.nn.utils.prune`` masks (``weight_orig`` and ``weight_mask``,
``weight = weight_orig * weight_mask``). A checkpoint holds the plain state dict, with the masks
folded into the weights (so it loads into an unpruned model), and the masks beside it (so a
resumed sweep keeps pruning from them).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn
from torch.nn.utils import prune

from robustlab.common.errors import ConfigError
from robustlab.pruning.models import classifier_head


@dataclass(frozen=True)
class PruneScope:
    """Which layers' weights are prunable.

    Attributes:
        conv: convolution weights.
        linear: fully connected weights (MLP blocks), other than attention and the head.
        attention_qkv: the attention input projections (timm ``attn.qkv``, torch
            ``MultiheadAttention.in_proj_weight``, separate ``q``/``k``/``v`` projections).
        attention_out: the attention output projections (timm ``attn.proj``, torch
            ``MultiheadAttention.out_proj``).
        head: the classifier head (the paper prunes it with every other Linear layer).

    The study's ViT-B/32 (arXiv 2507.01722) prunes every ``nn.Conv2d`` and ``nn.Linear`` of
    torchvision's model: the patch embedding, the attention output projection (a ``Linear``
    subclass), the MLP and the head, but not the fused QKV projection, which torchvision keeps
    as the bare parameter ``in_proj_weight`` of ``MultiheadAttention``: ``attention_qkv=False``.
    """

    conv: bool = True
    linear: bool = True
    attention_qkv: bool = True
    attention_out: bool = True
    head: bool = True


@dataclass(frozen=True)
class Target:
    """One prunable weight: the qualified module name, the module and its parameter name."""

    layer: str
    module: nn.Module
    param: str


def prunable_targets(model: nn.Module, scope: PruneScope) -> list[Target]:
    """The prunable weights of ``model`` under ``scope``, in module order.

    Raises:
        ConfigError: the scope selects no weight at all.
    """
    head = classifier_head(model)
    mha_children = {id(m.out_proj) for m in model.modules() if isinstance(m, nn.MultiheadAttention)}
    targets = []
    for name, module in model.named_modules():
        if isinstance(module, nn.MultiheadAttention):
            if scope.attention_qkv and module.in_proj_weight is not None:
                targets.append(Target(name, module, "in_proj_weight"))
        elif isinstance(module, nn.modules.conv._ConvNd):
            if scope.conv:
                targets.append(Target(name, module, "weight"))
        elif isinstance(module, nn.Linear):
            if module is head:
                keep = scope.head
            elif id(module) in mha_children:
                keep = scope.attention_out
            elif ".attn." in f".{name}." or "attention" in name:
                keep = scope.attention_qkv if _is_qkv(name) else scope.attention_out
            else:
                keep = scope.linear
            if keep:
                targets.append(Target(name, module, "weight"))
    if not targets:
        raise ConfigError(f"method.scope: selects no weight of {type(model).__name__} ({scope}); "
                          "allow at least one kind of layer")
    return targets


_QKV_NAMES = ("qkv", "q", "k", "v", "q_proj", "k_proj", "v_proj", "query", "key", "value")


def _is_qkv(name: str) -> bool:
    """Whether an attention ``Linear`` is an input projection (by its last name component)."""
    return name.rsplit(".", 1)[-1] in _QKV_NAMES


def layer_sparsity(targets: list[Target], dense_numel: dict[str, int] | None = None) -> pd.DataFrame:
    """Per-layer counts: ``layer, param, numel, nonzero, zeros, sparsity``.

    ``numel`` is the layer's size in the dense model (``dense_numel[layer]``; the current size
    when not given), ``zeros = numel - nonzero`` and ``sparsity = zeros / numel``, so that
    channels removed by structured pruning count as pruned weights. The global sparsity is
    ``sum(zeros) / sum(numel)`` (:func:`global_sparsity`).
    """
    rows = []
    for t in targets:
        weight = getattr(t.module, t.param)
        numel = weight.numel() if dense_numel is None else int(dense_numel[t.layer])
        nonzero = int((weight != 0).sum())
        rows.append({"layer": t.layer, "param": t.param, "numel": numel, "nonzero": nonzero,
                     "zeros": numel - nonzero, "sparsity": (numel - nonzero) / numel})
    return pd.DataFrame(rows)


def global_sparsity(targets: list[Target], dense_numel: dict[str, int] | None = None) -> float:
    """Zero (or removed) weights over all prunable weights: ``sum(zeros) / sum(numel)``."""
    table = layer_sparsity(targets, dense_numel)
    return float(table["zeros"].sum() / table["numel"].sum())


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(total, nonzero)`` parameter counts of the effective (masked) model."""
    total = nonzero = 0
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            value = getattr(module, name[: -len("_orig")]) if name.endswith("_orig") else param
            total += value.numel()
            nonzero += int((value != 0).sum())
    return total, nonzero


def get_masks(targets: list[Target]) -> dict[str, torch.Tensor]:
    """The current masks, keyed ``"<layer>.<param>"`` (bool; all-True for unpruned weights)."""
    masks = {}
    for t in targets:
        mask = getattr(t.module, f"{t.param}_mask", None)
        weight = getattr(t.module, t.param)
        masks[f"{t.layer}.{t.param}"] = (mask if mask is not None else torch.ones_like(weight)).bool().cpu()
    return masks


def apply_masks(targets: list[Target], masks: dict[str, torch.Tensor]) -> None:
    """Re-install saved masks as ``torch.nn.utils.prune`` masks (on unmasked modules).

    Raises:
        KeyError: a target has no saved mask.
    """
    for t in targets:
        key = f"{t.layer}.{t.param}"
        if key not in masks:
            raise KeyError(f"the checkpoint has no mask for {key}")
        if prune.is_pruned(t.module) and hasattr(t.module, f"{t.param}_mask"):
            prune.remove(t.module, t.param)
        weight = getattr(t.module, t.param)
        prune.custom_from_mask(t.module, t.param, masks[key].to(weight.device))


def plain_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with masks folded in (``weight = weight_orig * weight_mask``), on CPU.

    It loads into an unpruned model of the same architecture; unpruned weights keep their values.
    """
    state = model.state_dict()
    plain = {}
    for key, value in state.items():
        if key.endswith("_mask"):
            continue
        if key.endswith("_orig"):
            base = key[: -len("_orig")]
            plain[base] = (value * state[f"{base}_mask"]).detach().cpu().clone()
        else:
            plain[key] = value.detach().cpu().clone()
    return plain


def make_permanent(model: nn.Module) -> nn.Module:
    """Remove every ``torch.nn.utils.prune`` reparametrisation in place (masks become zeros)."""
    for module in model.modules():
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, prune.BasePruningMethod):
                prune.remove(module, hook._tensor_name)
    return model
