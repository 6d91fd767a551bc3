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

ARCHS = ("cnn", "vit")


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
        arch: ``"cnn"`` or ``"vit"``.
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
