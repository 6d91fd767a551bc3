"""wCV per comparison and by ROI size; band counts per image type and feature class."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robustlab.common.stats import wscv
from robustlab.radiomics.breakdowns import band_counts, size_groups, wcv_by_size
from robustlab.radiomics.comparisons import compare
from robustlab.radiomics.study import Comparison

FEATURES = ["original_firstorder_Mean", "original_glcm_Contrast", "wavelet-LH_glcm_Idmn"]


def tables(seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    truth = rng.uniform(10, 100, size=(6, 3))
    rois = [str(i + 1) for i in range(6)]
    return {a: pd.DataFrame(truth * (1 + 0.05 * rng.normal(size=truth.shape)), index=rois,
                            columns=FEATURES) for a in ("t", "r")}


def test_wcv_column_is_agree_wscv_of_the_compared_rois_in_per_cent():
    data = tables()
    cmp = Comparison(name="rep", statistic="icc", acquisitions=("t", "r"),
                     options={"model": "twoway", "type": "agreement", "unit": "single"})
    per_feature, summary = compare([cmp], data, 0.9)
    ratings = np.stack([data["t"].to_numpy(), data["r"].to_numpy()], axis=1)
    np.testing.assert_allclose(per_feature["wcv"], np.abs(100 * wscv(ratings).value), rtol=1e-14)
    # by hand for the first feature: 100 sqrt(mean within-ROI variance) / grand mean
    x = ratings[:, :, 0]
    hand = 100 * np.sqrt(((x - x.mean(1, keepdims=True)) ** 2).sum() / 6) / x.mean()
    assert per_feature["wcv"].iloc[0] == pytest.approx(hand, rel=1e-13)
    assert summary["median_wcv"].iloc[0] == pytest.approx(np.median(per_feature["wcv"]))


def test_size_groups_split_by_rank_and_keep_ties_together():
    assert size_groups({"a": 10, "b": 20, "c": 30, "d": 40, "e": 50, "f": 60}) == {
        "a": "small", "b": "small", "c": "medium", "d": "medium", "e": "large", "f": "large"}
    assert set(size_groups({"a": 5, "b": 5, "c": 5}).values()) == {"small"}
    assert size_groups({"a": 1, "b": 2}, n_groups=2) == {"a": "size1", "b": "size2"}


def test_wcv_by_size_uses_only_each_groups_rois():
    data = tables(1)
    cmp = Comparison(name="rep", statistic="icc", acquisitions=("t", "r"))
    sizes = {a: {str(i + 1): float(100 * (i + 1)) for i in range(6)} for a in data}
    out = wcv_by_size([cmp], data, sizes)
    assert out.groupby("size_group")["n_rois"].first().to_dict() == {"small": 2, "medium": 2, "large": 2}
    small = out[(out["size_group"] == "small")].set_index("feature")["wcv"]
    ratings = np.stack([data["t"].loc[["1", "2"]].to_numpy(), data["r"].loc[["1", "2"]].to_numpy()], axis=1)
    np.testing.assert_allclose(small.reindex(FEATURES), np.abs(100 * wscv(ratings).value), rtol=1e-14)
    assert wcv_by_size([cmp], data, {}).empty


def test_band_counts_per_image_type_and_class():
    per_feature = pd.DataFrame({
        "comparison": ["c"] * 4,
        "image_type": ["original", "original", "wavelet-LH", "wavelet-LH"],
        "feature_class": ["glcm", "firstorder", "glcm", "glcm"],
        "band": ["excellent", "poor", "good", "excellent"]})
    out = band_counts(per_feature).set_index(["by", "value"])
    assert out.loc[("image_type", "original"), ["excellent", "good", "moderate", "poor"]].tolist() == [1, 0, 0, 1]
    assert out.loc[("feature_class", "glcm"), ["excellent", "good", "n_features"]].tolist() == [2, 1, 3]
    assert out["n_features"].groupby(level="by").sum().tolist() == [4, 4]


def test_published_shape_only_share_is_compared_with_the_2d_family():
    from types import SimpleNamespace

    from robustlab.radiomics.report import published_table

    summary = pd.DataFrame({
        "comparison": ["rep", "rep3d"], "group": ["repeat", "repeat_3d"],
        "pct_excellent": [90.0, 80.0], "n_features": [944, 1316], "family": ["2D", "3D"],
        "pct_shape_only": [2.5, 9.0], "n_non_shape": [930, 1300]})
    study = SimpleNamespace(published={"shape_only": (2.0, 2.0)}, comparisons=[])
    row = published_table(study, summary).iloc[0]
    assert row["n_comparisons"] == 1 and row["simulated_min_pct"] == 2.5
    assert row["margin_pct"] == pytest.approx(196 * np.sqrt(0.02 * 0.98 / 930))
    assert row["inside"] == "yes"
