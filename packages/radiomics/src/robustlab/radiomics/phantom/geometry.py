"""Where the phantom lies and what the scanner samples: the pose, the reconstruction grid and
the ROI plan, shared by the acquisition (:mod:`.acquisition`) and the ROI drawing
(:mod:`.roi_drawing`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pose:
    """Rigid placement of the phantom: ``s = R(rotation_deg about z) p + translation_mm``."""

    rotation_deg: float = 0.0
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def to_phantom(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Phantom-frame in-plane coordinates of scanner-frame points."""
        c, s = math.cos(math.radians(self.rotation_deg)), math.sin(math.radians(self.rotation_deg))
        dx, dy = xs - self.translation_mm[0], ys - self.translation_mm[1]
        return c * dx + s * dy, -s * dx + c * dy

    def to_scanner(self, px: float, py: float) -> tuple[float, float]:
        """Scanner-frame in-plane coordinates of one phantom-frame point."""
        c, s = math.cos(math.radians(self.rotation_deg)), math.sin(math.radians(self.rotation_deg))
        return c * px - s * py + self.translation_mm[0], s * px + c * py + self.translation_mm[1]


@dataclass(frozen=True)
class Grid:
    """The scanner's reconstruction grid, centred on the isocentre.

    Attributes:
        matrix: ``(nx, ny)``.
        spacing_mm: ``(dx, dy, dz)``; in 2D ``dz`` is the slice thickness (contiguous slices).
        n_slices: number of slices (2D) or partitions (3D).
        mode: ``"2D"`` or ``"3D"``.
        profile_edge: Gaussian edge of the 2D slice profile, relative to the thickness.
    """

    matrix: tuple[int, int]
    spacing_mm: tuple[float, float, float]
    n_slices: int
    mode: str
    profile_edge: float = 0.0

    def axis(self, n: int, d: float) -> np.ndarray:
        """Coordinates of ``n`` voxel centres of spacing ``d`` centred on 0."""
        return (np.arange(n) - (n - 1) / 2.0) * d

    @property
    def origin_mm(self) -> tuple[float, float, float]:
        """Scanner-frame ``(x, y, z)`` of the centre of voxel ``[0, 0, 0]``."""
        (nx, ny), (dx, dy, dz) = self.matrix, self.spacing_mm
        return (-(nx - 1) / 2 * dx, -(ny - 1) / 2 * dy, -(self.n_slices - 1) / 2 * dz)


@dataclass(frozen=True)
class RoiPlan:
    """Concentric ROI sizes, nested on the same slices, and the slab acquired around them.

    As the study drew them: the circles of one insert lie on the same ``roi_slices`` slices
    (every ROI of the study's released masks starts on the same slice and spans three:
    ReliabilityRadiomicsIEOFC/PhantomStudy, RadiomicFiles/*, diagnostics_Mask-original_BoundingBox).
    The slab holds ``margin_slices = (below, above)`` further slices: pyradiomics crops the image
    to an ROI's bounding box padded by ``padDistance`` (5) voxels before it filters, so these
    slices, and where the acquired volume ends, reach the filtered images' features.
    Nested circles overlap, so each size has its own label map (:func:`.roi_drawing.draw_mask`).
    The label of insert ``i`` and size ``j`` (both from 0) is ``10 * (i + 1) + (j + 1)``.

    ``step = (normal_deg, offset_mm)``: the ROI voxels beyond the in-plane line
    ``x cos(normal) + y sin(normal) > offset`` (scanner frame, mm) lie one slice higher. A stack
    of circles carried through a slightly tilted transform and resampled on the slices steps
    by one slice where the tilt passes half a slice, as vendor A's repositioned masks of the
    study do (``A15_rep3`` of ``conf/radiomics/protocol/paper.yaml``).
    """

    diameters_mm: tuple[float, ...]
    roi_slices: int
    margin_slices: tuple[int, int] = (0, 0)
    step: tuple[float, float] | None = None

    @property
    def n_slices(self) -> int:
        """Slices of the slab: the ROI's and its margins."""
        return self.margin_slices[0] + self.roi_slices + self.margin_slices[1]

    @property
    def roi_block(self) -> slice:
        """The slab's slices that hold the ROIs."""
        return slice(self.margin_slices[0], self.margin_slices[0] + self.roi_slices)

    def stepped(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Which in-plane points (scanner frame, mm) lie beyond :attr:`step`: all ``False`` without one."""
        if self.step is None:
            return np.zeros(np.broadcast(xs, ys).shape, dtype=bool)
        normal = math.radians(self.step[0])
        return xs * math.cos(normal) + ys * math.sin(normal) > self.step[1]

    def label(self, insert: int, size: int) -> int:
        """The label value of one ROI."""
        return 10 * (insert + 1) + (size + 1)
