"""Shapes on textures: a procedural image-classification dataset with masks and boxes.

Each image shows one shape (its class) at a random position, scale and rotation, filled with a
texture, over a textured background. The fill texture follows the class with probability
``texture_correlation`` and is a uniformly drawn class texture otherwise, so a model may learn
the shape, the texture, or both (the texture shortcut of Geirhos et al., "ImageNet-trained CNNs
are biased towards texture", ICLR 2019); :meth:`ShapesOnTextures.render` draws any shape with any
class's texture, which gives cue-conflict stimuli.

Everything is rendered in torch, vectorized over the batch, on any device; an image depends only
on the dataset's seed, split, draw and index (not on the batch it is rendered in), at any
resolution. The data are unlimited: :meth:`ShapesOnTextures.redrawn` gives a split's ``k``-th
independent set of images (fresh training images every epoch).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from robustlab.common.hashing import json_hash

#: Shape names, in class order: class ``k`` of a dataset with ``num_classes`` classes is ``SHAPES[k]``.
SHAPES: list[str] = [
    "circle", "square", "triangle", "star", "cross", "ring",
    "crescent", "heart", "hexagon", "ellipse", "semicircle", "pentagon",
]

#: Texture patterns; class ``k``'s texture uses pattern ``TEXTURE_KINDS[k % len(TEXTURE_KINDS)]``.
TEXTURE_KINDS: list[str] = ["stripes", "checker", "dots", "waves", "grid", "rings"]

SPLITS = ("train", "val", "test", "probe")

#: Bumped whenever rendering changes, so that stale disk caches are not reused.
CACHE_VERSION = 1

#: Threads of torch's intra-op pool while images render on the CPU (None: torch's own count).
#: A render is a few hundred elementwise operations on ``N x H x W`` values; on a busy machine
#: a second thread costs far more in hand-offs than it saves (measured: 10x the CPU time for
#: 96 images of 32 px with 2 threads on 2 loaded cores). Elementwise results do not depend on
#: the thread count, so neither do the images.
RENDER_THREADS: int | None = 1

# The class -> texture table is fixed for every dataset (a constant seed), so that train and
# evaluation splits, and cue-conflict stimuli, share one association.
_TEXTURE_TABLE_SEED = 20190101


@dataclass(frozen=True)
class _Params:
    """Per-image drawing parameters (tensors of length N, on CPU)."""

    shape: torch.Tensor        # long, shape class
    texture: torch.Tensor      # long, class whose texture fills the shape
    cx: torch.Tensor           # centre, fraction of the width
    cy: torch.Tensor
    radius: torch.Tensor       # fraction of the width
    angle: torch.Tensor        # radians
    phase: torch.Tensor        # (N, 2) fill texture phase
    bg_kind: torch.Tensor      # long, background pattern
    bg_freq: torch.Tensor
    bg_angle: torch.Tensor
    bg_colors: torch.Tensor    # (N, 2, 3)
    bg_phase: torch.Tensor     # (N, 2)
    noise_seed: torch.Tensor   # (N,) float, seeds the pixel-hash grain


@functools.cache
def _texture_table(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Kind, frequency (cycles per image), angle and two colours of each class texture
    (computed once per ``n`` and process; the tensors are only read)."""
    g = torch.Generator().manual_seed(_TEXTURE_TABLE_SEED)
    kinds = torch.arange(n) % len(TEXTURE_KINDS)
    freq = 5.0 + 5.0 * torch.rand(n, generator=g)
    angle = math.pi * torch.rand(n, generator=g)
    # Saturated, distinct hues on the colour wheel for the first colour, a dark second colour.
    hue = (torch.arange(n) * 0.618034 + 0.1) % 1.0
    c0 = _hsv_to_rgb(hue, torch.full((n,), 0.85), torch.full((n,), 0.95))
    c1 = _hsv_to_rgb((hue + 0.5) % 1.0, torch.full((n,), 0.6), torch.full((n,), 0.25))
    return kinds, freq, angle, torch.stack([c0, c1], dim=1)


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """HSV in [0, 1] to RGB ``(n, 3)`` (the standard hexcone model)."""
    k = torch.tensor([5.0, 3.0, 1.0], device=h.device)
    t = (k + h[:, None] * 6.0) % 6.0
    return v[:, None] - v[:, None] * s[:, None] * torch.clamp(torch.minimum(t, 4.0 - t), 0.0, 1.0)


def _pattern(kind: torch.Tensor, x: torch.Tensor, y: torch.Tensor, freq: torch.Tensor,
             angle: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """Texture intensity in [0, 1] for each image, ``(N, H, W)``.

    Args:
        kind: ``(N,)`` index into :data:`TEXTURE_KINDS`.
        x, y: ``(H, W)`` pixel coordinates as fractions of the width.
        freq, angle: ``(N,)`` cycles per image width and orientation.
        phase: ``(N, 2)`` phase offsets in cycles.
    """
    c, s = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    f = freq[:, None, None] * 2.0 * math.pi
    u = (x * c + y * s) * f + 2.0 * math.pi * phase[:, 0, None, None]
    v = (-x * s + y * c) * f + 2.0 * math.pi * phase[:, 1, None, None]
    out = torch.empty_like(u)
    for k, name in enumerate(TEXTURE_KINDS):
        sel = kind == k
        if not bool(sel.any()):
            continue
        uu, vv = u[sel], v[sel]
        if name == "stripes":
            val = 0.5 + 0.5 * torch.sin(uu)
        elif name == "checker":
            val = (torch.sin(uu) * torch.sin(vv) > 0).to(uu.dtype)
        elif name == "dots":
            val = ((torch.cos(uu) * torch.cos(vv)) > 0.45).to(uu.dtype)
        elif name == "waves":
            val = 0.5 + 0.5 * torch.sin(uu + 1.5 * torch.sin(0.5 * vv))
        elif name == "grid":
            val = ((torch.cos(uu).abs() > 0.85) | (torch.cos(vv).abs() > 0.85)).to(uu.dtype)
        else:  # rings around a point set by the phase
            val = 0.5 + 0.5 * torch.sin(torch.sqrt(uu**2 + vv**2))
        out[sel] = val
    return out


def _shape_inside(shape: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Whether the shape-local point ``(u, v)`` (unit circumradius) is inside, ``(N, H, W)``.

    Regular polygons use the polar form of a regular n-gon of circumradius 1,
    ``r(phi) = cos(pi/n) / cos((phi mod 2pi/n) - pi/n)``; the heart uses the implicit curve
    ``(x^2 + y^2 - 1)^3 - x^2 y^3 <= 0``.
    """
    rho = torch.sqrt(u**2 + v**2)
    phi = torch.atan2(v, u)
    out = torch.zeros_like(u, dtype=torch.bool)
    for k, name in enumerate(SHAPES):
        sel = shape == k
        if not bool(sel.any()):
            continue
        uu, vv, rr, pp = u[sel], v[sel], rho[sel], phi[sel]
        if name == "circle":
            val = rr <= 0.85
        elif name == "square":
            val = torch.maximum(uu.abs(), vv.abs()) <= 0.68
        elif name in ("triangle", "hexagon", "pentagon"):
            n = {"triangle": 3, "pentagon": 5, "hexagon": 6}[name]
            sector = 2.0 * math.pi / n
            r_edge = math.cos(math.pi / n) / torch.cos(torch.remainder(pp, sector) - math.pi / n)
            val = rr <= r_edge
        elif name == "star":
            # Five points: the radius goes linearly from 1 (tips) to 0.42 (notches) in angle.
            sector = 2.0 * math.pi / 5
            t = (torch.remainder(pp + math.pi / 2, sector) / sector - 0.5).abs() * 2.0
            val = rr <= 0.42 + 0.58 * t
        elif name == "cross":
            w = 0.3
            val = ((uu.abs() <= w) & (vv.abs() <= 0.9)) | ((vv.abs() <= w) & (uu.abs() <= 0.9))
        elif name == "ring":
            val = (rr <= 0.9) & (rr >= 0.5)
        elif name == "crescent":
            val = (rr <= 0.9) & ((uu - 0.45) ** 2 + vv**2 > 0.7**2)
        elif name == "heart":
            x, y = uu / 0.75, -vv / 0.75 + 0.1
            val = (x**2 + y**2 - 1) ** 3 - x**2 * y**3 <= 0
        elif name == "ellipse":
            val = (uu / 0.95) ** 2 + (vv / 0.5) ** 2 <= 1.0
        else:  # semicircle, centred on its area
            val = (rr <= 0.95) & (vv >= -0.3) & ((uu**2 + (vv + 0.3) ** 2) <= 0.95**2)
        out[sel] = val
    return out


def _hash_noise(x: torch.Tensor, y: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Pixel grain in [0, 1): the classic fract(sin(dot) * 43758.5453) hash, per image seed.

    A hash of the coordinates (not a random generator) keeps an image's pixels independent of
    the batch it is rendered in.
    """
    d = (x * 127.1 + y * 311.7)[None] * 37.0 + seed[:, None, None]
    return torch.frac(torch.sin(d) * 43758.5453).abs()


class ShapesOnTextures(Dataset):
    """Procedural "shapes on textures" classification dataset with object masks and boxes.

    Args:
        num_classes: number of shape classes, at most ``len(SHAPES)``; class ``k`` is ``SHAPES[k]``.
        img_size: side of the square images in pixels (any resolution).
        size: number of images in the split.
        seed: the dataset seed; each split draws from its own stream of it.
        texture_correlation: probability in [0, 1] that an image's fill texture is its class's
            texture (otherwise a uniformly drawn class texture).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"probe"``.
        draw: which independent set of the split's images: 0 is the split itself, ``k > 0``
            another ``size`` images from a random stream of their own (never equal to draw 0).
        scale: range of the shape's circumradius as a fraction of the image side.
        device: where images are rendered (``"cuda"`` renders on the GPU).
        cache: render the whole split once and keep it (as uint8) in memory.
        cache_dir: with ``cache``, also keep the rendered split in this folder (one folder of
            ``.npy`` files per set of arguments) and load it from there next time.

    Items are dicts: ``image`` float ``(3, H, W)`` in [0, 1], ``label``, ``texture`` (the class
    whose texture fills the shape), ``mask`` bool ``(H, W)``, ``box`` float ``(4,)``
    ``(x0, y0, x1, y1)`` in pixels (``x1``, ``y1`` exclusive), ``index``.

    Example:
        >>> ds = ShapesOnTextures(num_classes=4, img_size=32, size=8, seed=0)
        >>> item = ds[3]
        >>> tuple(item["image"].shape), SHAPES[int(item["label"])] in SHAPES[:4]
        ((3, 32, 32), True)
    """

    def __init__(self, num_classes: int = 6, img_size: int = 64, size: int = 1000, seed: int = 0,
                 texture_correlation: float = 0.5, split: str = "train", draw: int = 0,
                 scale: tuple[float, float] = (0.2, 0.38), device: str | torch.device = "cpu",
                 cache: bool = False, cache_dir: str | Path | None = None):
        if not 2 <= num_classes <= len(SHAPES):
            raise ValueError(f"num_classes must be in [2, {len(SHAPES)}] (shapes: {', '.join(SHAPES)}); "
                             f"got {num_classes}")
        if img_size < 8:
            raise ValueError(f"img_size must be at least 8 pixels; got {img_size}")
        if size < 1:
            raise ValueError(f"size must be positive; got {size}")
        if not 0.0 <= texture_correlation <= 1.0:
            raise ValueError(f"texture_correlation must be in [0, 1]; got {texture_correlation}")
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        if draw < 0:
            raise ValueError(f"draw must be >= 0; got {draw}")
        if not 0.05 <= scale[0] <= scale[1] <= 0.5:
            raise ValueError(f"scale must satisfy 0.05 <= min <= max <= 0.5; got {tuple(scale)}")
        self.num_classes = int(num_classes)
        self.img_size = int(img_size)
        self.size = int(size)
        self.seed = int(seed)
        self.texture_correlation = float(texture_correlation)
        self.split = split
        self.draw = int(draw)
        self.scale = (float(scale[0]), float(scale[1]))
        self.device = torch.device(device)
        self.classes = SHAPES[: self.num_classes]
        self._table = tuple(t.to(self.device) for t in _texture_table(self.num_classes))
        g = self._generator(self.seed, split if self.draw == 0 else f"{split}/draw{self.draw}")
        labels = torch.randint(0, self.num_classes, (self.size,), generator=g)
        follow = torch.rand(self.size, generator=g) < self.texture_correlation
        other = torch.randint(0, self.num_classes, (self.size,), generator=g)
        textures = torch.where(follow, labels, other)
        self._params = self._draw(labels, textures, g)
        self._cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        if cache:
            self._cache = self._load_or_render(cache_dir)

    def redrawn(self, draw: int) -> ShapesOnTextures:
        """The same split with another set of images: draw ``draw`` (rendered per batch, not cached).

        Example:
            >>> ds = ShapesOnTextures(num_classes=4, img_size=16, size=8, seed=0)
            >>> bool((ds.redrawn(1).render_indices(torch.arange(8))[0] != ds.render_indices(torch.arange(8))[0]).any())
            True
        """
        return ShapesOnTextures(num_classes=self.num_classes, img_size=self.img_size, size=self.size,
                                seed=self.seed, texture_correlation=self.texture_correlation,
                                split=self.split, draw=draw, scale=self.scale, device=self.device)

    @property
    def labels(self) -> torch.Tensor:
        """``(size,)`` class labels."""
        return self._params.shape

    @property
    def textures(self) -> torch.Tensor:
        """``(size,)`` class whose texture fills each image's shape."""
        return self._params.texture

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -self.size <= index < self.size:
            raise IndexError(f"index {index} out of range for a split of {self.size} images")
        index = index % self.size
        images, masks, boxes = self.render_indices(torch.tensor([index]))
        return {"image": images[0], "label": int(self._params.shape[index]),
                "texture": int(self._params.texture[index]), "mask": masks[0], "box": boxes[0],
                "index": index}

    def render_indices(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Render the images at ``indices`` on the dataset's device.

        Returns:
            images float ``(N, 3, H, W)`` in [0, 1], masks bool ``(N, H, W)``, boxes float ``(N, 4)``.
        """
        indices = torch.as_tensor(indices, dtype=torch.long).cpu()
        if self._cache is not None:
            images, masks, boxes = self._cache
            with _render_threads(self.device):
                return images[indices].float().div_(255.0), masks[indices], boxes[indices]
        sub = _Params(*(getattr(self._params, f)[indices] for f in _Params.__dataclass_fields__))
        return self._render(sub)

    def render(self, shape_classes: Any, texture_classes: Any, seed: int
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Draw shape ``shape_classes[i]`` filled with class ``texture_classes[i]``'s texture.

        Placement, scale, rotation and background are drawn from ``seed``; the class-texture
        association is the dataset's, so ``texture_classes != shape_classes`` gives cue-conflict
        stimuli.

        Args:
            shape_classes: ``(N,)`` shape class indices.
            texture_classes: ``(N,)`` class indices whose texture fills the shape.
            seed: seed of the placement and background.

        Returns:
            images float ``(N, 3, H, W)`` in [0, 1], masks bool ``(N, H, W)``, boxes float
            ``(N, 4)`` xyxy, all on the dataset's device.
        """
        shapes = torch.as_tensor(shape_classes, dtype=torch.long).cpu().reshape(-1)
        textures = torch.as_tensor(texture_classes, dtype=torch.long).cpu().reshape(-1)
        if shapes.shape != textures.shape:
            raise ValueError(f"shape_classes and texture_classes differ in length: {shapes.numel()} vs "
                             f"{textures.numel()}")
        for name, t in (("shape_classes", shapes), ("texture_classes", textures)):
            if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_classes):
                raise ValueError(f"{name} must lie in [0, {self.num_classes - 1}]; got values in "
                                 f"[{int(t.min())}, {int(t.max())}]")
        g = self._generator(int(seed), "render")
        return self._render(self._draw(shapes, textures, g))

    @staticmethod
    def _generator(seed: int, stream: str) -> torch.Generator:
        return torch.Generator().manual_seed(int(seed) * 1_000_003 + zlib.crc32(stream.encode()))

    def _draw(self, shapes: torch.Tensor, textures: torch.Tensor, g: torch.Generator) -> _Params:
        n = shapes.numel()
        lo, hi = self.scale
        radius = lo + (hi - lo) * torch.rand(n, generator=g)
        cx = radius + (1 - 2 * radius) * torch.rand(n, generator=g)
        cy = radius + (1 - 2 * radius) * torch.rand(n, generator=g)
        # Backgrounds: any pattern, paler and lower in contrast than the class textures.
        bg_colors = 0.35 + 0.4 * torch.rand(n, 2, 3, generator=g)
        return _Params(
            shape=shapes, texture=textures, cx=cx, cy=cy, radius=radius,
            angle=2 * math.pi * torch.rand(n, generator=g), phase=torch.rand(n, 2, generator=g),
            bg_kind=torch.randint(0, len(TEXTURE_KINDS), (n,), generator=g),
            bg_freq=2.0 + 4.0 * torch.rand(n, generator=g), bg_angle=math.pi * torch.rand(n, generator=g),
            bg_colors=bg_colors, bg_phase=torch.rand(n, 2, generator=g),
            noise_seed=1000.0 * torch.rand(n, generator=g),
        )

    def _render(self, p: _Params) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with _render_threads(self.device):
            return self._render_on_device(p)

    def _render_on_device(self, p: _Params) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        dev, s = self.device, self.img_size
        p = _Params(*(getattr(p, f).to(dev) for f in _Params.__dataclass_fields__))
        coords = (torch.arange(s, device=dev, dtype=torch.float32) + 0.5) / s
        y, x = torch.meshgrid(coords, coords, indexing="ij")
        # Shape-local coordinates: translate, rotate by -angle, scale to unit circumradius.
        dx = x[None] - p.cx[:, None, None]
        dy = y[None] - p.cy[:, None, None]
        c, sn = torch.cos(p.angle)[:, None, None], torch.sin(p.angle)[:, None, None]
        r = p.radius[:, None, None]
        u = (dx * c + dy * sn) / r
        v = (-dx * sn + dy * c) / r
        masks = _shape_inside(p.shape, u, v)

        kinds, freq, angle, colors = self._table
        t = p.texture
        fill_t = _pattern(kinds[t], x, y, freq[t], angle[t], p.phase)
        fill = _mix(colors[t], fill_t)
        bg_t = _pattern(p.bg_kind, x, y, p.bg_freq, p.bg_angle, p.bg_phase)
        bg = _mix(p.bg_colors, bg_t)
        grain = _hash_noise(x, y, p.noise_seed)[:, None] - 0.5
        images = torch.where(masks[:, None], fill, bg) + 0.06 * grain
        images = images.clamp_(0.0, 1.0)
        return images, masks, _boxes(masks)

    def _load_or_render(self, cache_dir: str | Path | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if cache_dir is None:
            return self._render_all()
        key = json_hash([CACHE_VERSION, self.num_classes, self.img_size, self.size, self.seed,
                         self.texture_correlation, self.split, self.scale, self.draw],
                        length=16, compact=False, algorithm="sha1")
        folder = Path(cache_dir) / f"shapes-{key}"
        if folder.is_dir():
            # plain .npy files: NumPy reads one in about a third of torch.load's time
            images, masks, boxes = (torch.from_numpy(np.load(folder / f"{name}.npy")).to(self.device)
                                    for name in _CACHED)
            return images, masks, boxes
        rendered = self._render_all()
        _write_split(folder, rendered)
        return rendered

    def _render_all(self, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with _render_threads(self.device):
            parts = [self.render_indices(torch.arange(i, min(i + chunk, self.size)))
                     for i in range(0, self.size, chunk)]
            images = torch.cat([(im * 255.0).round_().to(torch.uint8) for im, _, _ in parts])
            return images, torch.cat([m for _, m, _ in parts]), torch.cat([b for _, _, b in parts])


#: The arrays of a cached split, one ``<name>.npy`` each in the split's folder.
_CACHED = ("images", "masks", "boxes")


def _write_split(folder: Path, arrays: tuple[torch.Tensor, ...]) -> None:
    """Write a split's arrays into ``folder`` atomically: a temporary folder beside it, renamed
    once complete (a folder written by another process in the meantime is kept)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        for name, array in zip(_CACHED, arrays, strict=True):
            np.save(tmp / f"{name}.npy", array.cpu().numpy())
        try:
            os.replace(tmp, folder)
        except OSError:  # the folder exists: another process cached the same split first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _render_threads(device: torch.device) -> Iterator[None]:
    """torch's intra-op pool at :data:`RENDER_THREADS` threads for a render on the CPU."""
    before = torch.get_num_threads()
    if device.type != "cpu" or RENDER_THREADS is None or RENDER_THREADS == before:
        yield
        return
    torch.set_num_threads(RENDER_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _mix(colors: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Blend two colours ``(N, 2, 3)`` by intensity ``t`` ``(N, H, W)`` -> ``(N, 3, H, W)``."""
    c0 = colors[:, 0, :, None, None]
    c1 = colors[:, 1, :, None, None]
    return c1 + (c0 - c1) * t[:, None]


def _boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight ``(x0, y0, x1, y1)`` boxes of bool masks ``(N, H, W)``, ``x1``/``y1`` exclusive.

    An empty mask gets the box ``(0, 0, 0, 0)``.
    """
    n, h, w = masks.shape
    cols, rows = masks.any(dim=1), masks.any(dim=2)
    xs = torch.arange(w, device=masks.device)
    ys = torch.arange(h, device=masks.device)
    big = torch.iinfo(torch.long).max
    x0 = torch.where(cols, xs, big).amin(dim=1)
    x1 = torch.where(cols, xs, -1).amax(dim=1) + 1
    y0 = torch.where(rows, ys, big).amin(dim=1)
    y1 = torch.where(rows, ys, -1).amax(dim=1) + 1
    empty = ~cols.any(dim=1)
    boxes = torch.stack([x0, y0, x1, y1], dim=1).float()
    boxes[empty] = 0.0
    return boxes
