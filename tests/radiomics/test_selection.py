"""Shape dependence, the texture test criterion and the robust list, on planted tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robustlab.radiomics.comparisons import compare
from robustlab.radiomics.selection import select_features, shape_dependence, texture_test
from robustlab.radiomics.study import Comparison

ROIS = pd.Index([str(i + 1) for i in range(12)], name="roi")


def planted(rng, noise=0.01):
    volume = np.linspace(100, 1200, 12)
    return pd.DataFrame({
        "original_shape_VoxelVolume": volume,
        "original_shape_Sphericity": rng.uniform(0.5, 0.9, 12),
        "original_glcm_Contrast": np.log(volume) + noise * rng.normal(size=12),  # monotone in volume
        "original_glcm_Idmn": -volume ** 0.5 + noise * rng.normal(size=12),       # anti-monotone
        "original_firstorder_Mean": rng.normal(size=12),                           # independent
        "original_firstorder_Range": np.ones(12),                                  # constant
    }, index=ROIS)


def test_shape_dependence_finds_planted_features():
    rng = np.random.default_rng(0)
    tables = {"a": planted(rng), "b": planted(rng)}
    out = shape_dependence(tables, 0.8).set_index("feature")
    assert set(out.index) == {"original_glcm_Contrast", "original_glcm_Idmn",
                              "original_firstorder_Mean", "original_firstorder_Range"}
    assert out.loc["original_glcm_Contrast", "shape_dependent"]
    assert out.loc["original_glcm_Idmn", "shape_dependent"]
    assert out.loc["original_glcm_Idmn", "shape_partner"] == "original_shape_VoxelVolume"
    assert out.loc["original_glcm_Contrast", "max_abs_rho"] == pytest.approx(1.0)
    assert not out.loc["original_firstorder_Mean", "shape_dependent"]
    assert np.isnan(out.loc["original_firstorder_Range", "max_abs_rho"])
    assert not out.loc["original_firstorder_Range", "shape_dependent"]
    assert (out["n_acquisitions"].drop("original_firstorder_Range") == 2).all()
    # a stricter threshold than the planted |rho| keeps the feature
    assert not shape_dependence(tables, 1.0).set_index("feature").loc[
        "original_glcm_Contrast", "shape_dependent"]


def test_texture_test_criterion():
    a = pd.DataFrame({"original_firstorder_Mean": [1.0, 2.0], "original_glcm_Idmn": [0.5, 0.6],
                      "original_glcm_Imc1": [np.nan, np.nan]}, index=ROIS[:2])
    b = a.copy()
    b["original_firstorder_Mean"] *= 1 + 1e-9     # round-off: unchanged
    b.loc["2", "original_glcm_Idmn"] = 0.61        # one ROI changes: the feature sees texture
    out = texture_test({"x": a}, {"x": b}).set_index("feature")
    assert out["texture_blind"].to_dict() == {"original_firstorder_Mean": True,
                                              "original_glcm_Idmn": False,
                                              "original_glcm_Imc1": True}
    assert out.loc["original_glcm_Idmn", "max_rel_change"] == pytest.approx(0.01 / 0.6)
    # a looser criterion calls the small change "unchanged"
    assert texture_test({"x": a}, {"x": b}, rtol=0.05).set_index("feature")["texture_blind"].all()


def test_robust_list_and_reasons():
    rng = np.random.default_rng(1)
    base = planted(rng)
    tables = {"r1": base, "r2": (base + 0.001 * rng.normal(size=base.shape)).assign(
                  original_firstorder_Range=1.0),
              "r3": base.assign(original_firstorder_Mean=rng.normal(size=12))}
    cmps = [Comparison("rep", "icc", ("r1", "r2"), options={"model": "twoway", "type": "agreement",
                                                              "unit": "single"}),
            Comparison("other", "ccc", ("r1", "r3"))]
    per_feature, summary = compare(cmps, tables, 0.9)
    assert summary.set_index("comparison").loc["rep", "n_features"] == 6
    # a constant feature has an undefined statistic, never excellent
    pf = per_feature.set_index(["comparison", "feature"])
    assert pf.loc[("rep", "original_firstorder_Range"), "band"] == "undefined"
    assert not pf.loc[("rep", "original_firstorder_Range"), "excellent"]
    shape = shape_dependence(tables)
    sel = select_features(per_feature, ["rep", "other"], 0.9, shape).set_index("feature")
    reasons = sel["reason"]
    assert "shape feature" in reasons["original_shape_VoxelVolume"]
    assert "shape-dependent: |rho| = 1.00 with original_shape_VoxelVolume" in reasons["original_glcm_Contrast"]
    assert "not excellent in other: CCC = " in reasons["original_firstorder_Mean"]
    assert "not excellent in rep: ICC(A,1) undefined" in reasons["original_firstorder_Range"]
    assert not sel["robust"].any()  # every planted feature fails one criterion
    assert (sel["n_comparisons"] == 2).all()


def test_shape_only_rule_on_a_hand_made_table():
    from robustlab.radiomics.selection import shape_only, shape_only_summary

    shape = pd.DataFrame({
        "feature": ["original_firstorder_Energy", "original_glcm_Contrast", "original_glcm_Idmn",
                    "original_firstorder_Mean", "original_glrlm_RunEntropy"],
        "max_abs_rho": [0.97, 0.91, 0.40, 0.10, np.nan],
        "shape_partner": ["original_shape_VoxelVolume"] * 4 + [None],
        "n_acquisitions": [2, 2, 2, 2, 0],
        "shape_dependent": [True, True, False, False, False]})
    texture = pd.DataFrame({
        "feature": ["original_firstorder_Energy", "original_glcm_Contrast", "original_glcm_Idmn",
                    "original_firstorder_Mean", "original_glrlm_RunEntropy"],
        "max_rel_change": [0.0, 0.3, 0.2, 0.0, 0.1], "n_values": [4] * 5,
        "texture_blind": [True, False, False, True, False]})
    verdicts = shape_only(shape, texture).set_index("feature")
    # Energy follows the volume and ignores texture: shape only; Contrast follows the volume yet
    # changes when the texture is destroyed; RunEntropy has no defined correlation: not judged
    assert verdicts["shape_only"].to_dict() == {
        "original_firstorder_Energy": True, "original_glcm_Contrast": False,
        "original_glcm_Idmn": False, "original_firstorder_Mean": False}
    assert verdicts.loc["original_glcm_Contrast", "shape_with_texture"]
    figures = shape_only_summary(verdicts.reset_index(), ["original_glcm_Contrast", "original_glcm_Idmn"])
    assert figures == {"n_non_shape": 4, "n_shape_only": 1, "pct_shape_only": 25.0,
                       "n_shape_only_excellent": 0, "n_shape_with_texture": 1,
                       "pct_shape_with_texture": 25.0}
    assert shape_only(shape, None).empty
