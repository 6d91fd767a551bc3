"""The operator's ROI drawing: circles on each insert, with the errors of a drawing and its operator.

- :func:`ideal_circles`: the circles centred on each insert where it lies in a pose.
- :func:`drawn_circles`: an operator's circles for one drawing (:class:`RoiDrawing`): a
  per-drawing and a per-operator error (the ROI a new operator redraws is not the one the
  first drew).
- :func:`draw_mask`: the label maps (one per ROI size) of a set of circles on a reconstruction grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from robustlab.radiomics.phantom.geometry import Grid, Pose, RoiPlan
    from robustlab.radiomics.phantom.model import PhantomSpec


@dataclass(frozen=True)
class RoiDrawing:
    """How far an operator's drawn ROI circles lie from the ideal ones.

    Attributes:
        centre_sd_mm: standard deviation of each drawn circle's centre, per axis; drawn anew
            for every drawing (a session's mask).
        radius_sd_mm: standard deviation of each drawn circle's radius, per drawing.
        operator_radius_sd_mm: standard deviation of each operator's systematic radius
            offset (one operator draws every circle a little larger than another).
    """

    centre_sd_mm: float = 0.0
    radius_sd_mm: float = 0.0
    operator_radius_sd_mm: float = 0.0


def ideal_circles(spec: PhantomSpec, pose: Pose, rois: RoiPlan) -> np.ndarray:
    """ROI circles centred on each insert's true centre in ``pose``: ``(n_inserts, n_sizes, 3)``.

    Each entry is the scanner-frame centre ``(x, y)`` and the radius, in mm.
    """
    out = np.empty((len(spec.inserts), len(rois.diameters_mm), 3))
    for i, ins in enumerate(spec.inserts):
        out[i, :, :2] = pose.to_scanner(*ins.centre_mm)
        out[i, :, 2] = np.asarray(rois.diameters_mm) / 2
    return out


def draw_mask(grid: Grid, circles: np.ndarray, rois: RoiPlan) -> np.ndarray:
    """The label maps ``(n_sizes, nz, ny, nx)`` of ``circles`` (:func:`ideal_circles`) at voxel centres.

    Map ``j`` holds ROI size ``j`` of every insert ``i``: the voxels whose centre lies in its
    circle, on the ROI slices (:attr:`RoiPlan.roi_block`; one slice higher beyond the plan's
    :attr:`RoiPlan.step`), with the label :meth:`RoiPlan.label`.
    """
    (nx, ny), (dx, dy, _) = grid.matrix, grid.spacing_mm
    cx, cy = np.meshgrid(grid.axis(nx, dx), grid.axis(ny, dy))
    stepped = rois.stepped(cx, cy)
    block = rois.roi_block
    higher = slice(block.start + 1, block.stop + 1)
    mask = np.zeros((circles.shape[1], grid.n_slices, ny, nx), dtype=np.int16)
    for i in range(circles.shape[0]):
        for j in range(circles.shape[1]):
            x, y, r = circles[i, j]
            inside = (cx - x) ** 2 + (cy - y) ** 2 <= r**2
            mask[j, block][:, inside & ~stepped] = rois.label(i, j)
            mask[j, higher][:, inside & stepped] = rois.label(i, j)
    return mask


def drawn_circles(ideal: np.ndarray, insert_radii: np.ndarray, drawing: RoiDrawing,
                  session_rng: np.random.Generator, operator_rng: np.random.Generator,
                  min_radius_mm: float) -> np.ndarray:
    """An operator's circles for one drawing: the ideal ``(x, y, r)`` plus drawing errors.

    ``ideal`` is ``(n_inserts, n_sizes, 3)`` (scanner-frame centre and radius, mm). Each
    circle's centre moves by ``N(0, centre_sd**2)`` per axis and its radius by
    ``N(0, radius_sd**2)`` plus the operator's systematic offset ``N(0, operator_sd**2)``
    (one draw per operator). Manual delineation differs between and within observers in this
    way, and radiomic features follow it (Pavic et al., Acta Oncol 2018, 57:1070). A circle is
    kept inside its insert (``|offset| + r <= insert radius``) and at least ``min_radius_mm``.
    """
    n_ins, n_sizes, _ = ideal.shape
    bias = drawing.operator_radius_sd_mm * operator_rng.standard_normal()
    draw = session_rng.standard_normal((n_ins, n_sizes, 3))
    out = ideal.copy()
    out[..., 0] += drawing.centre_sd_mm * draw[..., 0]
    out[..., 1] += drawing.centre_sd_mm * draw[..., 1]
    offset = np.hypot(out[..., 0] - ideal[..., 0], out[..., 1] - ideal[..., 1])
    radius = ideal[..., 2] + bias + drawing.radius_sd_mm * draw[..., 2]
    out[..., 2] = np.clip(radius, min_radius_mm, insert_radii[:, None] - offset)
    return out
