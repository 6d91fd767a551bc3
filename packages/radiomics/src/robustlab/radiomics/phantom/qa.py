"""Quality-control measures of a simulated image, taken as a phantom QA programme takes them.

They state the size of an effect in the unit its acceptance limit is written in, so a scanner
model can be checked against that limit (tests/radiomics/test_phantom_qa.py).

- :func:`ghosting_ratio`: the ACR's ghosting ratio (ACR MRI Quality Control Manual, 2015;
  acceptance: at most 0.025).
"""

from __future__ import annotations

import numpy as np

from .geometry import Grid

__all__ = ["ghosting_ratio"]


def ghosting_ratio(image: np.ndarray, grid: Grid, semi_axes_mm: tuple[float, float],
                   gap_mm: float = 10.0, half_width_mm: float = 40.0, inner: float = 0.85) -> float:
    """The ACR ghosting ratio of an image of an elliptic phantom centred on the isocentre.

    ``|(top + bottom) - (left + right)| / (2 large)``: the mean signal of background regions
    beside the phantom along the phase-encoding axis ``y`` (top, bottom; where the ghosts of a
    phase error fall) and along the readout ``x`` (left, right; where they do not), against the
    mean signal inside the phantom (ACR MRI Quality Control Manual, 2015, "Percent-signal
    ghosting"). The regions here: ``large`` the ellipse of ``inner`` times the phantom's
    semi-axes; ``top``/``bottom`` beyond ``|y| > b + gap_mm`` within ``|x| < half_width_mm``;
    ``left``/``right`` beyond ``|x| > a + gap_mm`` within ``|y| < half_width_mm``, out to the
    field of view's edge.

    Args:
        image: ``(slices, ny, nx)`` magnitude image (noise-free, or the ratio carries the noise
            floor's bias equally on both axes).
        grid: its reconstruction grid.
        semi_axes_mm: the phantom's ``(a, b)`` along ``x`` and ``y``.
        gap_mm: distance kept from the phantom's edge.
        half_width_mm: half the width of each background band.
        inner: the large region's share of the semi-axes.

    Returns:
        The ratio (the ACR accepts at most 0.025).
    """
    (nx, ny), (dx, dy, _) = grid.matrix, grid.spacing_mm
    x, y = np.meshgrid(grid.axis(nx, dx), grid.axis(ny, dy))
    a, b = semi_axes_mm
    regions = {
        "top": (y < -(b + gap_mm)) & (np.abs(x) < half_width_mm),
        "bottom": (y > b + gap_mm) & (np.abs(x) < half_width_mm),
        "left": (x < -(a + gap_mm)) & (np.abs(y) < half_width_mm),
        "right": (x > a + gap_mm) & (np.abs(y) < half_width_mm),
        "large": (x / (inner * a)) ** 2 + (y / (inner * b)) ** 2 < 1.0,
    }
    empty = [name for name, m in regions.items() if not m.any()]
    if empty:
        raise ValueError(f"ghosting_ratio: no voxel in the {', '.join(empty)} region "
                         f"(field of view {nx * dx:.0f} x {ny * dy:.0f} mm, phantom semi-axes {a} x {b} mm)")
    mean = {name: float(image[:, m].mean()) for name, m in regions.items()}
    return abs(mean["top"] + mean["bottom"] - mean["left"] - mean["right"]) / (2.0 * mean["large"])
