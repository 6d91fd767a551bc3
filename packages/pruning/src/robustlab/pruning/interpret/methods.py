"""Attribution methods: a name -> function registry, every method batched over images.

Each method is ``fn(model, images, targets, *, arch, **options) -> (N, H, W)`` float tensor on
the model's device: one relevance map per image, at input resolution, channels pooled as the
method's original paper does (stated per method). Call through :func:`attribute`, which
checks the architecture, the shapes and the device before any gradient is computed::

    maps = attribute("gradcam", model, images, labels, arch="cnn")

Register a method in one file::

    @ATTRIBUTIONS.register("my_method", archs=("cnn",))
    def my_method(model, images, targets, *, arch): ...
"""

from __future__ import annotations

import warnings
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

from robustlab.common.config import Seed, checked_arguments
from robustlab.common.constraints import (
    Interval,
    NonNegativeFloat,
    NonNegativeInt,
    OneOf,
    PositiveInt,
)
from robustlab.common.registry import Registry, deprecated_alias
from robustlab.pruning.arch_methods import ArchMethod, method_for
from robustlab.pruning.interpret.layers import (
    FeatureGrid,
    attention_weights,
    capture_vit_qk,
    feature_grid,
    find_last_conv_block,
    model_device,
    vit_blocks,
    vit_geometry,
)
from robustlab.pruning.interpret.metrics import CHANNEL_POOLS

#: How attention maps combine the heads: their mean or their sum.
Heads = Annotated[str, OneOf("mean", "sum")]

#: Every attribution method (:class:`~robustlab.pruning.arch_methods.ArchMethod`: ``archs``);
#: plugins add theirs through the entry-point group ``robustlab.attributions`` or a module named
#: in the config's ``plugins``.
ATTRIBUTIONS: Registry[ArchMethod] = Registry("attribution method", ArchMethod,
                                              group="robustlab.attributions")

register_attribution = deprecated_alias("register_attribution", ATTRIBUTIONS.register,
                                        "ATTRIBUTIONS.register")
get_attribution = deprecated_alias("get_attribution", ATTRIBUTIONS.get, "ATTRIBUTIONS.get")
list_attributions = deprecated_alias("list_attributions", lambda arch=None: ATTRIBUTIONS.list(archs=arch),
                                     "ATTRIBUTIONS.list(archs=arch)")


def attribute(name: str, model: nn.Module, images: torch.Tensor, targets: torch.Tensor | list[int],
              *, arch: str, **options: object) -> torch.Tensor:
    """Relevance maps of ``model`` for ``targets`` on ``images`` with method ``name``.

    Args:
        name: a registered method (``ATTRIBUTIONS.list(archs=arch)``).
        model: a classifier in eval mode; its device is used for all the work.
        images: ``(N, C, H, W)`` float inputs, normalised as the model expects.
        targets: ``(N,)`` class indices to explain.
        arch: ``"cnn"``, ``"vit"`` or ``"swin"``.
        **options: method options (e.g. ``n_steps`` for Integrated Gradients).

    Returns:
        ``(N, H, W)`` float32 tensor on the model's device.

    Raises:
        ValueError: a method not defined for ``arch``, images not ``(N, C, H, W)``, or
            targets not one per image.
    """
    method = method_for(ATTRIBUTIONS, name, arch)
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a (N, C, H, W) tensor, got {getattr(images, 'shape', type(images))}")
    device = model_device(model)
    images = images.to(device, torch.float32)
    targets = torch.as_tensor(targets, dtype=torch.long, device=device).reshape(-1)
    if targets.numel() != images.shape[0]:
        raise ValueError(f"targets must give one class per image: {targets.numel()} targets "
                         f"for {images.shape[0]} images")
    with torch.enable_grad():
        maps = method.fn(model, images, targets, arch=arch, **options)
    return maps.detach().to(torch.float32)


def _upsample(maps: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """``(N, h, w)`` -> ``(N, H, W)`` by bilinear interpolation (as pytorch-grad-cam and Captum).

    Right for patch grids (cell ``i`` covering pixels ``[s i, s (i + 1))``); CNN maps go through
    :func:`_to_input`.
    """
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def _to_input(maps: torch.Tensor, grid: FeatureGrid, size: tuple[int, int]) -> torch.Tensor:
    """``(N, h, w)`` -> ``(N, H, W)``: bilinear between the cells' receptive-field centres.

    Pixel ``(y, x)`` (centre ``(y + 0.5, x + 0.5)``) takes the map's value at cell coordinates
    ``((y + 0.5 - origin) / stride)``, clamped to the outermost cells as a resize clamps; with
    ``origin = stride / 2`` this is :func:`_upsample`. A ResNet's cells are centred
    ``(stride - 1) / 2`` pixels up and left of where a plain resize draws them
    (:class:`~robustlab.pruning.interpret.layers.FeatureGrid`).
    """
    n, h, w = maps.shape
    coords = []
    for axis, (cells, pixels) in enumerate(((h, size[0]), (w, size[1]))):
        centres = torch.arange(pixels, device=maps.device, dtype=torch.float32) + 0.5
        t = (centres - grid.origin[axis]) / grid.stride[axis]
        coords.append((2.0 * t + 1.0) / cells - 1.0)  # grid_sample's align_corners=False units
    gy, gx = torch.meshgrid(coords[0], coords[1], indexing="ij")
    where = torch.stack([gx, gy], dim=-1).expand(n, -1, -1, -1)
    return F.grid_sample(maps[:, None], where, mode="bilinear", padding_mode="border", align_corners=False)[:, 0]


def _needing_grad(images: torch.Tensor) -> torch.Tensor:
    """A leaf copy of ``images`` that requires gradients: Captum's gradient methods would set
    ``requires_grad`` on the caller's tensor itself, with a warning at every call."""
    return images.detach().requires_grad_(True)


@ATTRIBUTIONS.register("saliency")
def saliency(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *, arch: str) -> torch.Tensor:
    """Gradient saliency (Simonyan et al. 2014): ``max_c |d y_t / d x_c|`` (Captum ``Saliency``)."""
    from captum.attr import Saliency

    grads = Saliency(model).attribute(_needing_grad(images), target=targets, abs=True)
    return grads.amax(dim=1)


@ATTRIBUTIONS.register("integrated_gradients")
@checked_arguments("integrated_gradients")
def integrated_gradients(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *, arch: str,
                         n_steps: PositiveInt = 32, internal_batch_size: PositiveInt = 64,
                         smoothgrad_samples: NonNegativeInt = 0, smoothgrad_stdev: NonNegativeFloat = 0.15,
                         smoothgrad_stdev_mode: Annotated[str, OneOf("range", "absolute")] = "range",
                         channel_pool: Annotated[str, OneOf(*CHANNEL_POOLS)] = "sum",
                         seed: Seed = 0) -> torch.Tensor:
    """Integrated Gradients (Sundararajan et al. 2017), optionally under a SmoothGrad noise tunnel.

    ``IG_i(x) = (x_i - x'_i) * int_0^1 dy_t(x' + a (x - x')) / dx_i da`` with the all-zero
    baseline ``x'`` (the dataset mean colour of normalised inputs), Gauss-Legendre quadrature
    with ``n_steps`` points (Captum ``IntegratedGradients``), channels pooled by
    ``channel_pool`` (:func:`~robustlab.pruning.interpret.metrics.pool_channels`; ``"sum"`` by
    default: IG is complete, the sum over all inputs equals ``y_t(x) - y_t(x')``; the study uses
    ``"l2_squared"``). With ``smoothgrad_samples > 0`` the map is averaged over that many noisy
    copies ``x + N(0, s^2)`` (Smilkov et al. 2017; Captum ``NoiseTunnel``), ``s =
    smoothgrad_stdev * (max x - min x)`` over the batch (``smoothgrad_stdev_mode="range"``) or
    ``s = smoothgrad_stdev`` on the normalised input (``"absolute"``: the study's 2 samples at
    Captum's default stdev 1.0, arXiv 2507.01722).

    Memory is bounded by ``internal_batch_size``: no forward pass sees more than that many
    interpolated images. The images are processed in chunks of ``internal_batch_size`` images
    (one quadrature point per pass), which keeps every pass at the size of a training batch:
    cache-friendly on a CPU and saturating on a GPU.
    """
    from captum.attr import IntegratedGradients, NoiseTunnel

    from robustlab.pruning.interpret.metrics import pool_channels

    ig = IntegratedGradients(model)
    out = []
    chunk = max(1, internal_batch_size // max(1, smoothgrad_samples))
    span = (images.amax() - images.amin()).item() if smoothgrad_stdev_mode == "range" else 1.0
    with torch.random.fork_rng(devices=[images.device] if images.is_cuda else []):
        torch.manual_seed(seed)
        for start in range(0, images.shape[0], chunk):
            x, t = images[start:start + chunk], targets[start:start + chunk]
            if smoothgrad_samples > 0:
                attr = NoiseTunnel(ig).attribute(
                    x, nt_type="smoothgrad", nt_samples=smoothgrad_samples,
                    stdevs=smoothgrad_stdev * span, target=t, n_steps=n_steps,
                    internal_batch_size=internal_batch_size)
            else:
                attr = ig.attribute(x, target=t, n_steps=n_steps, internal_batch_size=internal_batch_size)
            out.append(pool_channels(attr, channel_pool).to(attr.dtype))
    return torch.cat(out)


def _vit_token_gradcam(model: nn.Module, images: torch.Tensor, targets: torch.Tensor,
                       module: nn.Module | None = None) -> torch.Tensor:
    # Grad-CAM on ViT tokens, written here because Captum's LayerGradCam treats dim 1 as channels
    # (tokens for a ViT) and pytorch-grad-cam's reshape path copies every batch to NumPy and
    # resizes image by image on the CPU. Target: the input of the last block's attention
    # (timm ``blocks[-1].norm1`` as pytorch-grad-cam recommends, torchvision ``ln_1``), or the
    # tokens ``module`` outputs, patch tokens reshaped to the grid.
    geometry = vit_geometry(model)
    target = module if module is not None else vit_blocks(model)[-1].norm
    store: dict[str, torch.Tensor] = {}

    def hook(m: nn.Module, i: object, out: torch.Tensor) -> None:
        out.retain_grad()
        store["acts"] = out
    handle = target.register_forward_hook(hook)
    try:
        logits = model(images)
    finally:
        handle.remove()
    acts = store["acts"]
    grads = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), acts, allow_unused=True)[0]
    grads = torch.zeros_like(acts) if grads is None else grads
    acts_map, grads_map = geometry.tokens_to_map(acts), geometry.tokens_to_map(grads)
    weights = grads_map.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * acts_map).sum(dim=1))


def _swin_gradcam(model: nn.Module, images: torch.Tensor, targets: torch.Tensor,
                  target_layer: str | None) -> torch.Tensor:
    # Grad-CAM on a Swin map (B, h, w, C), channels last: the study's target is the last block's
    # norm1 (its explain.py, model.features[-1][-1].norm1, with a reshape to channels first).
    from robustlab.pruning.interpret.swin import swin_last_block

    module = model.get_submodule(target_layer) if target_layer else swin_last_block(model).norm1
    store: dict[str, torch.Tensor] = {}
    handle = module.register_forward_hook(lambda m, i, out: store.__setitem__("acts", out))
    try:
        logits = model(images)
    finally:
        handle.remove()
    acts = store["acts"]
    grads = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), acts)[0]
    weights = grads.mean(dim=(1, 2), keepdim=True)
    return torch.relu((weights * acts).sum(dim=-1))


def _gradcam_maps(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, arch: str,
                  target_layer: str | None) -> torch.Tensor:
    """Grad-CAM at input resolution, ``(N, H, W)``, ReLU applied."""
    size = (int(images.shape[-2]), int(images.shape[-1]))
    if arch == "vit":
        return _upsample(_vit_token_gradcam(model, images, targets), size)
    if arch == "swin":
        return _upsample(_swin_gradcam(model, images, targets, target_layer), size)
    from captum.attr import LayerGradCam

    name = target_layer or find_last_conv_block(model, images)[0]
    cam = LayerGradCam(model, model.get_submodule(name)).attribute(images, target=targets, relu_attributions=True)
    return _to_input(cam[:, 0], feature_grid(model, name, images), size)


@ATTRIBUTIONS.register("gradcam")
def gradcam(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *, arch: str,
            target_layer: str | None = None) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017): ``ReLU(sum_k a_k A^k)``, ``a_k = mean_ij dy_t/dA^k_ij``.

    CNN: ``A`` is the last convolutional block (found by
    :func:`~robustlab.pruning.interpret.layers.find_last_conv_block`, or ``target_layer``),
    computed with Captum ``LayerGradCam``, and interpolated bilinearly between its cells'
    receptive-field centres (:func:`~robustlab.pruning.interpret.layers.feature_grid`; a plain
    resize, as pytorch-grad-cam and Captum do, draws a ResNet's map ``(stride - 1) / 2`` pixels
    down and right of its features: 3.5 pixels, half a cell, for an 8 x 8 map of a 64 px image).
    ViT: ``A`` is the patch tokens entering the last block's attention, reshaped to the patch
    grid and resized bilinearly. Swin: ``A`` is the output of the last block's ``norm1``
    (``target_layer`` names another ``(B, h, w, C)`` module), resized bilinearly.
    """
    return _gradcam_maps(model, images, targets, arch, target_layer)


@ATTRIBUTIONS.register("guided_gradcam")
def guided_gradcam(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *, arch: str,
                   target_layer: str | None = None) -> torch.Tensor:
    """Guided Grad-CAM (Selvaraju et al. 2017): Guided Backprop times the upsampled Grad-CAM.

    ``max_c |GB_c(x) * CAM(x)|``. Captum's ``GuidedGradCam`` is not used because it needs a
    spatial layer (it fails on ViT tokens); composing Captum ``GuidedBackprop`` with this
    module's Grad-CAM keeps one Grad-CAM definition for both architectures. Guided Backprop
    modifies the backward pass of ReLU modules only, so on a GELU ViT it equals the gradient.
    """
    from captum.attr import GuidedBackprop

    cam = _gradcam_maps(model, images, targets, arch, target_layer)
    with warnings.catch_warnings():
        # Captum's GuidedBackprop warns on every call that it hooks the ReLU modules for the
        # call's duration ("Setting backward hooks on ReLU activations"): that is what Guided
        # Backprop is, and the warning repeated at every step of a sweep buried the logs.
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU activations")
        guided = GuidedBackprop(model).attribute(_needing_grad(images), target=targets)
    return (guided * cam[:, None]).abs().amax(dim=1)


@ATTRIBUTIONS.register("vit_cls_attention", archs=("vit",))
@checked_arguments("vit_cls_attention")
def vit_cls_attention(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *, arch: str,
                      heads: Heads = "mean") -> torch.Tensor:
    """The last block's attention of the CLS token to the patches, ``heads="mean"`` or ``"sum"``.

    As in DINO (Caron et al. 2021) and the study's ViT analysis (which sums over heads: the
    same map up to a constant factor). Class-agnostic: ``targets`` are not used.
    """
    geometry = vit_geometry(model)
    blocks = vit_blocks(model)
    with torch.no_grad(), capture_vit_qk(model) as qk:
        model(images)
    q, k = qk[len(blocks) - 1]
    weights = attention_weights(blocks[-1].attn, q, k)
    attn = weights.mean(dim=1) if heads == "mean" else weights.sum(dim=1)
    cls = attn[:, 0, geometry.num_prefix_tokens:]
    return _upsample(cls.reshape(-1, *geometry.grid), images.shape[-2:])


@ATTRIBUTIONS.register("swin_attention", archs=("swin",))
@checked_arguments("swin_attention")
def swin_attention(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *, arch: str,
                   heads: Heads = "sum") -> torch.Tensor:
    """The attention each token receives in the last Swin block, resized bilinearly to the image.

    Swin has no class token: the map is the attention a token receives from the queries of its
    window, averaged over them and summed (``heads="sum"``) or averaged over heads
    (:func:`~robustlab.pruning.interpret.swin.swin_received_attention`). Class-agnostic. (The
    study's ``get_attention_map`` reads one query, token 0 of window 0, which covers the image
    only when the last stage is one window; it is not reproduced.)
    """
    from robustlab.pruning.interpret.swin import swin_received_attention

    return _upsample(swin_received_attention(model, images, heads=heads), images.shape[-2:])


@ATTRIBUTIONS.register("vit_cls_attention_transposed", archs=("vit",))
@checked_arguments("vit_cls_attention_transposed")
def vit_cls_attention_transposed(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *, arch: str,
                                 heads: Heads = "sum") -> torch.Tensor:
    """A reproduction of the study's CLS-attention map, not a method: transposed.

    The study's ``vit_attention_map`` (``explainations_evaluation_metrics.py``) resizes the
    ``(H, W)`` map to ``size=(original_h, original_w)``, which is ``(W, H)`` (its
    ``original_w, original_h = img.shape[-2], img.shape[-1]``), and ``main`` then scores
    ``np.transpose(hat)``: the map of :func:`vit_cls_attention` resized bilinearly to
    ``(W, H)`` and transposed back to ``(H, W)``, i.e. mirrored about the diagonal (and, for a
    non-square image, stretched). Heads summed, as the study does.
    """
    maps = vit_cls_attention(model, images, targets, arch=arch, heads=heads)
    h, w = maps.shape[-2:]
    return F.interpolate(maps[:, None], size=(w, h), mode="bilinear", align_corners=False)[:, 0].transpose(1, 2)


@ATTRIBUTIONS.register("vit_gradcam_encoder", archs=("vit",))
def vit_gradcam_encoder(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *, arch: str) -> torch.Tensor:
    """A reproduction of the study's ViT Grad-CAM, not a method: the encoder's output as target.

    The study's ``gradCAM(model, [model.encoder], ...)`` (``explainations_evaluation_metrics.py``)
    targets torchvision's ``encoder`` (its last LayerNorm included), of whose tokens the classifier
    reads only the CLS token: the patch tokens get zero gradient, Grad-CAM's weights are zero
    and the map is all zero (scored then by ``zero_map``). Here the same target: torchvision's
    ``encoder``, timm's final ``norm`` (zero too where the head reads the class token).
    """
    torchvision_vit = hasattr(model, "encoder") and hasattr(model, "class_token")
    module = model.get_submodule("encoder") if torchvision_vit else getattr(model, "norm", None)
    if module is None:
        raise ValueError(f"{type(model).__name__}: no encoder output to target (torchvision encoder, timm norm)")
    return _upsample(_vit_token_gradcam(model, images, targets, module), images.shape[-2:])


@ATTRIBUTIONS.register("attention_rollout", archs=("vit",))
@checked_arguments("attention_rollout")
def attention_rollout(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *, arch: str,
                      residual: Annotated[float, Interval(0, 1)] = 0.5) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020), CLS row over the patches.

    ``R = prod_l (residual * I + (1 - residual) * mean_heads A_l)`` with rows renormalised to
    sum to one, multiplied from the first block to the last. Class-agnostic.
    """
    geometry = vit_geometry(model)
    blocks = vit_blocks(model)
    n_blocks = len(blocks)
    with torch.no_grad(), capture_vit_qk(model, blocks=list(range(n_blocks))) as qk:
        model(images)
    rollout = None
    for idx in range(n_blocks):
        q, k = qk[idx]
        a = attention_weights(blocks[idx].attn, q, k).mean(dim=1)
        eye = torch.eye(a.shape[-1], device=a.device, dtype=a.dtype)
        a = residual * eye + (1 - residual) * a
        a = a / a.sum(dim=-1, keepdim=True)
        rollout = a if rollout is None else a @ rollout
    assert rollout is not None  # vit_blocks found at least one block
    cls = rollout[:, 0, geometry.num_prefix_tokens:]
    return _upsample(cls.reshape(-1, *geometry.grid), images.shape[-2:])
