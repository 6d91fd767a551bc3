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


@dataclass(frozen=True)
class VitBlock:
    """The parts of one transformer block that attributions and discovery read.

    Attributes:
        norm: the pre-attention norm, whose output is the attention's input (and Grad-CAM's
            token target).
        attn: the attention module (timm ``Attention`` or ``nn.MultiheadAttention``).
    """

    norm: nn.Module
    attn: nn.Module


def _not_a_vit(model: nn.Module) -> ValueError:
    return ValueError(
        f"{type(model).__name__} is not a ViT (neither timm's blocks/patch_embed nor torchvision's "
        "encoder.layers/class_token): this method needs a vision transformer (arch='vit')")


def vit_blocks(model: nn.Module) -> list[VitBlock]:
    """The blocks of a timm ViT (``blocks[i].norm1/.attn``) or a torchvision ``VisionTransformer``
    (``encoder.layers[i].ln_1/.self_attention``).

    Raises:
        ValueError: for any other model, saying that the method needs a ViT.
    """
    blocks = getattr(model, "blocks", None)
    if blocks is not None and hasattr(model, "patch_embed") and hasattr(blocks[-1], "attn"):
        return [VitBlock(b.norm1, b.attn) for b in blocks]
    layers = getattr(getattr(model, "encoder", None), "layers", None)
    if layers is not None and hasattr(model, "class_token"):
        return [VitBlock(b.ln_1, b.self_attention) for b in layers]
    raise _not_a_vit(model)


def vit_geometry(model: nn.Module) -> VitGeometry:
    """Prefix-token count and patch grid of a timm or torchvision ViT.

    Raises:
        ValueError: when the model is not a ViT; the message says the method needs one.
    """
    vit_blocks(model)
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    if grid is not None:
        return VitGeometry(int(getattr(model, "num_prefix_tokens", 1)), (int(grid[0]), int(grid[1])))
    side = int(model.image_size) // int(model.patch_size)  # torchvision: square images, one CLS
    return VitGeometry(1, (side, side))


def _split_qkv(qkv: torch.Tensor, heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """q, k from a fused ``(B, T, 3 * D)`` projection, each shaped (B, heads, T, head_dim)."""
    b, t, _ = qkv.shape
    qkv = qkv.reshape(b, t, 3, heads, -1).permute(2, 0, 3, 1, 4)
    return qkv[0], qkv[1]


@contextlib.contextmanager
def capture_vit_qk(model: nn.Module, blocks: list[int] | None = None) -> Iterator[dict[int, tuple[torch.Tensor, torch.Tensor]]]:
    """Capture the queries and keys of ViT blocks during the forward passes inside the block.

    timm and torchvision compute attention with fused kernels that never materialise the
    weights, so the weights are recomputed here from the block's own projection: timm's
    ``qkv`` output (with its ``q_norm``/``k_norm``), or ``nn.MultiheadAttention``'s
    ``in_proj_weight``/``in_proj_bias`` applied to the pre-attention norm's output.

    Args:
        model: a timm or torchvision ViT.
        blocks: block indices to capture (default: the last block only).

    Yields:
        A dict ``block index -> (q, k)``, each ``(B, heads, T, head_dim)``, filled by the forward.
    """
    parts = vit_blocks(model)
    n_blocks = len(parts)
    wanted = [n_blocks - 1] if blocks is None else [b % n_blocks for b in blocks]
    store: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    handles = []
    for idx in wanted:
        attn = parts[idx].attn
        if isinstance(attn, nn.MultiheadAttention):
            def mha_hook(m: nn.Module, i: object, out: torch.Tensor, idx: int = idx, attn: nn.Module = attn) -> None:
                qkv = torch.nn.functional.linear(out, attn.in_proj_weight, attn.in_proj_bias)
                store[idx] = _split_qkv(qkv, attn.num_heads)
            handles.append(parts[idx].norm.register_forward_hook(mha_hook))
        else:
            def timm_hook(m: nn.Module, i: object, out: torch.Tensor, idx: int = idx, attn: nn.Module = attn) -> None:
                q, k = _split_qkv(out, attn.num_heads)
                q = attn.q_norm(q) if hasattr(attn, "q_norm") else q
                k = attn.k_norm(k) if hasattr(attn, "k_norm") else k
                store[idx] = (q, k)
            handles.append(attn.qkv.register_forward_hook(timm_hook))
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def attention_weights(attn: nn.Module, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Softmax attention ``softmax(q k^T * scale)`` of one block, ``(B, heads, T, T)``."""
    scale = getattr(attn, "scale", q.shape[-1] ** -0.5)
    return torch.softmax((q * scale) @ k.transpose(-2, -1), dim=-1)
