"""Where to look inside a model: the last convolutional block, ViT token geometry, hooks.

Shared by the attribution methods (Grad-CAM targets) and object discovery (patch features).
Models are found generically, so that a pruned copy (channels removed, masks attached) and
any timm or torchvision classifier work without per-family code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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
    _forward_once(model, images, handles)
    if not completed:
        raise ValueError(
            f"{type(model).__name__} produces no 4-D feature map: Grad-CAM and CNN patch features "
            "need a convolutional model (for a ViT use arch='vit')")
    limit = pool_started[0] if pool_started else float("inf")
    before = [name for t, name in completed if t < limit] or [completed[-1][1]]
    name = before[-1]
    return name, model.get_submodule(name)


@dataclass(frozen=True)
class FeatureGrid:
    """Where the cells of a CNN feature map lie on the input image.

    Cell ``(i, j)`` is centred at ``(origin[0] + i * stride[0], origin[1] + j * stride[1])`` input
    pixels, pixel ``k`` spanning ``[k, k + 1)``. A plain resize of the map assumes
    ``origin = stride / 2`` (cells tiling the image); that holds for patchifying layers (kernel =
    stride, no padding: ViT, VGG's pools), not for the "same"-padded strided convolutions and
    pools of ResNets, whose cells are centred ``(stride - 1) / 2`` pixels further up and left.
    """

    origin: tuple[float, float]
    stride: tuple[float, float]


_SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def feature_grid(model: nn.Module, layer: str, images: torch.Tensor) -> FeatureGrid:
    """The :class:`FeatureGrid` of the output of ``model``'s module ``layer`` on ``images``.

    Receptive-field arithmetic (Araujo et al., "Computing receptive fields of convolutional
    neural networks", Distill 2019): a layer of kernel ``k``, stride ``s``, padding ``p`` and
    dilation ``d`` centres output ``u`` on input index ``s * u + d * (k - 1) / 2 - p``, so that
    after layers ``1..L`` the cell ``u`` is centred on input index
    ``S * u + sum_l (d_l (k_l - 1) / 2 - p_l) * S_(l-1)``, ``S_l`` the product of the first ``l``
    strides (``S_(l-1)`` input pixels per cell of layer ``l``'s input). A forward pass on
    ``images[:1]`` records the convolutions and pools that run until ``layer`` completes; only
    those that change the map size shift the centres (a size-preserving layer has
    ``p = d (k - 1) / 2``), and parallel branches that change it alike (a residual block's
    strided convolution and strided shortcut) count once. Where such branches disagree (e.g. an
    average-pooled shortcut beside a padded strided convolution, timm's ``avg_down``), no single
    centre exists and the plain-resize grid (``origin = stride / 2``) is returned.

    Args:
        model: a CNN.
        layer: name of the module (as in ``model.named_modules()``) whose 4-D output is mapped.
        images: ``(B, C, H, W)`` inputs on the model's device (only the first is used).

    Returns:
        The grid of ``layer``'s output map on ``images``' pixels.
    """
    target = model.get_submodule(layer)
    shifts: dict[tuple[int, int, int], set[float]] = {}
    out_hw: list[tuple[int, int]] = []
    done = [False]
    handles = []

    def record(m: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        if done[0] or not isinstance(out, torch.Tensor) or out.ndim != 4:
            return
        size_in = inputs[0].shape[-2:]
        for axis in (0, 1):
            n_in, n_out = int(size_in[axis]), int(out.shape[-2 + axis])
            if n_in == n_out:
                continue
            k, s, p, d = (_pair(getattr(m, name, 1))[axis] for name in ("kernel_size", "stride", "padding", "dilation"))
            pixels_per_input_cell = images.shape[-2 + axis] / n_in
            shifts.setdefault((axis, n_in, n_out), set()).add((d * (k - 1) / 2 - p) * pixels_per_input_cell)

    def finish(m: nn.Module, inputs: object, out: torch.Tensor) -> None:
        if not done[0]:
            out_hw.append((int(out.shape[-2]), int(out.shape[-1])))
            done[0] = True

    for module in model.modules():
        if isinstance(module, _SPATIAL):
            handles.append(module.register_forward_hook(record))
    handles.append(target.register_forward_hook(finish))
    _forward_once(model, images, handles)
    if not out_hw:
        raise ValueError(f"module {layer!r} did not run in the forward pass of {type(model).__name__}")
    stride = (images.shape[-2] / out_hw[0][0], images.shape[-1] / out_hw[0][1])
    if any(len(v) > 1 for v in shifts.values()):
        return FeatureGrid(origin=(stride[0] / 2, stride[1] / 2), stride=stride)
    # Cell 0 is centred on input index sum(shifts), whose pixel centre is 0.5 further.
    origin = tuple(0.5 + sum(next(iter(v)) for (a, _, _), v in shifts.items() if a == axis) for axis in (0, 1))
    return FeatureGrid(origin=(origin[0], origin[1]), stride=stride)


def _forward_once(model: nn.Module, images: torch.Tensor,
                  handles: list[torch.utils.hooks.RemovableHandle]) -> None:
    """Run ``model`` on ``images[:1]`` without gradients, then remove the hooks ``handles``."""
    try:
        with torch.no_grad():
            model(images[:1])
    finally:
        for h in handles:
            h.remove()


def _pair(value: int | str | tuple[int, ...]) -> tuple[int, int]:
    if isinstance(value, str):  # padding "valid" (a "same"-padded layer keeps the size: not asked)
        return (0, 0)
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[-1]))


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
    import torchvision

    if not isinstance(model, torchvision.models.VisionTransformer):
        raise _not_a_vit(model)
    side = model.image_size // model.patch_size  # torchvision: square images, one CLS
    return VitGeometry(1, (side, side))


def _split_qkv(qkv: torch.Tensor, heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """q, k from a fused ``(B, T, 3 * D)`` projection, each shaped (B, heads, T, head_dim)."""
    b, t, _ = qkv.shape
    qkv = qkv.reshape(b, t, 3, heads, -1).permute(2, 0, 3, 1, 4)
    return qkv[0], qkv[1]


@contextlib.contextmanager
def capture_vit_qk(model: nn.Module, blocks: list[int] | None = None
                   ) -> Iterator[dict[int, tuple[torch.Tensor, torch.Tensor]]]:
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
            def mha_hook(m: nn.Module, i: object, out: torch.Tensor, idx: int = idx,
                         attn: nn.MultiheadAttention = attn) -> None:
                qkv = torch.nn.functional.linear(out, attn.in_proj_weight, attn.in_proj_bias)
                store[idx] = _split_qkv(qkv, attn.num_heads)
            handles.append(parts[idx].norm.register_forward_hook(mha_hook))
        else:
            def timm_hook(m: nn.Module, i: object, out: torch.Tensor, idx: int = idx, attn: Any = attn) -> None:
                # timm's attention classes differ by family; each has num_heads, some q_norm, k_norm
                q, k = _split_qkv(out, attn.num_heads)
                q = attn.q_norm(q) if hasattr(attn, "q_norm") else q
                k = attn.k_norm(k) if hasattr(attn, "k_norm") else k
                store[idx] = (q, k)
            handles.append(attn.get_submodule("qkv").register_forward_hook(timm_hook))
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def attention_weights(attn: nn.Module, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Softmax attention ``softmax(q k^T * scale)`` of one block, ``(B, heads, T, T)``."""
    scale = getattr(attn, "scale", q.shape[-1] ** -0.5)
    return torch.softmax((q * scale) @ k.transpose(-2, -1), dim=-1)
