"""Image distortions after model-vs-human (Geirhos et al. 2018, 2021): a name -> function registry.

Every distortion is ``fn(images, level, generator, masks) -> images`` on ``(N, 3, H, W)`` float
tensors in [0, 1]; ``level = 0`` returns the images unchanged and larger levels distort more.
Randomness comes only from the ``torch.Generator`` that :func:`distort` seeds, so a distortion is
deterministic per seed. Register a new one in a single file::

    @DISTORTIONS.register("invert", level="weight in [0, 1] of the inverted image")
    def invert(images, level, generator, masks):
        return (1 - level) * images + level * (1 - images)

The frequency-domain distortions are written here in torch (a few lines each) because the
reference implementation (model-vs-human's image manipulations) works on single NumPy images
and is not installable as a library; here a batch is distorted in one call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from robustlab.common.registry import Entry, Registry, deprecated_alias

DistortionFn = Callable[[torch.Tensor, float, torch.Generator, "torch.Tensor | None"], torch.Tensor]


@dataclass(frozen=True)
class Distortion(Entry[DistortionFn]):
    """A registered distortion.

    Attributes:
        needs_masks: it reads the object masks (edges, silhouettes).
        level: what the level parameter means, for listings.
    """

    needs_masks: bool = False
    level: str = ""


#: Every distortion; plugins add theirs through the entry-point group ``robustlab.distortions``
#: or the config's ``plugins``.
DISTORTIONS: Registry[Distortion] = Registry("distortion", Distortion, group="robustlab.distortions")

register_distortion = deprecated_alias("register_distortion", DISTORTIONS.register, "DISTORTIONS.register")
get_distortion = deprecated_alias("get_distortion", DISTORTIONS.get, "DISTORTIONS.get")
list_distortions = deprecated_alias("list_distortions", DISTORTIONS.list, "DISTORTIONS.list")
needs_masks = deprecated_alias("needs_masks", lambda name: DISTORTIONS.get(name).needs_masks,
                               "DISTORTIONS.get(name).needs_masks")

#: Luminance weights of ITU-R BT.601, as ``PIL.Image.convert("L")``.
_LUMA = (0.299, 0.587, 0.114)


def distort(
    name: str, images: torch.Tensor, level: float, seed: int = 0, masks: torch.Tensor | None = None
) -> torch.Tensor:
    """Apply distortion ``name`` at ``level`` to a batch, deterministically for ``seed``.

    Args:
        name: a registered distortion (``DISTORTIONS.list()``).
        images: ``(N, 3, H, W)`` float tensor in [0, 1].
        level: the distortion's strength; 0 is the identity.
        seed: seeds the distortion's random numbers (drawn on the CPU, so equal on any device).
        masks: ``(N, H, W)`` bool object masks, required by ``edges`` and ``silhouette``.

    Returns:
        The distorted ``(N, 3, H, W)`` tensor in [0, 1], on the device of ``images``.
    """
    entry = DISTORTIONS.get(name)
    if not (isinstance(images, torch.Tensor) and images.ndim == 4 and images.shape[1] == 3):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"distortion {name!r} expects images of shape (N, 3, H, W); got {shape}")
    level = float(level)
    if not math.isfinite(level) or level < 0:
        raise ValueError(f"distortion {name!r}: level must be a finite number >= 0; got {level!r}")
    if entry.needs_masks:
        if masks is None:
            raise ValueError(f"distortion {name!r} needs the object masks (N, H, W); got none")
        if tuple(masks.shape) != (images.shape[0], *images.shape[2:]):
            raise ValueError(f"distortion {name!r}: masks must have shape {(images.shape[0], *images.shape[2:])}; "
                             f"got {tuple(masks.shape)}")
    if level == 0:
        return images.clone()
    generator = torch.Generator().manual_seed(int(seed))
    out = entry(images.float(), level, generator, masks)
    return out.clamp_(0.0, 1.0)


def _rand(generator: torch.Generator, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    return torch.rand(shape, generator=generator).to(like.device)


def _luminance(images: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_LUMA, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images * w).sum(1, keepdim=True)


def _freq_radius(h: int, w: int, device: Any) -> torch.Tensor:
    """``|f|`` in cycles per pixel on the ``rfft2`` grid, shape ``(h, w // 2 + 1)``."""
    fy = torch.fft.fftfreq(h, device=device)[:, None]
    fx = torch.fft.rfftfreq(w, device=device)[None, :]
    return torch.sqrt(fy**2 + fx**2)


@DISTORTIONS.register("uniform_noise", level="half-width w of additive uniform noise U(-w, w), shared by the channels")
def uniform_noise(images: torch.Tensor, level: float, generator: torch.Generator, masks: Any) -> torch.Tensor:
    n, _, h, w = images.shape
    noise = (2 * _rand(generator, (n, 1, h, w), images) - 1) * level
    return images + noise


@DISTORTIONS.register("contrast", level="share of contrast removed about mid-grey (1 = uniform grey)")
def contrast(images: torch.Tensor, level: float, generator: torch.Generator, masks: Any) -> torch.Tensor:
    return 0.5 + (1 - min(level, 1.0)) * (images - 0.5)


@DISTORTIONS.register("low_pass", level="standard deviation (pixels) of the Gaussian blur")
def low_pass(images: torch.Tensor, level: float, generator: torch.Generator, masks: Any) -> torch.Tensor:
    h, w = images.shape[-2:]
    gain = torch.exp(-2 * math.pi**2 * level**2 * _freq_radius(h, w, images.device) ** 2)
    return torch.fft.irfft2(torch.fft.rfft2(images) * gain, s=(h, w))


@DISTORTIONS.register("high_pass", level="cut-off (cycles per image) of a Gaussian high-pass that keeps the mean")
def high_pass(images: torch.Tensor, level: float, generator: torch.Generator, masks: Any) -> torch.Tensor:
    h, w = images.shape[-2:]
    radius = _freq_radius(h, w, images.device) * max(h, w)  # cycles per image
    gain = 1 - torch.exp(-(radius**2) / (2 * level**2))
    gain[0, 0] = 1.0  # keep the mean luminance
    return torch.fft.irfft2(torch.fft.rfft2(images) * gain, s=(h, w))


@DISTORTIONS.register("phase_noise", level="half-width (radians) of uniform noise added to the Fourier phase")
def phase_noise(images: torch.Tensor, level: float, generator: torch.Generator, masks: Any) -> torch.Tensor:
    n, _, h, w = images.shape
    spectrum = torch.fft.rfft2(images)
    # The same phase noise for the three channels (Geirhos et al. 2018); the mean is kept.
    noise = (2 * _rand(generator, (n, 1, h, w // 2 + 1), images) - 1) * level
    noise[..., 0, 0] = 0
    return torch.fft.irfft2(spectrum * torch.exp(1j * noise), s=(h, w))


@DISTORTIONS.register("power_equalisation", level="weight in [0, 1] of the radially averaged amplitude spectrum")
def power_equalisation(images: torch.Tensor, level: float, generator: torch.Generator, masks: Any) -> torch.Tensor:
    h, w = images.shape[-2:]
    spectrum = torch.fft.rfft2(images)
    amplitude = spectrum.abs()
    # Replace each image's amplitude spectrum by its average over rings of equal |f|: the
    # orientation-specific power is equalised, the phase (the image's structure) is kept.
    ring = torch.round(_freq_radius(h, w, images.device) * max(h, w)).long().flatten()
    one_hot = F.one_hot(ring).to(amplitude.dtype)  # (h*(w//2+1), n_rings)
    flat = amplitude.flatten(-2)
    ring_mean = (flat @ one_hot) / one_hot.sum(0).clamp(min=1)
    equal = (ring_mean @ one_hot.T).view_as(amplitude)
    mixed = (1 - min(level, 1.0)) * amplitude + min(level, 1.0) * equal
    return torch.fft.irfft2(torch.polar(mixed, spectrum.angle()), s=(h, w))


@DISTORTIONS.register("false_colour", level="weight in [0, 1] of the opponent colours (luminance kept)")
def false_colour(images: torch.Tensor, level: float, generator: torch.Generator, masks: Any) -> torch.Tensor:
    luma = _luminance(images)
    # Flipping the chroma (the image minus its luminance) maps each hue to its opponent hue.
    return images - 2 * min(level, 1.0) * (images - luma)


@DISTORTIONS.register("greyscale", level="weight in [0, 1] of the luminance image")
def greyscale(images: torch.Tensor, level: float, generator: torch.Generator, masks: Any) -> torch.Tensor:
    return images + min(level, 1.0) * (_luminance(images) - images)


@DISTORTIONS.register("rotation", level="angle in degrees (counter-clockwise); multiples of 90 are exact")
def rotation(images: torch.Tensor, level: float, generator: torch.Generator, masks: Any) -> torch.Tensor:
    if level % 90 == 0:
        return torch.rot90(images, k=int(level // 90) % 4, dims=(-2, -1))
    theta = math.radians(level)
    mat = torch.tensor([[math.cos(theta), -math.sin(theta), 0.0], [math.sin(theta), math.cos(theta), 0.0]],
                       device=images.device, dtype=images.dtype)
    grid = F.affine_grid(mat.expand(images.shape[0], 2, 3), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


@DISTORTIONS.register("eidolon", level="reach (pixels) of a smooth random displacement field (local disarray)")
def eidolon(images: torch.Tensor, level: float, generator: torch.Generator, masks: Any) -> torch.Tensor:
    # After the Eidolon factory's "local disarray" (Koenderink et al. 2017): every pixel is
    # displaced by a spatially smooth Gaussian random field whose grain is fixed at 2 pixels.
    n, _, h, w = images.shape
    field = torch.randn((n, 2, h, w), generator=generator).to(images.device)
    field = low_pass(field, 2.0, generator, None)
    field = field / field.flatten(1).std(dim=1).clamp(min=1e-8).view(n, 1, 1, 1) * level
    ys, xs = torch.meshgrid(torch.arange(h, device=images.device, dtype=images.dtype),
                            torch.arange(w, device=images.device, dtype=images.dtype), indexing="ij")
    x = (xs + field[:, 0]) * 2 / (w - 1) - 1
    y = (ys + field[:, 1]) * 2 / (h - 1) - 1
    return F.grid_sample(images, torch.stack([x, y], dim=-1), mode="bilinear", padding_mode="border",
                         align_corners=True)


def _object_outline(masks: torch.Tensor) -> torch.Tensor:
    m = masks.float().unsqueeze(1)
    eroded = -F.max_pool2d(-m, kernel_size=3, stride=1, padding=1)
    return (m - eroded).clamp(min=0)


@DISTORTIONS.register("edges", needs_masks=True, level="weight in [0, 1] of the outline drawing (black on white)")
def edges(images: torch.Tensor, level: float, generator: torch.Generator, masks: torch.Tensor) -> torch.Tensor:
    drawing = (1 - _object_outline(masks.to(images.device))).expand_as(images)
    return images + min(level, 1.0) * (drawing - images)


@DISTORTIONS.register("silhouette", needs_masks=True,
                      level="weight in [0, 1] of the filled silhouette (black on white)")
def silhouette(images: torch.Tensor, level: float, generator: torch.Generator, masks: torch.Tensor) -> torch.Tensor:
    drawing = (1 - masks.to(images.device).float().unsqueeze(1)).expand_as(images)
    return images + min(level, 1.0) * (drawing - images)
