"""Where to look inside a model: the last convolutional block, ViT token geometry, hooks.

Shared by the attribution methods (Grad-CAM targets) and object discovery (patch features).
Models are found generically, so that a pruned copy (channels removed, masks attached) and
any timm or torchvision classifier work without per-family code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

# Global pooling modules: the last 4-D map produced before the first of these is the
# network's last convolutional stage.
_GLOBAL_POOLS: tuple[type[nn.Module], ...] = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def _is_global_pool(module: nn.Module) -> bool:
    if isinstance(module, _GLOBAL_POOLS):
        return True
    # timm's SelectAdaptivePool2d wraps an adaptive pool; matched by name so timm is optional.
    return type(module).__name__ in {"SelectAdaptivePool2d", "AdaptiveAvgMaxPool2d", "GlobalPool2d"}


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a parameter-free model)."""
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def find_last_conv_block(model: nn.Module, images: torch.Tensor) -> tuple[str, nn.Module]:
    """The module producing the last 4-D feature map before global pooling.

    A forward pass on ``images[:1]`` records, in order of completion, every module whose
    output is a 4-D tensor, and the moment the first global pooling module starts. The answer is
    the last 4-D output completed before that moment: for a ResNet the last stage (``layer4``),
    i.e. the "last convolutional block" that Grad-CAM (Selvaraju et al. 2017) targets. A
    container completes after its children, so the whole stage wins over its last ReLU.

    Args:
        model: a CNN classifier.
        images: ``(B, C, H, W)`` inputs on the model's device (only the first is used).

    Returns:
        ``(name, module)`` of the target layer.

    Raises:
        ValueError: when the model produces no 4-D map (e.g. a ViT: use the token methods).
    """
    completed: list[tuple[int, str]] = []
    pool_started: list[int] = []
    counter = iter(range(10**9))
    handles = []
    for name, module in model.named_modules():
        if not name:
            continue
        if _is_global_pool(module):
            handles.append(module.register_forward_pre_hook(
                lambda m, i: pool_started.append(next(counter))))

        def hook(m: nn.Module, i: object, out: object, name: str = name) -> None:
            if isinstance(out, torch.Tensor) and out.ndim == 4:
                completed.append((next(counter), name))
        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(images[:1])
    finally:
        for h in handles:
            h.remove()
    if not completed:
        raise ValueError(
            f"{type(model).__name__} produces no 4-D feature map: Grad-CAM and CNN patch features "
            "need a convolutional model (for a ViT use arch='vit')")
    limit = pool_started[0] if pool_started else float("inf")
    before = [name for t, name in completed if t < limit] or [completed[-1][1]]
    name = before[-1]
    return name, model.get_submodule(name)


@dataclass(frozen=True)
class VitGeometry:
    """Token layout of a ViT: ``num_prefix_tokens`` (CLS, registers) then a ``grid`` of patches."""

    num_prefix_tokens: int
    grid: tuple[int, int]

    def tokens_to_map(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` tokens -> ``(B, D, gh, gw)`` patch map (prefix tokens dropped)."""
        patches = tokens[:, self.num_prefix_tokens:, :]
        b, n, d = patches.shape
        gh, gw = self.grid
        if n != gh * gw:
            raise ValueError(f"expected {gh}x{gw}={gh * gw} patch tokens, got {n}")
        return patches.transpose(1, 2).reshape(b, d, gh, gw)


def vit_geometry(model: nn.Module) -> VitGeometry:
    """Prefix-token count and patch grid of a timm-style ViT.

    Raises:
        ValueError: when the model has no ``blocks`` / ``patch_embed.grid_size`` (not a ViT);
            the message says that the method is for ViTs only.
    """
    blocks = getattr(model, "blocks", None)
    patch_embed = getattr(model, "patch_embed", None)
    grid = getattr(patch_embed, "grid_size", None)
    if blocks is None or grid is None or not hasattr(blocks[-1], "attn"):
        raise ValueError(
            f"{type(model).__name__} is not a ViT (no blocks[-1].attn / patch_embed.grid_size): "
            "this method needs a vision transformer (arch='vit')")
    return VitGeometry(int(getattr(model, "num_prefix_tokens", 1)), (int(grid[0]), int(grid[1])))


def _split_qkv(attn: nn.Module, qkv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """q, k of timm's ``Attention`` from its ``qkv`` projection output, shaped (B, heads, T, hd)."""
    b, t, _ = qkv.shape
    heads = attn.num_heads
    qkv = qkv.reshape(b, t, 3, heads, -1).permute(2, 0, 3, 1, 4)
    q, k = qkv[0], qkv[1]
    q = attn.q_norm(q) if hasattr(attn, "q_norm") else q
    k = attn.k_norm(k) if hasattr(attn, "k_norm") else k
    return q, k


@contextlib.contextmanager
def capture_vit_qk(model: nn.Module, blocks: list[int] | None = None) -> Iterator[dict[int, tuple[torch.Tensor, torch.Tensor]]]:
    """Capture the queries and keys of ViT blocks during the forward passes inside the block.

    timm computes attention with a fused kernel that never materialises the weights, so the
    weights are recomputed here from the ``qkv`` projection (same q/k normalisation and
    scale as timm's ``Attention``) instead of toggling ``fused_attn``.

    Args:
        model: a timm-style ViT.
        blocks: block indices to capture (default: the last block only).

    Yields:
        A dict ``block index -> (q, k)``, each ``(B, heads, T, head_dim)``, filled by the forward.
    """
    n_blocks = len(model.blocks)
    wanted = [n_blocks - 1] if blocks is None else [b % n_blocks for b in blocks]
    store: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    handles = []
    for idx in wanted:
        attn = model.blocks[idx].attn

        def hook(m: nn.Module, i: object, out: torch.Tensor, idx: int = idx, attn: nn.Module = attn) -> None:
            store[idx] = _split_qkv(attn, out)
        handles.append(attn.qkv.register_forward_hook(hook))
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def attention_weights(attn: nn.Module, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Softmax attention ``softmax(q k^T * scale)`` of one block, ``(B, heads, T, T)``."""
    scale = getattr(attn, "scale", q.shape[-1] ** -0.5)
    return torch.softmax((q * scale) @ k.transpose(-2, -1), dim=-1)
