"""Patch features of any model, batched: ViT keys of the last block, or the last CNN stage."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from robustlab.pruning.interpret.layers import (
    attention_weights,
    capture_vit_qk,
    find_last_conv_block,
    vit_blocks,
    vit_geometry,
)


@dataclass
class PatchFeatures:
    """Per-image patch descriptors on a regular grid.

    Attributes:
        features: ``(B, N, D)`` with ``N = gh * gw`` patches in row-major order.
        grid: ``(gh, gw)``.
        image_size: ``(H, W)`` of the input images, in pixels.
        arch: ``"cnn"``, ``"vit"`` or ``"swin"``, the model they come from.
        cls_attention: ``(B, N)`` last-block attention of the CLS token to the patches (mean
            over heads), ViTs only.
        block_input: ``(B, T, D)`` every token entering the last block's attention (its
            pre-attention norm's output, prefix tokens included), ViTs only.
    """

    features: torch.Tensor
    grid: tuple[int, int]
    image_size: tuple[int, int]
    arch: str
    cls_attention: torch.Tensor | None = None
    block_input: torch.Tensor | None = None


def patch_features(model: nn.Module, images: torch.Tensor, arch: str,
                   feature_layer: str | None = None, dilation: int = 1) -> PatchFeatures:
    """Patch features for object discovery, as LOST (Simeoni et al. 2021) uses them.

    ViT: the keys of the last block's attention, heads concatenated, prefix tokens dropped
    (LOST's and TokenCut's choice), plus the CLS attention map. CNN: the feature map of the last
    convolutional stage (or of ``feature_layer``), one patch per spatial position.

    Args:
        model: the model, in eval mode; ``images`` on its device.
        images: ``(B, C, H, W)`` normalised inputs.
        arch: ``"cnn"``, ``"vit"`` or ``"swin"`` (the keys of the last block, every token of
            its input grid: :func:`~robustlab.pruning.interpret.swin.swin_keys`).
        feature_layer: CNN only, name of the module whose 4-D output to use.
        dilation: CNN only, LOST's ResNet dilation (1, 2 or 4:
            :func:`~robustlab.pruning.discovery.dilation.dilated_resnet`).

    Returns:
        :class:`PatchFeatures`.
    """
    size = (int(images.shape[-2]), int(images.shape[-1]))
    store: dict[str, torch.Tensor] = {}  # what a forward hook records
    if arch == "vit":
        geometry = vit_geometry(model)
        blocks = vit_blocks(model)
        handle = blocks[-1].norm.register_forward_hook(lambda m, i, out: store.__setitem__("x", out))
        try:
            with torch.no_grad(), capture_vit_qk(model) as qk:
                model(images)
        finally:
            handle.remove()
        q, k = qk[len(blocks) - 1]
        p = geometry.num_prefix_tokens
        keys = k.permute(0, 2, 1, 3).flatten(2)[:, p:]
        cls = attention_weights(blocks[-1].attn, q, k).mean(dim=1)[:, 0, p:]
        return PatchFeatures(keys.float(), geometry.grid, size, "vit", cls.float(), store["x"].float())
    if arch == "swin":
        from robustlab.pruning.interpret.swin import swin_block_input, swin_keys

        with torch.no_grad():
            x, _ = swin_block_input(model, images)
            keys = swin_keys(model, x)
        return PatchFeatures(keys.float(), (int(x.shape[1]), int(x.shape[2])), size, "swin")
    if arch != "cnn":
        raise ValueError(f"arch must be 'cnn', 'vit' or 'swin', got {arch!r}")
    from robustlab.pruning.discovery.dilation import dilated_resnet

    with dilated_resnet(model, dilation):
        layer = (model.get_submodule(feature_layer) if feature_layer
                 else find_last_conv_block(model, images[:1])[1])
        handle = layer.register_forward_hook(lambda m, i, out: store.__setitem__("fmap", out))
        try:
            with torch.no_grad():
                model(images)
        finally:
            handle.remove()
    fmap = store["fmap"]
    b, d, gh, gw = fmap.shape
    return PatchFeatures(fmap.flatten(2).transpose(1, 2).float(), (gh, gw), size, "cnn")
