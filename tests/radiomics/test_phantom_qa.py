"""Quality-control measures of simulated images, and the bundled scanners against the ACR's limits."""

from __future__ import annotations

import numpy as np
import pytest

from robustlab.radiomics.phantom.geometry import Grid
from robustlab.radiomics.phantom.qa import ghosting_ratio


def test_ghosting_ratio_is_the_acr_formula() -> None:
    grid = Grid(matrix=(200, 160), spacing_mm=(1.0, 1.0, 5.0), n_slices=2, mode="2D")
    x, y = np.meshgrid(grid.axis(200, 1.0), grid.axis(160, 1.0))
    image = np.zeros((2, 160, 200))
    image[:, (x / 60) ** 2 + (y / 40) ** 2 < 1] = 100.0
    image[:, np.abs(y) > 50] += 4.0          # ghosts along the phase-encoding axis
    image[:, np.abs(x) > 70] += 1.0          # a background along the readout
    # top and bottom hold 4 (and 5 in their corners, outside the bands), left and right 1
    assert ghosting_ratio(image, grid, (60.0, 40.0), half_width_mm=20.0) == pytest.approx((8 - 2) / 200)
    with pytest.raises(ValueError, match="no voxel in the left, right region"):
        ghosting_ratio(image, grid, (95.0, 40.0))
