"""Quality-control measures of simulated images, and the bundled scanners against the ACR's limits."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from robustlab.radiomics.phantom import load_config, plan_study, simulate_acquisitions
from robustlab.radiomics.phantom.geometry import Grid
from robustlab.radiomics.phantom.qa import ghosting_ratio

FIRST_SCANS = ("A15_rep1", "B15_rep1", "B30_rep1")


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


def _ratios(protocol: dict[str, Any], seed: int, ids: list[str]) -> dict[str, float]:
    plan = plan_study(protocol, dict(load_config("phantom", "pelvic")), seed)
    images = simulate_acquisitions(plan, ids, noise_free=True)
    return {a: ghosting_ratio(images[a].noise_free, plan.acquisitions[a].grid, plan.phantom.semi_axes_mm)
            for a in ids}


def test_bundled_scanners_ghost_within_the_acr_limit() -> None:
    """The paper protocol's scanners with ghosting, noise-free: their ghosts show, and their
    median ratio over seven series (one phase draw each) is within the ACR's 0.025."""
    protocol = copy.deepcopy(load_config("protocol", "paper"))
    plan = plan_study(protocol, dict(load_config("phantom", "pelvic")), 1)
    ghosted = [a for a in FIRST_SCANS if plan.acquisitions[a].scanner.ghosting.active]
    assert ghosted, "no bundled scanner of the paper protocol has ghosting"
    ratios = [_ratios(protocol, seed, ghosted) for seed in range(1, 8)]
    for name, scanner in protocol["scanners"].items():
        entry = {"base": scanner} if isinstance(scanner, str) else scanner
        protocol["scanners"][name] = {**entry, "ghosting": {"phase_sd_rad": 0.0, "shots": 1}}
    without = _ratios(protocol, 1, ghosted)
    for a in ghosted:
        median = float(np.median([r[a] for r in ratios]))
        assert median <= 0.025, (a, median)
        assert median > 3 * without[a], (a, median, without[a])
