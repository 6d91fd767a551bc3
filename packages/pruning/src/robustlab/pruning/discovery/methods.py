"""Object-discovery methods: a name -> function registry over patch features.

A method is ``fn(patches: PatchFeatures, **options) -> (boxes, seeds)`` with ``(B, 4)``
pixel boxes; :func:`discover` computes the patch features of a model and runs one::

    boxes = discover("lost", model, images, arch="cnn")

Register a method in one file::

    @DISCOVERY.register("my_method", archs=("vit",))
    def my_method(patches, **options): ...
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch
from torch import nn

from robustlab.common.config import checked_arguments
from robustlab.common.constraints import Interval, OneOf, PositiveFloat, PositiveInt
from robustlab.common.registry import Registry, deprecated_alias
from robustlab.pruning.arch_methods import ArchMethod, method_for
from robustlab.pruning.discovery.attention import attention_box
from robustlab.pruning.discovery.features import PatchFeatures, patch_features
from robustlab.pruning.discovery.lost import SEED_ORDERS, lost
from robustlab.pruning.discovery.tokencut import tokencut

#: Every discovery method (:class:`~robustlab.pruning.arch_methods.ArchMethod`: ``archs``);
#: plugins add theirs through the entry-point group ``robustlab.discovery`` or a module named in
#: the config's ``plugins``.
DISCOVERY: Registry[ArchMethod] = Registry("discovery method", ArchMethod, group="robustlab.discovery")

register_discovery = deprecated_alias("register_discovery", DISCOVERY.register, "DISCOVERY.register")
get_discovery = deprecated_alias("get_discovery", DISCOVERY.get, "DISCOVERY.get")
list_discovery = deprecated_alias("list_discovery", lambda arch=None: DISCOVERY.list(archs=arch),
                                  "DISCOVERY.list(archs=arch)")
check_method = deprecated_alias("check_method", lambda name, arch: method_for(DISCOVERY, name, arch),
                                "robustlab.pruning.arch_methods.method_for(DISCOVERY, name, arch)")


@DISCOVERY.register("lost")
@checked_arguments("lost")
def _lost(patches: PatchFeatures, k_patches: PositiveInt = 100, center: bool | None = None,
          layernorm: bool | Annotated[str, OneOf("cnn")] = False,
          seed_order: Annotated[str, OneOf(*SEED_ORDERS)] = "stable") -> tuple[np.ndarray, torch.Tensor]:
    # layernorm="cnn": CNN feature maps only (the study's main_lost.py and LOST's own code
    # normalise a ResNet's or VGG's map, never a transformer's keys); True: every architecture.
    norm = bool(layernorm) if layernorm != "cnn" else patches.arch == "cnn"
    # center=None: centre CNN features (non-negative after ReLU), not ViT keys, unless the
    # whole map is layer-normalised (the study's CNN variant); see lost().
    center = (patches.arch == "cnn" and not norm) if center is None else center
    return lost(patches.features, patches.grid, patches.image_size, k_patches=k_patches, center=center,
                layernorm=norm, seed_order=seed_order)


def concat_qkv_keys(block_input: torch.Tensor, num_prefix_tokens: int = 1) -> torch.Tensor:
    """The study's ViT "keys", a reproduction: ``concat(x, x, x)`` read as if it were qkv.

    The study's ``vision_transformer.py`` saves ``torch.concat((x, x, x))`` of the last block's
    ``ln_1`` output ``x`` (``(1, T, D)``, concatenated on the batch axis) and ``main_lost.py``
    reshapes it as LOST reshapes a fused qkv output, ``reshape(1, T, 3, heads, -1)``, and takes
    index 1 as the keys: row ``3 t + 1`` of the stacked copies, i.e. token ``(3 t + 1) mod T``
    of ``x`` stands for token ``t``; the prefix tokens are then dropped. Batched here: the same
    permutation of each image's tokens.

    Args:
        block_input: ``(B, T, D)`` tokens entering the last block's attention.
        num_prefix_tokens: tokens before the patches (CLS).

    Returns:
        ``(B, T - num_prefix_tokens, D)`` patch "features".
    """
    t = block_input.shape[1]
    rows = (3 * torch.arange(num_prefix_tokens, t, device=block_input.device) + 1) % t
    return block_input[:, rows]


@DISCOVERY.register("lost_concat_qkv", archs=("vit",))
@checked_arguments("lost_concat_qkv")
def _lost_concat_qkv(patches: PatchFeatures, k_patches: PositiveInt = 100,
                     seed_order: Annotated[str, OneOf(*SEED_ORDERS)] = "authors") -> tuple[np.ndarray, torch.Tensor]:
    # A reproduction of the study's ViT LOST (not a method): concat_qkv_keys as the features, no
    # normalisation, no centring, LOST's own tie order. The study ran it on an unpruned pretrained
    # ViT-B/16 at every step (main_lost.py never loads the pruned checkpoint); here it runs on the
    # model of the step.
    if patches.block_input is None:
        raise ValueError("lost_concat_qkv needs a ViT's last-block input (arch='vit')")
    n = patches.grid[0] * patches.grid[1]
    feats = concat_qkv_keys(patches.block_input, patches.block_input.shape[1] - n)
    return lost(feats, patches.grid, patches.image_size, k_patches=k_patches, seed_order=seed_order)


@DISCOVERY.register("tokencut")
@checked_arguments("tokencut")
def _tokencut(patches: PatchFeatures, tau: Annotated[float, Interval(-1, 1, closed="left")] = 0.2,
              eps: PositiveFloat = 1e-5) -> tuple[np.ndarray, torch.Tensor]:
    return tokencut(patches.features, patches.grid, patches.image_size, tau=tau, eps=eps)


@DISCOVERY.register("attention", archs=("vit",))
@checked_arguments("attention")
def _attention(patches: PatchFeatures, mass: Annotated[float, Interval(0, 1, closed="right")] = 0.6,
               ) -> tuple[np.ndarray, torch.Tensor]:
    if patches.cls_attention is None:
        raise ValueError("the attention baseline needs a ViT's CLS attention (arch='vit')")
    return attention_box(patches.cls_attention, patches.grid, patches.image_size, mass=mass)


def discover(name: str, model: nn.Module, images: torch.Tensor, *, arch: str,
             feature_layer: str | None = None, **options: object) -> np.ndarray:
    """Predicted object boxes ``(B, 4)`` of ``model``'s patch features with method ``name``.

    Args:
        name: a registered method (``DISCOVERY.list(archs=arch)``).
        model: the model in eval mode; ``images`` are moved to its device.
        images: ``(B, C, H, W)`` normalised inputs.
        arch: ``"cnn"``, ``"vit"`` or ``"swin"``.
        feature_layer: CNN only, the module whose feature map to use (default: last stage).
        **options: method options (``k_patches``, ``center``, ``tau``, ``mass``).
    """
    method = method_for(DISCOVERY, name, arch)
    from robustlab.pruning.interpret.layers import model_device

    images = images.to(model_device(model), torch.float32)
    patches = patch_features(model, images, arch, feature_layer=feature_layer)
    return method.fn(patches, **options)[0]


def centred_boxes(n: int, image_size: tuple[int, int], fraction: float = 0.5) -> np.ndarray:
    """The centred-box baseline: a box of ``fraction`` of each side, centred, for ``n`` images."""
    h, w = image_size
    bw, bh = w * fraction, h * fraction
    box = [(w - bw) / 2, (h - bh) / 2, (w + bw) / 2, (h + bh) / 2]
    return np.tile(np.asarray(box, dtype=np.float64), (n, 1))
