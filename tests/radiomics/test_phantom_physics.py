"""Physics of the digital phantom: T2 decay, SNR scaling, noise of repeats, masks after repositioning."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from robustlab.radiomics.phantom import load_config, plan_study, simulate_acquisitions
from robustlab.radiomics.phantom.protocol import NoiseModel

SCALE = 0.25


def small_phantom() -> dict[str, Any]:
    """The pelvic phantom with a short length, so that its textures are quick to build."""
    phantom = copy.deepcopy(load_config("phantom", "pelvic"))
    phantom["length_mm"] = 24.0
    return phantom


def protocol(acquisitions: dict[str, Any], scanners: dict[str, Any] | None = None,
             **extra: Any) -> dict[str, Any]:
    """A one-ROI-size, one-slice protocol on a quarter-size phantom."""
    base = {"base": "vendor_a_1p5t"}
    return {
        "name": "physics",
        "scale": SCALE,
        "roi": {"diameters_mm": [48.0], "slices_2d": 1, "length_3d_mm": 5.0},
        "noise": {"snr_reference": 250.0, "reference_field_t": 1.5,
                  "reference_voxel_mm3": 1.953125, "field_exponent": 1.0},
        "scanners": scanners or {"S": base},
        "acquisition_defaults": {"scanner": "S", "te_ms": 100.0, "tr_ms": 5000.0, "session": "one"},
        "acquisitions": acquisitions,
        "comparisons": [],
        **extra,
    }


def interior(region: np.ndarray, margin: int) -> np.ndarray:
    """``region`` eroded by ``margin`` voxels in-plane (away from edges and Gibbs ringing)."""
    return ndimage.binary_erosion(region, iterations=margin)


def test_mean_roi_signal_follows_configured_t2() -> None:
    phantom = small_phantom()
    tes = [60.0, 80.0, 100.0, 120.0, 140.0]
    plan = plan_study(protocol({f"te{int(te)}": {"te_ms": te} for te in tes}), phantom, seed=3)
    sims = simulate_acquisitions(plan)
    # the echo train's refocusing angle mixes T1 into the decay (Tissue.signal)
    half = np.radians(plan.acquisitions["te60"].scanner.refocusing_deg) / 2
    for i, ins in enumerate(plan.phantom.inserts):
        label = plan.rois.label(i, 0)
        means = [sims[f"te{int(te)}"].image[sims[f"te{int(te)}"].mask[0] == label].mean() for te in tes]
        slope = np.polyfit(tes, np.log(means), 1)[0]
        t2 = -1.0 / slope
        expected = 1.0 / (np.sin(half) ** 2 / ins.tissue.t2_ms + np.cos(half) ** 2 / ins.tissue.t1_at(1.5))
        assert t2 == pytest.approx(expected, rel=0.05), ins.name


def _snr(sims: dict[str, Any], a: str, b: str, region: np.ndarray) -> float:
    """SNR by the difference method: mean of the pair over sd(difference) / sqrt(2)."""
    ia, ib = sims[a].image[0], sims[b].image[0]
    signal = 0.5 * (ia + ib)[region].mean()
    noise = (ia - ib)[region].std() / np.sqrt(2.0)
    return float(signal / noise)


def test_snr_ratio_3t_over_1p5t_and_voxel_volume_match_the_model() -> None:
    phantom = small_phantom()
    # one receive array, fully corrected (uniform), so that only B0 and the voxel differ
    coil = {"elements": 8, "ellipse_mm": [165.0, 125.0], "loop_radius_mm": 80.0, "correction": 1.0}
    # the receive chain and reconstruction this check was written for, pinned (the scanner
    # file's fitted values change): at full k-space the difference-method SNR of the thin
    # slices departs from the volume law by about 30 % (an open question, see the phantom docs)
    quiet = {"base": "vendor_a_1p5t", "coil": coil, "snr_factor": 60.0, "kspace_fraction": [0.5, 0.4],
             "recon_filter": {"name": "hamming", "alpha": 0.54}}
    scanners = {
        "S15": quiet,
        "S30": {**quiet, "field_strength": 3.0},
        "S15_thin": {**quiet, "voxel_mm": [0.625, 0.625, 2.75]},
    }
    acqs = {f"{s}_{r}": {"scanner": s, "session": "one"} for s in scanners for r in (1, 2)}
    plan = plan_study(protocol(acqs, scanners), phantom, seed=5)
    sims = simulate_acquisitions(plan)
    filling = interior(sims["S15_1"].truth == 0, 6)
    # the filling: inside the gel, outside every insert, away from every edge
    body = plan.phantom.inner_semi_axes_mm
    (nx, ny), (dx, dy, _) = plan.acquisitions["S15_1"].grid.matrix, plan.acquisitions["S15_1"].grid.spacing_mm
    x = (np.arange(nx) - (nx - 1) / 2) * dx
    y = (np.arange(ny) - (ny - 1) / 2) * dy
    inside = (x[None, :] / body[0]) ** 2 + (y[:, None] / body[1]) ** 2 < 0.6
    region = filling & interior(inside, 2)
    assert region.sum() > 500
    snr = {s: _snr(sims, f"{s}_1", f"{s}_2", region) for s in scanners}
    fill = plan.phantom.filling
    noise: NoiseModel = plan.noise
    model = {s: fill.signal(100.0, 5000.0, plan.acquisitions[f"{s}_1"].scanner.field_t)
             / noise.sigma(plan.acquisitions[f"{s}_1"].scanner, plan.acquisitions[f"{s}_1"].grid.spacing_mm)
             for s in scanners}
    assert snr["S30"] / snr["S15"] == pytest.approx(model["S30"] / model["S15"], rel=0.10)
    assert snr["S15_thin"] / snr["S15"] == pytest.approx(model["S15_thin"] / model["S15"], rel=0.10)
    # the model itself: about linear in B0 (times the T1 effect on the signal), linear in volume
    assert model["S15_thin"] / model["S15"] == pytest.approx(0.5)
    assert 1.8 < model["S30"] / model["S15"] < 2.0


def test_repeat_in_the_same_pose_differs_only_by_noise_of_the_configured_level() -> None:
    phantom = small_phantom()
    plan = plan_study(protocol({"rep1": {}, "rep2": {}}), phantom, seed=7)
    sims = simulate_acquisitions(plan, noise_free=True)
    a, b = sims["rep1"], sims["rep2"]
    np.testing.assert_array_equal(a.noise_free, b.noise_free)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert not np.array_equal(a.image, b.image)
    region = interior(a.noise_free[0] > 0.3 * a.noise_free.max(), 4)
    diff = (b.image - a.image)[0][region]
    sigma = diff.std() / np.sqrt(2.0)
    assert sigma == pytest.approx(a.noise_sigma, rel=0.05)
    assert abs(diff.mean()) < 4 * diff.std() / np.sqrt(diff.size)
    # the difference carries no structure of the object
    corr = np.corrcoef(diff, a.noise_free[0][region])[0, 1]
    assert abs(corr) < 0.05


def test_masks_follow_the_pose_inside_their_insert() -> None:
    phantom = small_phantom()
    poses = {"first": {"rotation_deg": 0.0, "translation_mm": [0.0, 0.0, 0.0]},
             "moved": {"rotation_deg": 12.0, "translation_mm": [4.5, -3.2, 1.0]}}
    acqs = {"rep1": {"session": "first"}, "rep3": {"session": "moved"}}
    plan = plan_study(protocol(acqs, poses=poses), phantom, seed=11)
    sims = simulate_acquisitions(plan)
    first, moved = sims["rep1"], sims["rep3"]
    assert not np.array_equal(first.mask, moved.mask)
    pose = plan.acquisitions["rep3"].pose
    (nx, ny), (dx, dy, _) = plan.acquisitions["rep3"].grid.matrix, plan.acquisitions["rep3"].grid.spacing_mm
    for i, ins in enumerate(plan.phantom.inserts):
        label = plan.rois.label(i, 0)
        roi = moved.mask[0, 0] == label  # the largest size, first slice
        assert roi.sum() > 50
        inside = (moved.truth[roi] == i + 1).mean()
        assert inside >= 0.99, (ins.name, inside)
        # the circle is centred on the insert's centre in the new pose
        yy, xx = np.nonzero(roi)
        centre = ((xx.mean() - (nx - 1) / 2) * dx, (yy.mean() - (ny - 1) / 2) * dy)
        expected = pose.to_scanner(*ins.centre_mm)
        assert np.hypot(centre[0] - expected[0], centre[1] - expected[1]) < dx


def test_each_series_has_its_own_noise_level_with_the_configured_spread() -> None:
    ids = {f"s{k}": {} for k in range(400)}
    noise = protocol({})["noise"]
    plain = plan_study(protocol(ids), small_phantom(), seed=4)
    varied = plan_study(protocol(ids, noise={**noise, "series_sd": 0.25}), small_phantom(), seed=4)
    assert len({a.sigma for a in plain.acquisitions.values()}) == 1  # series_sd 0: the model's level
    ratio = np.log([varied.acquisitions[k].sigma / plain.acquisitions[k].sigma for k in ids])
    assert abs(ratio.std() - 0.25) < 0.03 and abs(ratio.mean()) < 0.04
    again = plan_study(protocol(ids, noise={**noise, "series_sd": 0.25}), small_phantom(), seed=4)
    assert all(again.acquisitions[k].sigma == varied.acquisitions[k].sigma for k in ids)  # per seed and id


def test_a_share_of_set_ups_slips_by_the_configured_scale() -> None:
    from robustlab.radiomics.phantom.protocol import parse_repositioning, session_pose

    sds = {"translation_sd_mm": [1.0, 1.0, 0.5], "rotation_sd_deg": 0.5}
    slipping = parse_repositioning({**sds, "slip": {"probability": 0.3, "scale": 10.0}})
    plain = np.array([session_pose(f"s{k}", parse_repositioning(sds), {}, 7).translation_mm for k in range(2000)])
    mixed = np.array([session_pose(f"s{k}", slipping, {}, 7).translation_mm for k in range(2000)])
    factor = mixed[:, 0] / plain[:, 0]  # the same Gaussian draw, scaled or not
    slipped = np.isclose(factor, 10.0)
    assert np.all(slipped | np.isclose(factor, 1.0))
    assert abs(slipped.mean() - 0.3) < 0.04
    for bad, key in (({"probability": 1.5, "scale": 2.0}, "slip.probability"), ({"probability": 0.2}, "slip.scale")):
        with pytest.raises(ValueError, match=key):
            parse_repositioning({**sds, "slip": bad})


def test_a_columnar_texture_is_coherent_along_z_and_keeps_its_in_plane_grain_size() -> None:
    """``scale_z_mm`` lengthens the grains along the insert's axis only: the correlation of the
    field two millimetres apart along z rises, the in-plane one stays that of ``scale_mm``."""
    from robustlab.radiomics.phantom.textures import granular_field

    def lag_correlation(field: np.ndarray, axis: int, lag: int) -> float:
        a = np.moveaxis(field, axis, 0)
        return float(np.corrcoef(a[:-lag].ravel(), a[lag:].ravel())[0, 1])

    shape, spacing = (64, 64, 64), (0.5, 0.25, 0.25)
    iso = granular_field(shape, spacing, 1.0, 0.4, np.random.default_rng(0))
    columnar = granular_field(shape, spacing, (10.0, 1.0, 1.0), 0.4, np.random.default_rng(0))
    assert abs(columnar.mean() - 0.4) < 0.05 and abs(iso.mean() - 0.4) < 0.05
    assert lag_correlation(iso, 0, 4) < 0.2 < 0.8 < lag_correlation(columnar, 0, 4)   # 2 mm along z
    assert abs(lag_correlation(columnar, 2, 4) - lag_correlation(iso, 2, 4)) < 0.1     # 1 mm in plane


def test_scale_z_mm_is_read_from_the_phantom_file_and_checked() -> None:
    from robustlab.common.errors import ConfigError
    from robustlab.radiomics.phantom.model import parse_phantom

    phantom = small_phantom()
    phantom["inserts"][0]["texture"]["components"][0]["scale_z_mm"] = 12.0
    del phantom["inserts"][1]["texture"]["components"][0]["scale_z_mm"]
    spec = parse_phantom(phantom)
    assert spec.inserts[0].components[0].scale_z_mm == 12.0 and spec.inserts[1].components[0].scale_z_mm is None
    phantom["inserts"][0]["texture"]["components"][0]["scale_z_mm"] = -1.0
    with pytest.raises(ConfigError, match=r"inserts\[0\].*scale_z_mm"):
        parse_phantom(phantom)
