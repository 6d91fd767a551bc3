"""Object-discovery methods: a name -> function registry over patch features.

A method is ``fn(patches: PatchFeatures, **options) -> (boxes, seeds)`` with ``(B, 4)``
pixel boxes; :func:`discover` computes the patch features of a model and runs one::

    boxes = discover("lost", model, images, arch="cnn")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from robustlab.common.registry import Registry
from robustlab.pruning.discovery.attention import attention_box
from robustlab.pruning.discovery.features import PatchFeatures, patch_features
from robustlab.pruning.discovery.lost import lost
from robustlab.pruning.discovery.tokencut import tokencut

ARCHS = ("cnn", "vit", "swin")


@dataclass(frozen=True)
class DiscoveryMethod:
    """A registered discovery method and the architectures it applies to."""

    name: str
    fn: Callable[..., tuple[np.ndarray, torch.Tensor]]
    archs: tuple[str, ...]


#: Every discovery method (metadata: ``archs``); plugins add theirs through the entry-point
#: group ``robustlab.discovery`` or a module named in the config's ``plugins``.
DISCOVERY: Registry[DiscoveryMethod] = Registry("discovery method", group="robustlab.discovery")


def register_discovery(name: str, archs: tuple[str, ...] = ARCHS, override: bool = False,
                       ) -> Callable[[Callable[..., tuple[np.ndarray, torch.Tensor]]], Callable[..., tuple[np.ndarray, torch.Tensor]]]:
    """Register ``fn(patches, **options) -> (boxes, seeds)`` as discovery method ``name``."""

    def decorate(fn: Callable[..., tuple[np.ndarray, torch.Tensor]]) -> Callable[..., tuple[np.ndarray, torch.Tensor]]:
        DISCOVERY.add(name, DiscoveryMethod(name, fn, tuple(archs)), override=override, archs=tuple(archs))
        return fn

    return decorate


def get_discovery(name: str) -> DiscoveryMethod:
    """The registered method ``name``; an ``UnknownNameError`` naming close matches otherwise."""
    return DISCOVERY.get(name)


def list_discovery(arch: str | None = None) -> list[str]:
    """Names of the registered methods, optionally only those applicable to ``arch``."""
    return DISCOVERY.list() if arch is None else DISCOVERY.list(archs=arch)


@register_discovery("lost")
def _lost(patches: PatchFeatures, k_patches: int = 100, center: bool | None = None,
          layernorm: bool | str = False, seed_order: str = "stable") -> tuple[np.ndarray, torch.Tensor]:
    # layernorm="cnn": CNN feature maps only (the study's main_lost.py and LOST's own code
    # normalise a ResNet's or VGG's map, never a transformer's keys); True: every architecture.
    if layernorm not in (True, False, "cnn"):
        raise ValueError(f"lost layernorm must be true, false or 'cnn'; got {layernorm!r}")
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


@register_discovery("lost_concat_qkv", archs=("vit",))
def _lost_concat_qkv(patches: PatchFeatures, k_patches: int = 100, seed_order: str = "authors",
                     ) -> tuple[np.ndarray, torch.Tensor]:
    # A reproduction of the study's ViT LOST (not a method): concat_qkv_keys as the features, no
    # normalisation, no centring, LOST's own tie order. The study ran it on an unpruned pretrained
    # ViT-B/16 at every step (main_lost.py never loads the pruned checkpoint); here it runs on the
    # model of the step.
    if patches.block_input is None:
        raise ValueError("lost_concat_qkv needs a ViT's last-block input (arch='vit')")
    n = patches.grid[0] * patches.grid[1]
    feats = concat_qkv_keys(patches.block_input, patches.block_input.shape[1] - n)
    return lost(feats, patches.grid, patches.image_size, k_patches=k_patches, seed_order=seed_order)


@register_discovery("tokencut")
def _tokencut(patches: PatchFeatures, tau: float = 0.2, eps: float = 1e-5) -> tuple[np.ndarray, torch.Tensor]:
    return tokencut(patches.features, patches.grid, patches.image_size, tau=tau, eps=eps)


@register_discovery("attention", archs=("vit",))
def _attention(patches: PatchFeatures, mass: float = 0.6) -> tuple[np.ndarray, torch.Tensor]:
    if patches.cls_attention is None:
        raise ValueError("the attention baseline needs a ViT's CLS attention (arch='vit')")
    return attention_box(patches.cls_attention, patches.grid, patches.image_size, mass=mass)


def check_method(name: str, arch: str) -> DiscoveryMethod:
    """The method ``name`` after checking that it applies to ``arch`` (a clear error otherwise)."""
    method = get_discovery(name)
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    if arch not in method.archs:
        raise ValueError(f"discovery method {name!r} is defined for {'/'.join(method.archs)} "
                         f"models only, not for arch={arch!r}")
    return method


def discover(name: str, model: nn.Module, images: torch.Tensor, *, arch: str,
             feature_layer: str | None = None, **options: object) -> np.ndarray:
    """Predicted object boxes ``(B, 4)`` of ``model``'s patch features with method ``name``.

    Args:
        name: a registered method (:func:`list_discovery`).
        model: the model in eval mode; ``images`` are moved to its device.
        images: ``(B, C, H, W)`` normalised inputs.
        arch: ``"cnn"``, ``"vit"`` or ``"swin"``.
        feature_layer: CNN only, the module whose feature map to use (default: last stage).
        **options: method options (``k_patches``, ``center``, ``tau``, ``mass``).
    """
    method = check_method(name, arch)
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
