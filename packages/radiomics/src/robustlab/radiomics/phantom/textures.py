"""Granular textures: 3D volume-fraction fields of the grains of each insert.

A component's field is Gaussian-filtered white noise (correlation length ``scale_mm`` in the
cross-section, ``scale_z_mm`` along the insert's axis),
and thresholded at the Gaussian quantile that leaves the configured volume ``fraction`` of
grains: a two-phase random medium, the "clipped Gaussian"
model of porous and granular materials (Teubner, Europhys Lett 1991, 14:403). Several
components in one insert make a mixed texture; a later component fills only the space the
earlier ones leave, so the fractions of a voxel never sum above one.

The fields live on a fixed grid in the phantom frame (one per insert, covering its cross-section
and the phantom length), so every acquisition and every pose sees the same material.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from scipy.special import ndtri

from robustlab.radiomics.phantom.model import Insert, PhantomSpec


@dataclass(frozen=True)
class TextureVolume:
    """Grain fractions of one insert on its phantom-frame grid.

    Attributes:
        fractions: ``(nz, n_components, ny, nx)`` float32 volume fractions in [0, 1] (z first,
            so that the planes of one slice are contiguous).
        origin_mm: phantom-frame ``(x, y, z)`` of the centre of voxel ``[0, 0, 0]``.
        spacing_mm: ``(dx, dy, dz)``.
    """

    fractions: np.ndarray
    origin_mm: tuple[float, float, float]
    spacing_mm: tuple[float, float, float]


def granular_field(
    shape: tuple[int, int, int],
    spacing_mm: tuple[float, float, float],
    scale_mm: float | tuple[float, float, float],
    fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """One clipped-Gaussian grain field.

    Args:
        shape: ``(nz, ny, nx)``.
        spacing_mm: ``(dz, dy, dx)``.
        scale_mm: correlation length, one for every axis or ``(z, y, x)``; the Gaussian filter
            has ``sigma = scale_mm / 2`` along each axis.
        fraction: expected volume fraction of grains.
        rng: the generator of the white noise.

    Returns:
        float32 array of ``shape``, 1 in the grains and 0 elsewhere: ``g > q * sd(g)`` with
        ``g`` the filtered unit white noise and ``q = Phi^-1(1 - fraction)``. The standard
        deviation is the exact one of filtered white noise, ``sqrt(mean(|G|**2))`` over the
        full spectrum of the filter ``G``, so no pass over the volume is needed for it.
    """
    noise = rng.standard_normal(shape, dtype=np.float32)
    spectrum = scipy.fft.rfftn(noise, workers=-1)
    del noise
    scales = tuple(scale_mm) if isinstance(scale_mm, tuple) else (float(scale_mm),) * 3
    # Gaussian transfer function exp(-2 pi^2 sigma^2 f^2), separable over the three axes.
    gain = np.ones(1, dtype=np.float32)
    variance = 1.0
    for axis, (n, d, scale) in enumerate(zip(shape, spacing_mm, scales, strict=True)):
        sigma = scale / 2.0
        full = np.exp(-2.0 * np.pi**2 * sigma**2 * scipy.fft.fftfreq(n, d) ** 2)
        variance *= float(np.mean(full**2))
        g = full[: n // 2 + 1] if axis == 2 else full
        gain = gain[..., None] * g.astype(np.float32) if axis else g.astype(np.float32)
    spectrum *= gain
    field = scipy.fft.irfftn(spectrum, s=shape, workers=-1, overwrite_x=True)
    threshold = float(ndtri(1.0 - fraction)) * np.sqrt(variance)
    return (field > threshold).astype(np.float32)


def insert_texture(insert: Insert, spec: PhantomSpec, rng: np.random.Generator) -> TextureVolume:
    """The grain fractions of ``insert`` over its cross-section and the phantom length."""
    h_xy, h_z = spec.resolution_mm
    half = insert.radius_mm + 2 * h_xy
    # FFT-friendly sizes (a prime length would make the filtering many times slower).
    n_xy = scipy.fft.next_fast_len(int(np.ceil(2 * half / h_xy)) + 1, real=True)
    n_z = scipy.fft.next_fast_len(int(np.ceil(spec.length_mm / h_z)) + 1, real=True)
    shape = (n_z, n_xy, n_xy)
    fields = []
    free = np.ones(shape, dtype=np.float32)
    for comp in insert.components:
        scale_z = comp.scale_mm if comp.scale_z_mm is None else comp.scale_z_mm
        f = granular_field(shape, (h_z, h_xy, h_xy), (scale_z, comp.scale_mm, comp.scale_mm),
                           comp.fraction, rng)
        f *= free
        free -= f
        fields.append(f)
    origin = (insert.centre_mm[0] - (n_xy - 1) / 2 * h_xy,
              insert.centre_mm[1] - (n_xy - 1) / 2 * h_xy,
              -(n_z - 1) / 2 * h_z)
    return TextureVolume(np.stack(fields, axis=1), origin, (h_xy, h_xy, h_z))


def build_textures(spec: PhantomSpec, seed: int) -> list[TextureVolume]:
    """Texture volumes of every insert, each from its own stream of ``seed``."""
    return [
        insert_texture(ins, spec, np.random.default_rng(np.random.SeedSequence([seed, 1, i])))
        for i, ins in enumerate(spec.inserts)
    ]
