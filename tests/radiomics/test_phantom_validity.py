"""The phantom beside the study: released features as data and the validity scores."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robustlab.radiomics.phantom import validity as v
from robustlab.radiomics.phantom.released import excellent_lists

# --------------------------------------------------------------------------- released data

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "validate_phantom.py"


def load_script():
    """``scripts/validate_phantom.py`` as a module (its helpers are tested without a simulation)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("validate_phantom", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def released(phantomstudy, tmp_path_factory):
    """The released training scans analysed by the report (one run per module), with a test
    list naming two features excellent between vendors."""
    root = phantomstudy
    work = tmp_path_factory.mktemp("released")
    (work / "test").mkdir()
    (work / "test" / "between_vendors.excellent.txt").write_text(
        "original_shape_VoxelVolume 0.99\nlog.sigma.6.mm.3D_firstorder_TotalEnergy 0.94\n")
    real, summary = load_script().real_verdicts(root, work / "test", work / "real")
    return root, real, summary


def test_the_released_training_scans_reproduce_the_studys_figures(released):
    _, real, summary = released
    pct = summary.set_index("comparison")["pct_excellent"].round(1).to_dict()
    assert pct == {"repeat_fixed_A15": 96.4, "repeat_fixed_B15": 92.1, "repeat_fixed_B30": 79.9,
                   "repeat_repositioned_A15": 78.4, "repeat_repositioned_B15": 85.4,
                   "repeat_repositioned_B30": 11.2, "between_field_strengths": 15.6}
    vendors = real[real["comparison"] == "between_vendors"]
    assert len(vendors) == 944 and vendors["excellent"].sum() == 2


def test_a_phantom_that_reproduced_the_real_verdicts_at_every_seed_meets_the_training_targets(released, tmp_path):
    from robustlab.common.io import write_table

    script = load_script()
    _, real, summary = released
    folders = []
    for seed in (1, 2, 3):
        folder = tmp_path / f"seed{seed}"
        write_table(summary, folder / "summary", ("parquet",))
        write_table(real[real["comparison"] != "between_vendors"], folder / "per_feature", ("parquet",))
        folders.append(folder)
    tables = script.validity_tables(real, summary, folders, {"published": {}})
    comparisons = tables["comparisons"].set_index("comparison")
    assert set(comparisons.index) == set(summary["comparison"])  # no simulated vendor share
    assert comparisons["inside"].all() and (comparisons["median_off"] == 0).all()
    assert (comparisons["width"] == 0).all() and set(comparisons["split"]) == {"training"}
    cells = tables["cells"]
    assert len(cells) == 7 * 14 and cells["inside"].all()  # 7 feature classes, 7 image types
    scores = tables["features"].set_index("comparison")
    assert (scores["brier"] == 0).all() and (scores["auc"] == 1).all()
    assert scores.loc["repeat_fixed_A15", "n_others"] == 7  # six training comparisons and the test list
    rows = script.check_rows(tables["comparisons"], cells, tables["features"], tables["published"])
    lines = script.check_lines(rows)
    assert lines[0].endswith("7 of 7 inside; 7 of 7 medians within 3 points (met)")
    assert all(row["met"] for row in rows) and all(line.endswith("(met)") for line in lines)
    assert "98 of 98 (feature class 49, image type 49);" in lines[1]
    assert "repeat_fixed_B30 0.0 vs 4.3 points (0.0x)" in lines[-1]  # 2 z sqrt(p (1 - p) / 944), p = 0.799


def test_a_missing_training_file_is_named(tmp_path):
    from robustlab.common.errors import DataError
    from robustlab.radiomics.phantom.released import training_paths

    (tmp_path / "RadiomicFiles").mkdir()
    with pytest.raises(DataError, match=r"IEO/radiomics_1_Ax_T2_FRFSE_PELVI_clean\.csv: a training file"):
        training_paths(tmp_path)


def test_bad_real_data_is_one_line_before_any_simulation(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, str(SCRIPT), "--data", str(tmp_path / "nope"), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith("is not a folder of the released phantom features")
    result = subprocess.run([sys.executable, str(SCRIPT), "--data", str(tmp_path), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.endswith("a training file of the released phantom features is missing")
    assert not (tmp_path / "outputs").exists() and not (tmp_path / ".cache").exists()  # nothing simulated


def test_excellent_lists_map_the_studys_names_to_the_pipelines(tmp_path):
    (tmp_path / "between_vendors.excellent.txt").write_text(
        "# CCC > 0.9\nlog.sigma.6.mm.3D_firstorder_TotalEnergy 0.93\nwavelet.LH_ngtdm_Coarseness\n"
        "original_shape_VoxelVolume 0.99\n\n")
    (tmp_path / "notes.txt").write_text("not a list")
    assert excellent_lists(tmp_path) == {"between_vendors": {
        "log-sigma-6-mm-3D_firstorder_TotalEnergy", "wavelet-LH_ngtdm_Coarseness", "original_shape_VoxelVolume"}}


# --------------------------------------------------------------------------- validity scores


def test_auc_and_brier_against_their_definitions():
    y = np.array([1, 1, 0, 0, 0], dtype=bool)
    assert v.auc(np.array([0.9, 0.8, 0.3, 0.2, 0.1]), y) == 1.0
    assert v.auc(np.array([0.1, 0.2, 0.3, 0.8, 0.9]), y) == 0.0
    assert v.auc(np.full(5, 0.5), y) == 0.5  # ties count a half
    assert v.auc(np.array([0.9, 0.2, 0.3, 0.2, 0.1]), y) == pytest.approx((3 + 1.5) / 6)
    assert math.isnan(v.auc(np.ones(3), np.ones(3, dtype=bool)))
    assert v.brier(np.array([1.0, 0.5, 0.0]), np.array([1, 0, 0])) == pytest.approx(0.25 / 3)


def test_binomial_width_of_a_share():
    assert v.binomial_width(50.0, 944) == pytest.approx(200 * 1.6448536 * math.sqrt(0.25 / 944))
    assert v.binomial_width(0.0, 944) == 0.0


def test_feature_scores_beside_the_base_rate_and_the_other_comparisons():
    features = [f"f{i}" for i in range(10)]
    truth = {"a": [1] * 5 + [0] * 5, "b": [1] * 4 + [0] * 6}
    real = pd.DataFrame([{"comparison": c, "feature": f, "excellent": bool(x)}
                         for c, xs in truth.items() for f, x in zip(features, xs, strict=True)])
    sim = pd.DataFrame([{"seed": s, "comparison": "a", "feature": f, "excellent": i < 5 and s < 4}
                        for s in range(5) for i, f in enumerate(features)])
    scores = v.feature_scores(sim, real).set_index("comparison")
    assert list(scores.index) == ["a"]  # "b" has no simulated verdicts
    row = scores.loc["a"]
    assert row["auc"] == 1.0 and row["brier"] == pytest.approx(5 * 0.2**2 / 10)
    assert row["brier_base_rate"] == 0.25 and row["real_pct"] == 50.0
    assert row["auc_others"] == pytest.approx((4 * 5 + 5 * 0.5) / 25)  # f4: a tie with every negative
    assert row["brier_others"] == pytest.approx(0.1)


def test_share_and_cell_intervals():
    summary = pd.DataFrame({"seed": range(20), "comparison": "a", "pct_excellent": np.linspace(80, 99, 20)})
    out = v.share_intervals(summary, {"a": 90.0, "missing": 50.0}, 944).set_index("comparison")
    assert list(out.index) == ["a"] and out.loc["a", "inside"]
    assert out.loc["a", "width_ratio"] == pytest.approx(out.loc["a", "width"] / v.binomial_width(90.0, 944))
    per_feature = pd.DataFrame([{"seed": s, "comparison": "a", "feature": f"{t}_glcm_{k}", "image_type": t,
                                 "feature_class": "glcm", "excellent": k < s % 3}
                                for s in range(10) for t in ("wavelet-LH", "wavelet-HH") for k in range(3)])
    real = per_feature[per_feature["seed"] == 0].drop(columns="seed").assign(excellent=True)
    cells = v.cell_intervals(per_feature, real, "image_type")
    assert list(cells["cell"]) == ["wavelet"] and cells["real"].iloc[0] == 100.0
    assert not cells["inside"].iloc[0]


def test_the_te_and_tr_feature_files_in_the_repository_layout_become_real_test_verdicts(phantomstudy, tmp_path):
    """The TE series and the TR change are analysed from their released feature files like the
    training scans. Stand-ins here: vendor B 1.5 T's three training files under the TE and TR
    names (scan 1 as TE 80-100, scan 2 as TE 105-120, scan 3 as the TR change)."""
    import shutil

    from robustlab.radiomics.phantom.released import TEST

    root = phantomstudy
    b15 = root / "RadiomicFiles" / "CCU1_5T"
    scans = [b15 / f"radiomics_T2_AX_FSE{s}_clean.csv" for s in ("", "_2nd", "_3rd")]
    test = tmp_path / "test"
    for acq, rel in TEST.items():
        source = scans[2] if acq == "B15_tr4405" else scans[0] if int(acq[-3:]) <= 100 else scans[1]
        (test / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, test / rel)
    real, _ = load_script().real_verdicts(root, test, tmp_path / "real")
    shares = (real.groupby("comparison")["excellent"].mean() * 100).round(1)
    # a pair of one file with itself agrees perfectly; scan 1 against scan 2 (CCC) close to the
    # fixed repeat's ICC, scan 1 against scan 3 (the TR stand-in) lower
    assert shares["te_adjacent/B15_te080_vs_B15_te085"] == 100.0
    assert abs(shares["te_adjacent/B15_te100_vs_B15_te105"] - shares["repeat_fixed_B15"]) < 3
    assert shares["tr"] < shares["te_adjacent/B15_te100_vs_B15_te105"] < 100.0
    assert sum(c.startswith("te_adjacent/") for c in shares.index) == 8 and "tr" in shares.index
    assert (real.groupby("comparison").size() == 944).all()
    # an incomplete TE series gives no TE pairs, the TR change stands alone
    (test / TEST["B15_te120"]).unlink()
    real, _ = load_script().real_verdicts(root, test, tmp_path / "real2")
    assert "tr" in set(real["comparison"]) and not any(c.startswith("te_adjacent") for c in real["comparison"])
