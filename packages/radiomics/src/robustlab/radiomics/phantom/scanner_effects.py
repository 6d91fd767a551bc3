"""Between-scanner effects of the acquisition model, each a documented physical effect.

Real scanners of a multicentre study disagree far more than their voxel sizes and field
strengths alone explain. This module holds the effects that make them disagree, each fixed
in the scanner frame (so that a repositioned phantom also sees them change):

- :func:`nonuniformity_field`: the residual intensity non-uniformity (bias field) that the
  vendor's correction leaves, a smooth multiplicative field.
- :func:`gfactor_map`: the SENSE noise amplification of parallel imaging.
- :func:`displacement_field` and :func:`distort`: geometric distortion from gradient
  non-linearity and off-resonance along the readout.
- :func:`ghost_phases`: shot-to-shot phase errors of a segmented acquisition, which put faint
  replicas of the object along the phase-encoding axis (ghosts), drawn anew per series.

The operator's ROI drawing is not a scanner's: it is in :mod:`.roi_drawing`. Every parameter
is in the scanner (or protocol) file; each effect is off when its
parameters are absent or zero.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.polynomial import legendre
from scipy import ndimage

# Gyromagnetic ratio of 1H over 2 pi, Hz per tesla.
GAMMA_BAR_HZ_PER_T = 42.577478e6

_COARSE = 64
FIELD_HALF_WIDTH_MM = 200.0


@dataclass(frozen=True)
class Nonuniformity:
    """Residual intensity non-uniformity after the vendor's correction.

    Attributes:
        amplitude: largest ``|log b|`` over +-200 mm around the isocentre (0.1: the
            intensity varies within about +-10 %).
        order: largest total degree of the Legendre polynomials of ``log b``.
        gradient_per_100mm: ``(g_x, g_y)``, a linear term of ``log b`` the scanner always
            has, in the scanner frame: ``log b += (g_x x + g_y y) / 100 mm`` (the left-right
            asymmetry of the transmit field at 3 T, for example); fitted, not drawn.
    """

    amplitude: float = 0.0
    order: int = 2
    gradient_per_100mm: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Ghosting:
    """Shot-to-shot phase errors of a segmented (fast spin-echo) acquisition.

    Attributes:
        phase_sd_rad: standard deviation of each shot's phase error, drawn anew per series
            (vibration, eddy currents and B0 drift differ from one echo train to the next).
        shots: echo trains that fill k-space; shot ``s`` acquires the phase-encoding lines
            ``ky = s (mod shots)``.
    """

    phase_sd_rad: float = 0.0
    shots: int = 1

    @property
    def active(self) -> bool:
        """Whether the effect changes the image."""
        return self.phase_sd_rad > 0 and self.shots > 1


def ghost_phases(n_lines: int, ghosting: Ghosting, rng: np.random.Generator) -> np.ndarray:
    """The phase error of each phase-encoding line (FFT order), ``phi[ky] = phi_s``, ``s = ky mod shots``.

    ``phi_s ~ N(0, sd^2)`` per shot. A phase error periodic in ``ky`` with period ``P`` (the
    shots) replicates the object every ``FOV / P`` along the phase-encoding axis: with
    ``exp(i phi[ky]) = sum_p c_p exp(2 pi i p ky / P)``, ``E|c_p|^2 = sd^2 / P`` for ``p != 0``
    to first order, so each replica carries about ``sd / sqrt(P)`` of the object's amplitude.
    The ACR's acceptance limit, a ghosting ratio of at most 0.025 (ACR MRI Quality Control
    Manual, 2015), is measured on the image, where the replicas of an extended object overlap
    (:func:`.qa.ghosting_ratio`; its values for the pelvic phantom: docs/reference/phantom.md,
    "Fit on the released features").
    """
    ky = np.rint(np.fft.fftfreq(n_lines) * n_lines).astype(np.int64)
    return rng.normal(0.0, ghosting.phase_sd_rad, ghosting.shots)[np.mod(ky, ghosting.shots)]


@dataclass(frozen=True)
class Distortion:
    """Geometric distortion of one scanner.

    Attributes:
        gradient_mm_at_150mm: radial displacement at 150 mm from the isocentre from the
            gradients' non-linearity (third order in the radius).
        b0_ppm: largest off-resonance over the field of view after shimming, in ppm.
        bandwidth_hz_per_pixel: receiver bandwidth per pixel along the readout (x).
    """

    gradient_mm_at_150mm: float = 0.0
    b0_ppm: float = 0.0
    bandwidth_hz_per_pixel: float = 200.0

    @property
    def active(self) -> bool:
        """Whether any displacement is modelled."""
        return self.gradient_mm_at_150mm != 0.0 or self.b0_ppm != 0.0


def smooth_field(xs_mm: np.ndarray, ys_mm: np.ndarray, order: int, seed: tuple[int, ...]) -> np.ndarray:
    """A random smooth field of the scanner frame at points ``(xs_mm, ys_mm)`` (broadcast).

    ``f(u, v) = sum_{1 <= i + j <= order} c_ij P_i(u) P_j(v)`` with Legendre polynomials
    ``P``, ``c_ij ~ N(0, 1)`` drawn from ``numpy.random.SeedSequence(seed)`` and
    ``(u, v) = (x, y) / 200 mm``: a polynomial of degree ``order``, hence smooth, with no
    constant term (the mean level is the scanner's own scaling), scaled so that
    ``max |f| = 1`` over the square of +-200 mm around the isocentre (any field of view of
    the pelvis lies inside it). The field belongs to the scanner, not to one matrix.
    """
    rng = np.random.default_rng(np.random.SeedSequence(list(seed)))
    coef = np.zeros((order + 1, order + 1))
    for i in range(order + 1):
        for j in range(order + 1 - i):
            if i + j:
                coef[i, j] = rng.standard_normal()
    ref = np.linspace(-1.0, 1.0, 65)
    peak = float(np.abs(legendre.leggrid2d(ref, ref, coef)).max())
    u = np.clip(np.asarray(xs_mm, dtype=float) / FIELD_HALF_WIDTH_MM, -1.0, 1.0)
    v = np.clip(np.asarray(ys_mm, dtype=float) / FIELD_HALF_WIDTH_MM, -1.0, 1.0)
    u, v = np.broadcast_arrays(u, v)
    return legendre.legval2d(u, v, coef) / peak


@functools.lru_cache(maxsize=16)
def nonuniformity_field(axes_mm: tuple[tuple[float, ...], tuple[float, ...]], model: Nonuniformity,
                        seed: tuple[int, ...]) -> np.ndarray:
    """The residual bias field ``b = exp(amplitude * f)`` on a grid, ``(ny, nx)`` float32.

    ``axes_mm`` holds the grid's x and y voxel-centre coordinates. A vendor's intensity
    correction (e.g. prescan normalisation or a surface-coil intensity correction) leaves a
    smooth multiplicative non-uniformity, larger at 3 T where the transmit field itself is
    non-uniform (dielectric effects; Bernstein, Huston and Ward, J Magn Reson Imaging 2006,
    24:735). It is modelled as smooth and multiplicative, as the N3 bias-field correction
    models it (Sled, Zijdenbos and Evans, IEEE TMI 1998, 17:87): ``log b`` is the random
    polynomial :func:`smooth_field` of degree ``order`` from ``seed`` (each scanner its own
    field) times ``amplitude``, so that part has ``|log b| <= amplitude``, plus the scanner's
    linear term ``(g_x x + g_y y) / 100 mm``, the same at every seed; fixed in the scanner
    frame, the same on every slice. Cached and read-only.
    """
    xs, ys = np.asarray(axes_mm[0]), np.asarray(axes_mm[1])
    gx, gy = model.gradient_per_100mm
    log_b = (gx * xs[None, :] + gy * ys[:, None]) / 100.0 + np.zeros((ys.size, xs.size))
    if model.amplitude != 0.0:
        log_b = log_b + model.amplitude * smooth_field(xs[None, :], ys[:, None], model.order, seed)
    field = np.exp(log_b).astype(np.float32)
    field.flags.writeable = False
    return field


def gfactor_map(sensitivities: np.ndarray, support: np.ndarray, acceleration: int) -> np.ndarray:
    """SENSE geometry factor of each pixel, ``(ny, nx)``, for undersampling along y (axis 0).

    With ``R``-fold undersampling every pixel folds onto the ``R - 1`` pixels ``ny / R`` apart
    along y. Unfolding a set with the coil sensitivities ``S`` (``n_coils x R``; identity
    noise covariance) amplifies the noise of its pixel ``p`` by the geometry factor

        g_p = sqrt([(S^H S)^-1]_pp [S^H S]_pp) >= 1

    (Pruessmann et al., Magn Reson Med 1999, 42:952, eq. 23); the image noise is then
    ``sigma * g * sqrt(R)``. Pixels outside ``support`` hold no signal: as in practice
    (sensitivity maps exist only where there is signal) they are left out of the unfolding,
    and a pixel that folds onto none of the support has ``g = 1``.

    Args:
        sensitivities: ``(n_coils, ny, nx)`` receive sensitivities (magnitudes: the coils'
            phases are not modelled, which overstates ``g`` somewhat).
        support: ``(ny, nx)`` boolean, where the object is.
        acceleration: ``R``; ``ny`` must be a multiple of it.
    """
    n_coils, ny, nx = sensitivities.shape
    r = int(acceleration)
    if r <= 1:
        return np.ones((ny, nx))
    if ny % r:
        raise ValueError(f"gfactor_map: {ny} rows are not a multiple of the acceleration {r}")
    step = ny // r
    # (n_coils, step, R, nx): the R pixels of each folded set side by side
    s = sensitivities.reshape(n_coils, r, step, nx).transpose(0, 2, 1, 3)
    keep = support.reshape(r, step, nx).transpose(1, 0, 2)  # (step, R, nx)
    s = s * keep[None]
    gram = np.einsum("cyax,cybx->yxab", s, s)  # (step, nx, R, R)
    # Pixels outside the support: unit rows and columns so that the inverse exists.
    out = ~keep.transpose(0, 2, 1)  # (step, nx, R)
    eye = np.eye(r)[None, None]
    gram = gram * ~(out[..., :, None] | out[..., None, :]) + eye * out[..., None, :]
    inv = np.linalg.inv(gram)
    diag = np.einsum("yxaa->yxa", gram) * np.einsum("yxaa->yxa", inv)
    g = np.sqrt(np.clip(diag, 1.0, None))
    g[out] = 1.0
    return g.transpose(2, 0, 1).reshape(ny, nx)


def displacement_field(xs: np.ndarray, ys: np.ndarray, field_t: float, spacing_x_mm: float,
                       model: Distortion, seed: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Displacement ``(u_x, u_y)`` in mm of object points at scanner positions ``(xs, ys)``.

    - Gradient non-linearity: a radial displacement third order in the radius,
      ``u = d (r / 150 mm)**3`` along ``r`` (the leading term of the spherical-harmonic
      expansion of the gradient fields; Doran et al., Phys Med Biol 2005, 50:1343).
    - Off-resonance: a spin off resonance by ``df = gamma_bar B0 delta`` (``delta`` in ppm)
      is placed ``df / BW`` pixels away along the readout, ``BW`` the bandwidth per pixel
      (Bernstein, King and Zhou, Handbook of MRI Pulse Sequences 2004, 16.2); ``delta``
      is ``b0_ppm`` times the smooth second-order shape :func:`smooth_field` of ``seed``
      (``max |shape| = 1``), so the shift doubles from 1.5 T to 3 T. Spin-echo images show no
      intensity pile-up worth modelling at these sub-pixel shifts; none is modelled.
    """
    r = np.hypot(xs, ys)
    radial = model.gradient_mm_at_150mm * (r / 150.0) ** 3
    with np.errstate(invalid="ignore", divide="ignore"):
        ux = np.where(r > 0, radial * xs / r, 0.0)
        uy = np.where(r > 0, radial * ys / r, 0.0)
    if model.b0_ppm:
        shift_px = GAMMA_BAR_HZ_PER_T * field_t * model.b0_ppm * 1e-6 / model.bandwidth_hz_per_pixel
        ux = ux + shift_px * spacing_x_mm * smooth_field(xs, ys, 2, seed)
    return ux, uy


def distort(image: np.ndarray, ux_px: np.ndarray, uy_px: np.ndarray) -> np.ndarray:
    """Move the content of every slice of ``image`` ``(nz, ny, nx)`` by ``(ux, uy)`` pixels.

    The value at pixel ``p`` is the object's value at ``p - u(p)`` (the inverse map to first
    order, exact for the smooth sub-pixel fields modelled), interpolated by cubic splines.
    """
    ny, nx = image.shape[-2:]
    yy, xx = np.meshgrid(np.arange(ny, dtype=np.float32), np.arange(nx, dtype=np.float32), indexing="ij")
    coords = np.stack([yy - uy_px.astype(np.float32), xx - ux_px.astype(np.float32)])
    out = np.empty_like(image)
    for k in range(image.shape[0]):
        out[k] = ndimage.map_coordinates(image[k], coords, order=3, mode="nearest")
    return out


def coarse_axis(n: int, d: float, multiple: int = 1) -> np.ndarray:
    """Centres of at most 64 equal cells (a multiple of ``multiple``) spanning ``n * d`` mm."""
    m = max(min(n, _COARSE) // multiple, 1) * multiple
    width = n * d
    return -width / 2 + (np.arange(m) + 0.5) * width / m


def to_matrix(coarse: np.ndarray, ny: int, nx: int) -> np.ndarray:
    """A smooth ``(cy, cx)`` map on :func:`coarse_axis` cells, interpolated to ``(ny, nx)``."""
    cy, cx = coarse.shape
    if (cy, cx) == (ny, nx):
        return coarse
    return ndimage.zoom(coarse, (ny / cy, nx / cx), order=1, mode="nearest", grid_mode=True)
