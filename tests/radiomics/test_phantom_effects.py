"""Between-scanner effects of the simulator: bias field, apodisation, g-factor, distortion, ROI redrawing."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import scipy.fft
from scipy import ndimage

from robustlab.common.errors import ConfigError
from robustlab.radiomics.phantom import (
    load_config,
    plan_study,
    simulate_acquisitions,
    study_folder_name,
)
from robustlab.radiomics.phantom import simulate as simulate_module
from robustlab.radiomics.phantom.acquisition import FILTERS, reconstruct
from robustlab.radiomics.phantom.roi_drawing import RoiDrawing, drawn_circles
from robustlab.radiomics.phantom.scanner_effects import (
    GAMMA_BAR_HZ_PER_T,
    Distortion,
    Ghosting,
    Nonuniformity,
    displacement_field,
    distort,
    gfactor_map,
    ghost_phases,
    nonuniformity_field,
)

SCALE = 0.25


def small_protocol(acquisitions: dict[str, Any], scanner: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One ROI size on one slice, a quarter-size phantom, one scanner ``S``."""
    return {
        "name": "effects", "scale": SCALE,
        "roi": {"diameters_mm": [48.0, 24.0], "slices_2d": 1, "length_3d_mm": 5.0},
        "noise": {"snr_reference": 250.0, "reference_field_t": 1.5,
                  "reference_voxel_mm3": 1.953125, "field_exponent": 1.0},
        "scanners": {"S": {"base": "vendor_a_1p5t", **scanner}},
        "acquisition_defaults": {"scanner": "S", "te_ms": 100.0, "tr_ms": 5000.0},
        "acquisitions": acquisitions, "comparisons": [], **extra,
    }


def small_phantom() -> dict[str, Any]:
    phantom = copy.deepcopy(load_config("phantom", "pelvic"))
    phantom["length_mm"] = 24.0
    return phantom


# --------------------------------------------------------------------------- bias field


@pytest.mark.parametrize("order", [1, 2, 3])
def test_nonuniformity_is_smooth_and_within_its_amplitude(order: int) -> None:
    amplitude = 0.2
    axis = tuple(np.arange(-200.0, 200.01, 1.0))
    log_b = np.log(nonuniformity_field((axis, axis), Nonuniformity(amplitude, order), (0, 5, order)))
    # within the amplitude, and reaching it over the +-200 mm square
    assert np.abs(log_b).max() <= amplitude * 1.001
    assert np.abs(log_b).max() >= amplitude * 0.99
    # smooth: Markov's inequality for a polynomial of degree n on [-1, 1] bounds its slope by
    # n**2 max|p|, i.e. order**2 * amplitude / 200 per mm (float32 round-off aside)
    slope = max(np.abs(np.diff(log_b, axis=0)).max(), np.abs(np.diff(log_b, axis=1)).max())
    assert slope <= order**2 * amplitude / 200.0 + 1e-6
    # and not flat: a field that varies
    assert log_b.std() > 0.1 * amplitude


def test_nonuniformity_differs_between_scanners_and_is_off_at_zero_amplitude() -> None:
    axis = tuple(np.linspace(-150.0, 150.0, 64))
    a = nonuniformity_field((axis, axis), Nonuniformity(0.1, 2), (0, 5, 1))
    b = nonuniformity_field((axis, axis), Nonuniformity(0.1, 2), (0, 5, 2))
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(nonuniformity_field((axis, axis), Nonuniformity(0.0, 2), (0, 5, 1)), 1.0)


def test_a_scanners_gradient_is_the_same_at_every_seed_and_adds_to_the_drawn_field() -> None:
    xs, ys = tuple(np.linspace(-100.0, 100.0, 41)), tuple(np.linspace(-80.0, 80.0, 33))
    ramp = Nonuniformity(0.0, 3, (0.12, -0.05))
    log_b = np.log(nonuniformity_field((xs, ys), ramp, (0, 5, 1)).astype(float))
    # log b = (0.12 x - 0.05 y) / 100 mm: 24 % brighter per 200 mm to the right, at any seed
    expected = (0.12 * np.asarray(xs)[None, :] - 0.05 * np.asarray(ys)[:, None]) / 100.0
    np.testing.assert_allclose(log_b, expected, atol=1e-6)
    np.testing.assert_array_equal(nonuniformity_field((xs, ys), ramp, (7, 5, 1)),
                                  nonuniformity_field((xs, ys), ramp, (0, 5, 1)))
    drawn = np.log(nonuniformity_field((xs, ys), Nonuniformity(0.2, 3), (0, 5, 1)).astype(float))
    both = np.log(nonuniformity_field((xs, ys), Nonuniformity(0.2, 3, (0.12, -0.05)), (0, 5, 1)).astype(float))
    np.testing.assert_allclose(both, drawn + expected, atol=1e-5)


# --------------------------------------------------------------------------- apodisation


@pytest.mark.parametrize("name,params", [("hamming", {"alpha": 0.54}), ("fermi", {"radius": 0.6, "width": 0.05})])
def test_apodisation_lowers_high_frequency_power_and_keeps_low(name: str, params: dict[str, float]) -> None:
    obj = np.random.default_rng(0).standard_normal((1, 128, 128)).astype(np.float32) + 5.0
    rng = np.random.default_rng(1)

    def power(filter_name: str, **kw: float) -> np.ndarray:
        filt = FILTERS.get(filter_name)
        _, clean = reconstruct(obj, (1, 2), (1.0, 1.0), lambda c: filt(c, **kw), 0.01, rng, noise_free=True)
        return np.abs(scipy.fft.fft2(clean[0] - clean[0].mean())) ** 2

    plain, apodised = power("none"), power(name, **params)
    f = np.hypot(*np.meshgrid(scipy.fft.fftfreq(128), scipy.fft.fftfreq(128)))
    high, low = f > 0.35, (f > 0) & (f < 0.05)
    assert apodised[high].sum() < 0.5 * plain[high].sum()
    assert apodised[low].sum() == pytest.approx(plain[low].sum(), rel=0.1)


# --------------------------------------------------------------------------- ghosting


def test_each_shot_has_one_phase_error_drawn_per_series() -> None:
    ghosting = Ghosting(phase_sd_rad=0.1, shots=8)
    phases = ghost_phases(64, ghosting, np.random.default_rng(0))
    ky = np.rint(np.fft.fftfreq(64) * 64).astype(int)
    for s in range(8):  # the lines of one shot share its error
        assert np.ptp(phases[np.mod(ky, 8) == s]) == 0
    assert len(np.unique(phases)) == 8
    np.testing.assert_array_equal(phases, ghost_phases(64, ghosting, np.random.default_rng(0)))
    many = ghost_phases(4096, Ghosting(0.1, 4096), np.random.default_rng(1))
    assert many.std() == pytest.approx(0.1, rel=0.05)
    assert not Ghosting(0.0, 8).active and not Ghosting(0.1, 1).active


def test_shot_phase_errors_replicate_the_object_every_fov_over_shots() -> None:
    obj = np.zeros((1, 64, 32), dtype=np.float32)
    obj[0, 10, 5] = 1.0  # a point: its ghosts are the replicas
    phases = ghost_phases(64, Ghosting(0.3, 8), np.random.default_rng(2))
    rng = np.random.default_rng(3)
    image, clean = reconstruct(obj, (1, 2), (1.0, 1.0), FILTERS.get("none"), 0.0, rng,
                               noise_free=True, line_phase=phases)
    rows = np.nonzero(clean[0].max(axis=1) > 1e-6)[0]
    assert set(rows) <= {(10 + 8 * m) % 64 for m in range(8)} and len(rows) > 1
    assert np.nonzero(clean[0].max(axis=0) > 1e-6)[0].tolist() == [5]  # only along y
    # a phase-only error keeps the energy; the ghosts hold 1 - |mean exp(i phi_s)|^2 of it
    assert (clean[0] ** 2).sum() == pytest.approx(1.0, rel=1e-5)
    kept = abs(np.exp(1j * phases[:8]).mean()) ** 2
    assert clean[0, 10, 5] ** 2 == pytest.approx(kept, rel=1e-4)
    _, plain = reconstruct(obj, (1, 2), (1.0, 1.0), FILTERS.get("none"), 0.0, rng, noise_free=True)
    assert plain[0, 10, 5] == pytest.approx(1.0, rel=1e-5)


# --------------------------------------------------------------------------- parallel imaging


def test_gfactor_is_one_without_acceleration_and_with_separable_coils() -> None:
    ny, nx = 8, 4
    sens = np.zeros((2, ny, nx))
    sens[0, : ny // 2] = 1.0  # each coil sees one of the two aliased halves only
    sens[1, ny // 2:] = 1.0
    support = np.ones((ny, nx), dtype=bool)
    np.testing.assert_allclose(gfactor_map(sens, support, 1), 1.0)
    np.testing.assert_allclose(gfactor_map(sens, support, 2), 1.0)
    # overlapping sensitivities cannot be unfolded for free
    sens[0] += 0.5
    assert gfactor_map(sens, support, 2).min() > 1.05
    # a pixel that folds onto no other pixel of the support keeps g = 1
    support[ny // 2:] = False
    np.testing.assert_allclose(gfactor_map(sens, support, 2), 1.0)


def test_gfactor_map_raises_the_noise_std_by_g_sqrt_r() -> None:
    plan = plan_study(small_protocol({"rep1": {"session": "one"}, "rep2": {"session": "one"}},
                                     {"parallel_imaging": {"acceleration": 2}}), small_phantom(), seed=4)
    sims = simulate_acquisitions(plan, noise_free=True)
    a, b = sims["rep1"], sims["rep2"]
    amp = a.noise_amplification
    assert amp is not None and amp.shape == a.image.shape[1:]
    region = ndimage.binary_erosion(a.noise_free[0] > 0.3 * a.noise_free.max(), iterations=4)
    assert amp[region].min() >= np.sqrt(2.0) * 0.999  # g >= 1
    assert amp[region].max() > 1.02 * np.sqrt(2.0)  # and above 1 somewhere on the body
    diff = (b.image - a.image)[0]
    # the noise where it is amplified most and least: std / amplification equals sigma in both
    hi = region & (amp >= np.quantile(amp[region], 0.75))
    lo = region & (amp <= np.quantile(amp[region], 0.25))
    for part in (hi, lo):
        measured = diff[part].std() / np.sqrt(2.0)
        assert measured == pytest.approx(a.noise_sigma * amp[part].mean(), rel=0.06)


# --------------------------------------------------------------------------- distortion


def test_gradient_distortion_is_cubic_in_the_radius_and_off_resonance_scales_with_b0() -> None:
    model = Distortion(gradient_mm_at_150mm=1.2, b0_ppm=0.0)
    xs = np.array([150.0, 75.0, 0.0, 0.0])
    ys = np.array([0.0, 0.0, -150.0, 0.0])
    ux, uy = displacement_field(xs, ys, 1.5, 0.6, model, (0, 6, 1))
    np.testing.assert_allclose(ux, [1.2, 1.2 / 8, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(uy, [0.0, 0.0, -1.2, 0.0], atol=1e-12)
    off = Distortion(gradient_mm_at_150mm=0.0, b0_ppm=1.0, bandwidth_hz_per_pixel=200.0)
    grid = np.linspace(-200.0, 200.0, 81)
    gx, gy = np.meshgrid(grid, grid)
    ux15, uy15 = displacement_field(gx, gy, 1.5, 0.6, off, (0, 6, 1))
    ux30, _ = displacement_field(gx, gy, 3.0, 0.6, off, (0, 6, 1))
    np.testing.assert_allclose(uy15, 0.0)  # along the readout (x) only
    np.testing.assert_allclose(ux30, 2.0 * ux15)
    # largest shift: gamma_bar B0 ppm / bandwidth pixels
    assert np.abs(ux15).max() == pytest.approx(GAMMA_BAR_HZ_PER_T * 1.5e-6 / 200.0 * 0.6, rel=0.02)


def test_distort_moves_the_content_by_the_displacement() -> None:
    image = np.zeros((1, 64, 64), dtype=np.float32)
    image[0, 30:34, 20:24] = 1.0
    moved = distort(image, np.full((64, 64), 2.5), np.full((64, 64), -1.5))
    yy, xx = np.mgrid[:64, :64]

    def centroid(a: np.ndarray) -> tuple[float, float]:
        return float((a * xx).sum() / a.sum()), float((a * yy).sum() / a.sum())

    (x0, y0), (x1, y1) = centroid(image[0]), centroid(np.clip(moved[0], 0, None))
    assert x1 - x0 == pytest.approx(2.5, abs=0.05)
    assert y1 - y0 == pytest.approx(-1.5, abs=0.05)


# --------------------------------------------------------------------------- ROI drawing


def test_drawn_circles_scatter_by_the_configured_errors() -> None:
    n = 4000
    ideal = np.zeros((n, 1, 3))
    ideal[..., 2] = 10.0
    drawing = RoiDrawing(centre_sd_mm=0.4, radius_sd_mm=0.3, operator_radius_sd_mm=0.0)
    out = drawn_circles(ideal, np.full(n, 30.0), drawing, np.random.default_rng(0),
                        np.random.default_rng(1), min_radius_mm=1.0)
    assert out[..., 0].std() == pytest.approx(0.4, rel=0.06)
    assert out[..., 1].std() == pytest.approx(0.4, rel=0.06)
    assert (out[..., 2] - 10.0).std() == pytest.approx(0.3, rel=0.06)
    # an operator's offset moves every circle of the drawing alike
    biased = drawn_circles(ideal, np.full(n, 30.0), RoiDrawing(0.0, 0.0, 0.5), np.random.default_rng(0),
                           np.random.default_rng(1), min_radius_mm=1.0)
    offset = biased[..., 2] - 10.0
    assert np.ptp(offset) < 1e-12 and abs(offset[0, 0]) > 0
    # a circle never leaves its insert
    wild = drawn_circles(ideal, np.full(n, 10.5), RoiDrawing(1.0, 1.0, 0.0), np.random.default_rng(2),
                         np.random.default_rng(3), min_radius_mm=1.0)
    assert (np.hypot(wild[..., 0], wild[..., 1]) + wild[..., 2] <= 10.5 + 1e-9).all()


def test_a_redrawn_roi_differs_from_the_first_by_about_the_boundary_error() -> None:
    poses = {s: {"rotation_deg": 0.0, "translation_mm": [0.0, 0.0, 0.0]} for s in ("first", "second")}
    acqs = {"a": {"session": "first"}, "b": {"session": "second"}}
    radius_sd = 0.6
    drawing = {"centre_sd_mm": 0.0, "radius_sd_mm": radius_sd, "operator_radius_sd_mm": 0.0}
    proto = small_protocol(acqs, {"distortion": {}}, poses=poses)
    proto["roi"]["drawing"] = drawing
    plan = plan_study(proto, small_phantom(), seed=2)
    sims = simulate_acquisitions(plan, ids=["a", "b"])
    dx = plan.acquisitions["a"].grid.spacing_mm[0]
    diffs = []
    for label in np.unique(sims["a"].mask[sims["a"].mask > 0]):
        ra = np.sqrt((sims["a"].mask == label).sum() / np.pi) * dx
        rb = np.sqrt((sims["b"].mask == label).sum() / np.pi) * dx
        diffs.append(rb - ra)
    # two independent drawings: the radii differ by N(0, 2 sd**2) (a voxel's quantisation aside)
    rms = float(np.sqrt(np.mean(np.square(diffs))))
    assert 0.4 * np.sqrt(2) * radius_sd < rms < 2.0 * np.sqrt(2) * radius_sd
    # without a drawing error the two sessions' masks are the same
    del proto["roi"]["drawing"]
    plain = simulate_acquisitions(plan_study(proto, small_phantom(), seed=2), ids=["a", "b"])
    np.testing.assert_array_equal(plain["a"].mask, plain["b"].mask)


# --------------------------------------------------------------------------- the cache


def test_the_simulated_study_folder_and_digests_change_with_the_model_version(monkeypatch: pytest.MonkeyPatch) -> None:
    proto, phantom = load_config("protocol", "quick"), load_config("phantom", "pelvic")
    plan = plan_study(proto, phantom, seed=0)
    acq = next(iter(plan.acquisitions.values()))
    before = study_folder_name(proto, phantom, 0), simulate_module.acquisition_digest(plan, phantom, acq)
    monkeypatch.setattr(simulate_module, "MODEL_VERSION", simulate_module.MODEL_VERSION + 1)
    after = study_folder_name(proto, phantom, 0), simulate_module.acquisition_digest(plan, phantom, acq)
    assert before[0] != after[0] and before[1] != after[1]


# --------------------------------------------------------------------------- published figures


def test_published_table_meets_a_single_figure_within_its_binomial_margin() -> None:
    from types import SimpleNamespace

    import pandas as pd

    from robustlab.radiomics.report import published_table

    study = SimpleNamespace(
        published={"vendors": (4.6, 4.6), "te": (82.4, 94.9)},
        comparisons=[SimpleNamespace(name="te", pairs=[("a", "b"), ("b", "c")]),
                     SimpleNamespace(name="vendors", pairs=[])])
    summary = pd.DataFrame({
        "comparison": ["vendors", "te/a_vs_b", "te/b_vs_c", "te"],
        "group": ["vendors", "te", "te", "te"],
        "n_features": [944] * 4,
        "pct_excellent": [5.8, 83.0, 90.0, 70.0],  # the combined row "te" is below the range
    })
    table = published_table(study, summary).set_index("group")
    margin = 196 * np.sqrt(0.046 * 0.954 / 944)
    assert table.loc["vendors", "margin_pct"] == pytest.approx(margin)  # 1.34 points
    assert table.loc["vendors", "inside"] == "yes"  # 5.8 <= 4.6 + 1.34
    assert table.loc["te", "n_comparisons"] == 2 and table.loc["te", "simulated_min_pct"] == 83.0
    assert table.loc["te", "inside"] == "yes" and np.isnan(table.loc["te", "margin_pct"])
    summary.loc[0, "pct_excellent"] = 6.1
    assert published_table(study, summary).set_index("group").loc["vendors", "inside"] == "no"


def test_a_lower_refocusing_angle_weakens_the_t2_weighting() -> None:
    from robustlab.radiomics.phantom.model import Tissue

    tissue = Tissue(pd=0.8, t1_ms={1.5: 1100.0}, t2_ms=90.0)
    tes = np.array([80.0, 100.0, 120.0])

    def decay_rate(angle: float) -> float:
        signals = [tissue.signal(te, 5000.0, 1.5, angle) for te in tes]
        return -float(np.polyfit(tes, np.log(signals), 1)[0])

    assert decay_rate(180.0) == pytest.approx(1 / 90.0, rel=1e-6)
    half = np.radians(130.0) / 2
    assert decay_rate(130.0) == pytest.approx(np.sin(half) ** 2 / 90.0 + np.cos(half) ** 2 / 1100.0, rel=1e-6)
    assert decay_rate(130.0) < decay_rate(180.0)


# --------------------------------------------------------------------------- a new set-up


def test_a_set_up_after_the_first_changes_the_intensity_field_and_the_first_keeps_it() -> None:
    poses = {s: {"rotation_deg": 0.0, "translation_mm": [0.0, 0.0, 0.0]} for s in ("one", "two")}
    acqs = {"a": {"session": "one", "position": 1}, "b": {"session": "one", "position": 1},
            "c": {"session": "two", "position": 2}}
    plain = small_protocol(acqs, {"distortion": {}}, poses=poses)
    fielded = small_protocol(acqs, {"distortion": {}, "setup_field": {"amplitude": 0.5, "order": 2}},
                             poses=poses)
    before = simulate_acquisitions(plan_study(plain, small_phantom(), seed=3), ids=["a", "c"], noise_free=True)
    after = simulate_acquisitions(plan_study(fielded, small_phantom(), seed=3), ids=["a", "c"], noise_free=True)
    np.testing.assert_array_equal(before["a"].noise_free, after["a"].noise_free)  # the first set-up: no change
    body = before["c"].noise_free > 0.2 * before["c"].noise_free.max()
    ratio = after["c"].noise_free[body] / before["c"].noise_free[body]
    assert np.ptp(np.log(ratio)) > 0.01  # a smooth field (not a constant) multiplies the later set-up
    assert np.abs(np.log(ratio)).max() <= 0.5 + 1e-6  # within its amplitude
    with pytest.raises(ConfigError, match=r"setup_field\.order"):
        plan_study(small_protocol(acqs, {"setup_field": {"amplitude": 0.5, "order": 0}}, poses=poses),
                   small_phantom(), seed=3)


def test_the_acquisition_digest_follows_the_roi_drawing() -> None:
    proto, phantom = load_config("protocol", "quick"), load_config("phantom", "pelvic")
    plan = plan_study(proto, phantom, seed=0)
    acq = next(iter(plan.acquisitions.values()))
    redrawn = plan_study({**proto, "roi": {**proto["roi"], "drawing": {**proto["roi"].get("drawing", {}),
                                                                       "centre_sd_mm": 1.7}}}, phantom, seed=0)
    # a cached acquisition whose masks were drawn with other errors is simulated again
    assert (simulate_module.acquisition_digest(plan, phantom, acq)
            != simulate_module.acquisition_digest(redrawn, phantom, redrawn.acquisitions[acq.id]))
