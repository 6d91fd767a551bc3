"""The acquisition model: from the phantom to a magnitude image, its ROI mask and ground truth.

One acquisition is simulated in these steps, each a documented physical effect (the
between-scanner ones in :mod:`.scanner_effects`):

1. **Pose.** The phantom frame is placed in the scanner frame by a rigid rotation about the
   bore axis z and a translation: ``s = R(theta) p + t`` (a phantom set up on the table).
2. **Partial volume.** Each voxel's volume fraction of every material is the mean over
   ``supersample**2`` sub-samples of the voxel's in-plane square; along z the texture is
   weighted by the slice profile (2D: a box of the slice thickness convolved with a Gaussian
   of ``edge * thickness``; 3D: a box of the voxel size).
3. **Contrast.** ``rho = sum_m S_m fraction_m`` with ``S_m`` the fast-spin-echo signal of
   material m at the scanner's refocusing angle.
4. **Receive bias and residual non-uniformity.** ``rho`` is multiplied by the sensitivity of
   the scanner's receive array, fixed in the scanner frame, after the vendor's partial
   uniformity correction, and by the smooth non-uniformity that correction leaves.
5. **Geometric distortion.** Gradient non-linearity and off-resonance along the readout
   move the object by a smooth sub-pixel displacement field.
6. **k-space.** The image is Fourier transformed; only the central ``kspace_fraction`` of each
   encoded axis is acquired (zero-filled to the matrix, hence Gibbs ringing), multiplied by the
   vendor's reconstruction filter (:data:`FILTERS`).
7. **Noise.** Complex white Gaussian noise is added to the acquired k-space with the variance
   that gives the reconstructed image a noise standard deviation ``sigma = 1 / SNR`` per
   channel (signal of fully relaxed water = 1), times ``g sqrt(R)`` with parallel imaging;
   the magnitude of the complex image is Rician.
8. **Vendor scaling.** The magnitude is multiplied by the scanner's ``intensity_scale``.

The ROI masks are drawn as an operator draws them: circles on each insert where it appears
in the current pose (after distortion), with the errors of the drawing and of its operator
(:mod:`.roi_drawing`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.fft
from scipy import ndimage
from scipy.special import erf

from robustlab.common.registry import Entry, Registry, deprecated_alias
from robustlab.radiomics.phantom.geometry import Grid, Pose, RoiPlan
from robustlab.radiomics.phantom.model import PhantomSpec
from robustlab.radiomics.phantom.roi_drawing import draw_mask, ideal_circles
from robustlab.radiomics.phantom.textures import TextureVolume

# --------------------------------------------------------------------------- reconstruction filters

FilterFn = Callable[..., np.ndarray]
#: Every k-space reconstruction filter: ``fn(coords, **params) -> window``, ``coords`` a list of
#: broadcastable arrays (one per encoded axis) of the k-space position normalised to [-1, 1] over
#: the acquired extent, ``params`` the keyword parameters from the scanner config, the window of
#: the broadcast shape of ``coords``. Plugins add theirs through the entry-point group
#: ``robustlab.reconstruction_filters`` or the config's ``plugins``.
FILTERS: Registry[Entry[FilterFn]] = Registry("reconstruction filter", group="robustlab.reconstruction_filters")

register_filter = deprecated_alias("register_filter", FILTERS.register, "FILTERS.register")
list_filters = deprecated_alias("list_filters", FILTERS.list, "FILTERS.list")
get_filter = deprecated_alias("get_filter", FILTERS.get, "FILTERS.get")


@FILTERS.register("none")
def _no_filter(coords: Sequence[np.ndarray]) -> np.ndarray:
    """No apodisation: plain truncation."""
    return np.ones(np.broadcast_shapes(*(c.shape for c in coords)))


@FILTERS.register("hamming")
def _hamming(coords: Sequence[np.ndarray], alpha: float = 0.54) -> np.ndarray:
    """Separable generalised Hamming window ``prod_a (alpha + (1 - alpha) cos(pi u_a))``."""
    w = np.ones(1)
    for u in coords:
        w = w * (alpha + (1.0 - alpha) * np.cos(np.pi * u))
    return w


@FILTERS.register("fermi")
def _fermi(coords: Sequence[np.ndarray], radius: float = 0.9, width: float = 0.05) -> np.ndarray:
    """Radial Fermi window ``1 / (1 + exp((|u| - radius) / width))`` (Bernstein et al. 2004, 13.1)."""
    r = np.sqrt(sum(u**2 for u in coords))
    return 1.0 / (1.0 + np.exp((r - radius) / width))


# --------------------------------------------------------------------------- geometry


@dataclass
class FractionMaps:
    """Material fractions of one (grid, pose), shared by every contrast acquired there.

    Attributes:
        shell, filling: ``(ny, nx)`` fractions (the phantom is a prism: same on every slice).
        inserts: ``(n_inserts, ny, nx)`` fraction of each insert (matrix plus grains).
        grains: per insert, ``(y0, y1, x0, x1)`` and ``(n_components, nz, y1-y0, x1-x0)``.
        truth: ``(ny, nx)`` insert number (1-based) whose disc holds the voxel centre, else 0.
        mask: ``(n_sizes, nz, ny, nx)`` ROI labels, a map per ROI size (:class:`RoiPlan`).
    """

    shell: np.ndarray
    filling: np.ndarray
    inserts: np.ndarray
    truth: np.ndarray
    mask: np.ndarray
    grains: list[tuple[tuple[int, int, int, int], np.ndarray]] = field(default_factory=list)


def slice_weights(z_planes: np.ndarray, centre: float, thickness: float, edge: float) -> np.ndarray:
    """Weights of texture planes for one slice: the slice profile integrated over each plane.

    The profile is a box of ``thickness`` convolved with a Gaussian of sigma
    ``edge * thickness`` (``edge = 0``: a box); each plane's weight is the profile integrated
    over the plane's cell (8-point midpoint rule), normalised to sum to 1.
    """
    h = z_planes[1] - z_planes[0] if z_planes.size > 1 else thickness
    sub = z_planes[:, None] + ((np.arange(8) + 0.5) / 8 - 0.5)[None, :] * h - centre
    if edge > 0:
        s = math.sqrt(2.0) * edge * thickness
        prof = 0.5 * (erf((sub + thickness / 2) / s) - erf((sub - thickness / 2) / s))
    else:
        prof = (np.abs(sub) <= thickness / 2).astype(float)
    w = prof.mean(axis=1)
    total = w.sum()
    if total <= 0:
        raise ValueError(f"slice at z = {centre:.2f} mm lies outside the phantom's texture grid")
    return w / total


def _block_mean(a: np.ndarray, s: int) -> np.ndarray:
    """Mean over ``s x s`` blocks of the last two axes."""
    *lead, h, w = a.shape
    return a.reshape(*lead, h // s, s, w // s, s).mean(axis=(-3, -1))


def _bilinear(planes: np.ndarray, iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of a stack of planes ``(..., H, W)`` at fractional indices.

    Written here rather than calling ``scipy.ndimage.map_coordinates`` once per plane: the same
    coordinates are applied to every plane of the stack, so the weights and the flat indices
    are computed once. Points outside the planes take the nearest edge value.
    """
    h, w = planes.shape[-2:]
    iy = np.clip(iy, 0, h - 1)
    ix = np.clip(ix, 0, w - 1)
    y0 = np.minimum(iy.astype(np.intp), h - 2)
    x0 = np.minimum(ix.astype(np.intp), w - 2)
    fy = (iy - y0).astype(np.float32)
    fx = (ix - x0).astype(np.float32)
    flat = planes.reshape(*planes.shape[:-2], h * w)
    i00 = y0 * w + x0

    def at(offset: int) -> np.ndarray:
        return np.take(flat, i00 + offset, axis=-1)

    top = at(0) * (1 - fx) + at(1) * fx
    bottom = at(w) * (1 - fx) + at(w + 1) * fx
    return top * (1 - fy) + bottom * fy


def sample_fractions(
    spec: PhantomSpec,
    textures: Sequence[TextureVolume],
    grid: Grid,
    pose: Pose,
    rois: RoiPlan,
) -> FractionMaps:
    """Partial-volume fractions of every material on ``grid`` with the phantom in ``pose``.

    Args:
        spec: the phantom.
        textures: its texture volumes (:func:`.textures.build_textures`), one per insert.
        grid: the reconstruction grid.
        pose: the phantom's placement.
        rois: the ROI sizes and slices of the masks.

    Returns:
        The :class:`FractionMaps`, with the ground truth and the ROI mask.
    """
    (nx, ny), (dx, dy, dz) = grid.matrix, grid.spacing_mm
    s = spec.supersample
    offsets = ((np.arange(s) + 0.5) / s - 0.5)
    xs = (grid.axis(nx, dx)[:, None] + offsets[None, :] * dx).ravel().astype(np.float32)
    ys = (grid.axis(ny, dy)[:, None] + offsets[None, :] * dy).ravel().astype(np.float32)
    px, py = pose.to_phantom(xs[None, :], ys[:, None])
    (a, b), (ai, bi) = spec.semi_axes_mm, spec.inner_semi_axes_mm
    in_body = (px / a) ** 2 + (py / b) ** 2 <= 1.0
    in_inner = (px / ai) ** 2 + (py / bi) ** 2 <= 1.0
    boxes = [_box(grid, pose.to_scanner(*ins.centre_mm), ins.radius_mm) for ins in spec.inserts]
    discs = []
    inserts = np.zeros((len(spec.inserts), ny, nx), dtype=np.float32)
    for i, (ins, (y0, y1, x0, x1)) in enumerate(zip(spec.inserts, boxes, strict=True)):
        bx, by = px[y0 * s:y1 * s, x0 * s:x1 * s], py[y0 * s:y1 * s, x0 * s:x1 * s]
        disc = ((bx - ins.centre_mm[0]) ** 2 + (by - ins.centre_mm[1]) ** 2
                <= ins.radius_mm**2).astype(np.float32)
        discs.append(disc)
        inserts[i, y0:y1, x0:x1] = _block_mean(disc, s)
    # Ground truth and ROI mask at voxel centres.
    cx, cy = np.meshgrid(grid.axis(nx, dx), grid.axis(ny, dy))
    vx, vy = pose.to_phantom(cx, cy)
    truth = np.zeros((ny, nx), dtype=np.int16)
    for i, ins in enumerate(spec.inserts):
        truth[(vx - ins.centre_mm[0]) ** 2 + (vy - ins.centre_mm[1]) ** 2 <= ins.radius_mm**2] = i + 1
    maps = FractionMaps(
        shell=_block_mean((in_body & ~in_inner).astype(np.float32), s),
        filling=_block_mean(in_inner.astype(np.float32), s) - inserts.sum(axis=0),
        inserts=inserts, truth=truth, mask=draw_mask(grid, ideal_circles(spec, pose, rois), rois),
    )
    # Grains: per insert, z-weighted texture planes interpolated at the sub-samples of the
    # insert's bounding box, times the insert's disc, averaged per voxel.
    z_scanner = grid.axis(grid.n_slices, dz)
    thickness = dz
    edge = grid.profile_edge if grid.mode == "2D" else 0.0
    for tex, (y0, y1, x0, x1), disc in zip(textures, boxes, discs, strict=True):
        bx, by = px[y0 * s:y1 * s, x0 * s:x1 * s], py[y0 * s:y1 * s, x0 * s:x1 * s]
        ix = (bx - tex.origin_mm[0]) / tex.spacing_mm[0]
        iy = (by - tex.origin_mm[1]) / tex.spacing_mm[1]
        n_planes, n_comp = tex.fractions.shape[:2]
        z_planes = tex.origin_mm[2] + np.arange(n_planes) * tex.spacing_mm[2]
        planes = np.empty((n_comp, grid.n_slices, *tex.fractions.shape[2:]), dtype=np.float32)
        reach_z = thickness / 2 + 4 * edge * thickness + tex.spacing_mm[2]
        for k, zs in enumerate(z_scanner):
            zc = zs - pose.translation_mm[2]
            j0, j1 = np.searchsorted(z_planes, [zc - reach_z, zc + reach_z])
            w = slice_weights(z_planes[j0:j1], zc, thickness, edge).astype(np.float32)
            planes[:, k] = np.einsum("j,j...->...", w, tex.fractions[j0:j1])
        values = _bilinear(planes, iy, ix) * disc
        maps.grains.append(((y0, y1, x0, x1), _block_mean(values, s)))
    return maps


def _box(grid: Grid, centre: tuple[float, float], radius: float) -> tuple[int, int, int, int]:
    """Voxel index range ``(y0, y1, x0, x1)`` holding a disc of ``radius`` around ``centre``."""
    (nx, ny), (dx, dy, _) = grid.matrix, grid.spacing_mm
    reach = radius + max(dx, dy)
    x0 = max(int(np.floor((centre[0] - reach) / dx + (nx - 1) / 2)), 0)
    x1 = min(int(np.ceil((centre[0] + reach) / dx + (nx - 1) / 2)) + 1, nx)
    y0 = max(int(np.floor((centre[1] - reach) / dy + (ny - 1) / 2)), 0)
    y1 = min(int(np.ceil((centre[1] + reach) / dy + (ny - 1) / 2)) + 1, ny)
    return y0, y1, x0, x1


# --------------------------------------------------------------------------- image formation


def material_image(spec: PhantomSpec, maps: FractionMaps, te_ms: float, tr_ms: float,
                   field_t: float, refocusing_deg: float = 180.0) -> np.ndarray:
    """Noise-free object ``rho = sum_m S_m fraction_m``, ``(nz, ny, nx)`` float32."""
    base = (spec.shell.signal(te_ms, tr_ms, field_t, refocusing_deg) * maps.shell
            + spec.filling.signal(te_ms, tr_ms, field_t, refocusing_deg) * maps.filling)
    s_matrix = [ins.tissue.signal(te_ms, tr_ms, field_t, refocusing_deg) for ins in spec.inserts]
    base = base + np.tensordot(np.asarray(s_matrix, dtype=np.float32), maps.inserts, axes=1)
    image = np.repeat(base[None].astype(np.float32), maps.mask.shape[1], axis=0)
    for ins, s_m, ((y0, y1, x0, x1), grains) in zip(spec.inserts, s_matrix, maps.grains, strict=True):
        delta = [ins.grain_tissue(k).signal(te_ms, tr_ms, field_t, refocusing_deg) - s_m
                 for k in range(len(ins.components))]
        image[:, y0:y1, x0:x1] += np.tensordot(np.asarray(delta, dtype=np.float32), grains, axes=1)
    return image


@dataclass(frozen=True)
class Coil:
    """A receive array in the scanner frame and the vendor's uniformity correction.

    Attributes:
        elements: number of loop elements, evenly spaced on an ellipse around the isocentre.
        ellipse_mm: semi-axes ``(x, y)`` of that ellipse.
        loop_radius_mm: radius ``a`` of each loop.
        correction: share of the non-uniformity the vendor's correction removes, in [0, 1].
    """

    elements: int
    ellipse_mm: tuple[float, float]
    loop_radius_mm: float
    correction: float


_COIL_GRID = 64


def element_sensitivities(x: np.ndarray, y: np.ndarray, z: np.ndarray, coil: Coil,
                          seed: tuple[int, ...]) -> np.ndarray:
    """Receive sensitivity of every loop element at scanner points, ``(elements, *shape)``.

    Element ``e`` sees ``s_e = a**3 / (a**2 + r_e**2)**1.5`` (the on-axis field of a circular
    loop, by reciprocity its receive sensitivity, used here at distance ``r_e``). The elements
    sit evenly on the coil's ellipse, turned by an angle drawn from
    ``numpy.random.SeedSequence(seed)`` (each scanner its own array).
    """
    offset = np.random.default_rng(np.random.SeedSequence(list(seed))).uniform(0, 2 * np.pi)
    angles = offset + 2 * np.pi * np.arange(coil.elements) / coil.elements
    a = coil.loop_radius_mm
    return np.stack([
        a**3 / (a**2 + (x - coil.ellipse_mm[0] * math.cos(t)) ** 2
                + (y - coil.ellipse_mm[1] * math.sin(t)) ** 2 + z**2) ** 1.5
        for t in angles
    ])


@functools.lru_cache(maxsize=8)
def bias_field(grid: Grid, coil: Coil, seed: tuple[int, ...]) -> np.ndarray:
    """The receive sensitivity, fixed in the scanner frame, ``(nz, ny, nx)`` float32.

    The array combines its elements (:func:`element_sensitivities`) as the root sum of
    squares (Roemer et al., Magn Reson Med 1990, 16:192). The vendor's correction flattens
    the result to ``(s / s(0))**(1 - correction)``. The result is cached (one coil serves
    every acquisition of a scanner) and read-only.
    """
    # The field is smooth: it is evaluated on a coarse in-plane grid spanning the same extent
    # (first to last voxel centre) and interpolated linearly to the matrix.
    (nx, ny), (dx, dy, dz) = grid.matrix, grid.spacing_mm
    cx, cy = min(nx, _COIL_GRID), min(ny, _COIL_GRID)
    x = np.linspace(-(nx - 1) / 2 * dx, (nx - 1) / 2 * dx, cx)[None, None, :]
    y = np.linspace(-(ny - 1) / 2 * dy, (ny - 1) / 2 * dy, cy)[None, :, None]
    z = grid.axis(grid.n_slices, dz)[:, None, None]
    total = np.sum(element_sensitivities(x, y, z, coil, seed) ** 2, axis=0)
    centre = np.sum(element_sensitivities(np.zeros(1), np.zeros(1), np.zeros(1), coil, seed) ** 2)
    coarse = np.sqrt(total / centre) ** (1.0 - coil.correction)
    field = ndimage.zoom(coarse, (1.0, ny / cy, nx / cx), order=1, grid_mode=False)
    field = field.astype(np.float32)
    field.flags.writeable = False
    return field


def reconstruct(
    obj: np.ndarray,
    encoded_axes: tuple[int, ...],
    kspace_fraction: tuple[float, ...],
    window: Callable[[Sequence[np.ndarray]], np.ndarray],
    sigma: float,
    rng: np.random.Generator,
    noise_free: bool = False,
    noise_map: np.ndarray | None = None,
    line_phase: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """k-space truncation, reconstruction filter and complex noise; magnitude images out.

    Args:
        obj: the (biased) object ``(nz, ny, nx)``.
        encoded_axes: the Fourier-encoded axes: ``(1, 2)`` for 2D slices, ``(0, 1, 2)`` for 3D.
        kspace_fraction: acquired share of k-space along each encoded axis, in (0, 1].
        window: the filter, called with the normalised k-space coordinates.
        sigma: noise standard deviation per real channel of the reconstructed image.
        rng: the noise generator.
        noise_free: also return the reconstruction without noise.
        noise_map: factor on the noise of each pixel, broadcast to ``obj`` (the parallel
            imaging amplification ``g sqrt(R)``); ``None``: stationary noise.
        line_phase: phase error (radians) of each line along the phase-encoding axis (y), in
            FFT order (:func:`.scanner_effects.ghost_phases`); ``None``: none.

    Returns:
        ``(magnitude, noise_free_magnitude or None)``, float32 with the shape of ``obj``.
        With orthonormal transforms the image noise variance per channel is
        ``sigma_k**2 * sum(W**2) / N`` (``N`` the number of encoded samples), so the k-space
        noise is drawn with ``sigma_k = sigma * sqrt(N / sum(W**2))``.
    """
    k = scipy.fft.fftn(obj, axes=encoded_axes, norm="ortho", workers=-1)
    coords = []
    acquired = np.ones(1, dtype=bool)
    for ax, frac in zip(encoded_axes, kspace_fraction, strict=True):
        n = obj.shape[ax]
        m = max(int(round(frac * n)), 1)
        idx = np.rint(scipy.fft.fftfreq(n) * n)  # signed integer frequencies, unshifted order
        inside = (idx >= -(m // 2)) & (idx < m - m // 2)
        shape = [1] * obj.ndim
        shape[ax] = n
        coords.append(np.where(inside, idx / max(m / 2, 1), 0.0).reshape(shape))
        acquired = acquired & inside.reshape(shape)
    w = (window(coords) * acquired).astype(np.float32)
    w = np.broadcast_to(w, np.broadcast_shapes(w.shape, *(c.shape for c in coords)))
    n_encoded = int(np.prod([obj.shape[ax] for ax in encoded_axes]))
    sigma_k = sigma * math.sqrt(n_encoded / float(np.sum(w.astype(np.float64) ** 2)))
    k *= w
    if line_phase is not None:
        k *= np.exp(1j * line_phase).astype(np.complex64)[:, None]
    clean = None
    if noise_free:
        clean = np.abs(scipy.fft.ifftn(k, axes=encoded_axes, norm="ortho", workers=-1))
    # Pairs of float32 normals viewed as complex64: real and imaginary parts, no copy.
    noise = rng.standard_normal((*obj.shape, 2), dtype=np.float32).view(np.complex64)[..., 0]
    noise *= sigma_k * w
    if noise_map is None:
        k += noise
        image = np.abs(scipy.fft.ifftn(k, axes=encoded_axes, norm="ortho", workers=-1, overwrite_x=True))
    else:
        # Non-stationary noise (parallel imaging): the filtered noise image times the map.
        noise_image = scipy.fft.ifftn(noise, axes=encoded_axes, norm="ortho", workers=-1, overwrite_x=True)
        noise_image *= noise_map
        noise_image += scipy.fft.ifftn(k, axes=encoded_axes, norm="ortho", workers=-1, overwrite_x=True)
        image = np.abs(noise_image)
    return image.astype(np.float32), clean


@dataclass
class SimulatedAcquisition:
    """One simulated acquisition, in memory.

    Attributes:
        image: ``(nz, ny, nx)`` float32 magnitude after vendor scaling.
        noise_free: the same without noise, when asked for (else ``None``).
        mask: ``(n_sizes, nz, ny, nx)`` ROI labels, a map per ROI size.
        truth: ``(ny, nx)`` insert number (1-based) at each voxel centre, else 0.
        spacing_mm: ``(dx, dy, dz)``.
        origin_mm: scanner-frame ``(x, y, z)`` of voxel ``[0, 0, 0]``.
        noise_sigma: noise standard deviation per channel in the image's units, before any
            parallel-imaging amplification.
        noise_amplification: ``(ny, nx)`` factor ``g sqrt(R)`` on the noise of each pixel
            with parallel imaging (:func:`.scanner_effects.gfactor_map`), else ``None``.
    """

    image: np.ndarray
    noise_free: np.ndarray | None
    mask: np.ndarray
    truth: np.ndarray
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
    noise_sigma: float
    noise_amplification: np.ndarray | None = None
