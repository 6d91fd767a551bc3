"""The texture fit: per-insert statistics, the parameters in and out of a phantom config, the
objective, and the solver on a model whose answer is known; one simulated evaluation."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from robustlab.radiomics.phantom import load_config
from robustlab.radiomics.phantom.texture_fitting import (
    STATISTICS,
    TextureParameters,
    fit_textures,
    insert_statistics,
    residuals,
    simulated_statistics,
)


def test_insert_statistics_average_each_inserts_rois_in_file_order() -> None:
    rows = pd.DataFrame({name: np.arange(8, dtype=float) * (k + 1) for k, name in enumerate(STATISTICS)})
    rows["other"] = 0.0
    stats = insert_statistics(rows, 2)
    assert stats.shape == (2, 3)
    np.testing.assert_allclose(stats[:, 0], [1.5, 5.5])      # ROIs 0-3, then 4-7
    np.testing.assert_allclose(stats[:, 2], [4.5, 16.5])
    with pytest.raises(ValueError, match="8 ROIs do not split into 3 inserts"):
        insert_statistics(rows, 3)


def test_parameters_go_into_the_phantom_config_and_come_back() -> None:
    pelvic = load_config("phantom", "pelvic")
    start = TextureParameters.read(pelvic, 1.5)
    np.testing.assert_allclose(TextureParameters.from_log(start.to_log()).matrix_pd, start.matrix_pd)
    changed = TextureParameters((2.0, 3.0, 1.5, 4.0), (0.3, 0.2, 0.7, 0.25), (0.5, 0.6, 0.4, 0.8), 0.2)
    out = changed.apply(pelvic)
    assert TextureParameters.read(out, 0.2) == changed
    fitted = TextureParameters.from_log(changed.to_log()).apply(pelvic)   # numpy values become plain floats
    assert all(type(v) is float for ins in fitted["inserts"] for v in (ins["tissue"]["pd"],
               *(c["scale_mm"] for c in ins["texture"]["components"])))
    mixed_before = [c["scale_mm"] for c in pelvic["inserts"][3]["texture"]["components"]]
    mixed_after = [c["scale_mm"] for c in out["inserts"][3]["texture"]["components"]]
    assert mixed_after[1] / mixed_after[0] == pytest.approx(mixed_before[1] / mixed_before[0], rel=1e-3)
    # the later components' contrasts and the config given are kept
    assert out["inserts"][3]["texture"]["components"][1]["contrast"] == \
        pelvic["inserts"][3]["texture"]["components"][1]["contrast"]
    assert TextureParameters.read(pelvic, 1.5) == start
    with pytest.raises(ValueError, match="4 fitted inserts for a phantom of 3"):
        changed.apply({**pelvic, "inserts": pelvic["inserts"][:3]})


def test_residuals_are_zero_at_the_data_and_scaled_per_statistic() -> None:
    real = np.array([[30.0, 4000.0, 0.4], [10.0, 400.0, 0.1]])
    np.testing.assert_allclose(residuals(real, real), 0.0)
    off = real.copy()
    off[0, 0] += 10.0          # ten units of mean
    off[1, 1] *= np.exp(0.5)   # variance a factor sqrt(e)
    off[0, 2] += 0.05          # 0.05 of correlation
    np.testing.assert_allclose(residuals(off, real), [1, 0, 0, 1, 1, 0], atol=1e-12)


def fake_model(params: TextureParameters) -> np.ndarray:
    """Statistics that move with the parameters as the simulation's do: the mean with the PDs,
    the variance with the grain contrast and the noise, the correlation with the grain size
    against the noise."""
    ratio, pd_, grain = (np.asarray(v) for v in (params.grain_pd_ratio, params.matrix_pd, params.grain_mm))
    noise = 30.0 / params.snr_factor
    texture = (100.0 * pd_ * (ratio - 1.0)) ** 2
    return np.stack([100.0 * pd_ * (1.0 + 0.4 * (ratio - 1.0)) - 20.0,
                     texture + noise**2,
                     grain / (grain + 0.3) * texture / (texture + noise**2)], axis=1)


def test_the_solver_finds_textures_that_reproduce_known_statistics() -> None:
    truth = TextureParameters((4.0, 3.5, 1.4, 3.0), (0.35, 0.3, 0.6, 0.25), (0.6, 0.5, 0.3, 0.9), 0.5)
    real = fake_model(truth)
    start = TextureParameters((3.0, 3.0, 1.3, 2.5), (0.4, 0.35, 0.7, 0.3), (0.8, 0.8, 0.8, 0.8), 0.7)
    rows: list[dict] = []
    fitted, history = fit_textures(start, real, fake_model, 0.25, max_evaluations=40, report=rows.append)
    assert history == rows and [r["evaluation"] for r in rows] == list(range(1, len(rows) + 1))
    r = residuals(fake_model(fitted), real)
    assert r @ r < 1e-3 < history[0]["sum_of_squares"]
    assert min(h["sum_of_squares"] for h in history) == pytest.approx(r @ r)


def test_one_evaluation_simulates_the_acquisition_and_extracts_its_three_statistics() -> None:
    protocol = copy.deepcopy(load_config("protocol", "quick"))
    phantom = load_config("phantom", "pelvic")
    acquisition = next(iter(protocol["acquisitions"]))
    stats = simulated_statistics(protocol, phantom, acquisition, seed=3)
    assert stats.shape == (len(phantom["inserts"]), 3) and np.isfinite(stats).all()
    assert (stats[:, 1] > 0).all() and (np.abs(stats[:, 2]) <= 1).all()
    # a stronger grain contrast in the first insert raises its variance, and only its own
    stronger = copy.deepcopy(phantom)
    stronger["inserts"][0]["texture"]["components"][0]["contrast"] *= 3.0
    again = simulated_statistics(protocol, stronger, acquisition, seed=3)
    assert again[0, 1] > 2.0 * stats[0, 1]
    np.testing.assert_allclose(again[1:, 2], stats[1:, 2], atol=0.05)


def test_the_solver_keeps_grains_no_finer_than_the_texture_grid() -> None:
    truth = TextureParameters((4.0, 3.5, 1.4, 3.0), (0.35, 0.3, 0.6, 0.25), (0.6, 0.5, 0.1, 0.9), 0.5)
    start = TextureParameters((3.0, 3.0, 1.3, 2.5), (0.4, 0.35, 0.7, 0.3), (0.8, 0.8, 0.8, 0.8), 0.7)
    seen: list[float] = []

    def model(params: TextureParameters) -> np.ndarray:
        seen.append(min(params.grain_mm))
        return fake_model(params)

    fitted, history = fit_textures(start, fake_model(truth), model, 0.25, max_evaluations=30)
    assert len(seen) == len(history) > 10 and min(seen) >= 0.25 - 1e-9 and min(fitted.grain_mm) >= 0.25 - 1e-9


def test_the_scripts_texture_stage_fits_to_the_released_scan_writes_its_files_and_resumes(
        phantomstudy, tmp_path, monkeypatch) -> None:
    """``fit_phantom.py --textures`` with the simulation replaced by :func:`fake_model`, against
    vendor B 1.5 T's first released scan: the fitted inserts go to
    ``phantom.yaml`` and the protocol, and a rerun replays every evaluation from its folder."""
    import importlib.util
    from pathlib import Path

    import yaml

    from robustlab.radiomics.phantom import texture_fitting

    script = Path(__file__).resolve().parents[2] / "scripts" / "fit_phantom.py"
    spec = importlib.util.spec_from_file_location("fit_phantom", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls: list[int] = []

    def fake_simulation(protocol, phantom, acquisition, seed):
        calls.append(seed)
        assert acquisition == "B15_rep1"
        return fake_model(TextureParameters.read(phantom, protocol["scanners"]["B15"]["snr_factor"]))

    monkeypatch.setattr(texture_fitting, "simulated_statistics", fake_simulation)
    args = module.parse_args(["--data", str(phantomstudy), "--seeds", "1-2", "--texture-seed", "9",
                              "--texture-evaluations", "3", "--out", str(tmp_path)])
    protocol = module.training_protocol(load_config("protocol", "paper"))
    fitted_protocol, phantom = module.fit_texture_stage(args, protocol, load_config("phantom", "pelvic"))
    assert set(calls) == {9} and len(calls) > 3
    history = pd.read_csv(tmp_path / "textures.csv")
    assert len(history) >= len(calls) and history.sum_of_squares.min() < history.sum_of_squares.iloc[0]
    written = yaml.safe_load((tmp_path / "phantom.yaml").read_text())["inserts"]
    assert written == phantom["inserts"]
    best = history.loc[history.sum_of_squares.idxmin()]
    assert fitted_protocol["scanners"]["B15"]["snr_factor"] == pytest.approx(best.snr_factor)
    assert phantom["inserts"][0]["tissue"]["pd"] == pytest.approx(best.insert1_matrix_pd, abs=1e-4)
    calls.clear()
    module.fit_texture_stage(args, protocol, load_config("phantom", "pelvic"))
    assert calls == []   # every evaluation read back
