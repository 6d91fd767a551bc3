"""The phantom study's conventions: wCV in per cent, its size and insert groups, one band rule,
feature-CSV families inferred beside images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from robustlab.common.errors import ConfigError
from robustlab.common.stats import wscv
from robustlab.radiomics.breakdowns import order_groups
from robustlab.radiomics.comparisons import compare, wcv_percent
from robustlab.radiomics.options import Options
from robustlab.radiomics.pipeline import run_study
from robustlab.radiomics.study import StudyError, csv_family, load_study


def test_wcv_is_unsigned_per_cent_like_the_study():
    rng = np.random.default_rng(0)
    stack = rng.normal(size=(6, 2, 3)) + np.array([10.0, -10.0, 0.5])  # second feature: negative mean
    theta = wscv(stack).value
    assert theta[1] < 0  # the statistic itself stays signed
    np.testing.assert_allclose(wcv_percent(stack), np.abs(100 * theta), rtol=0, atol=0)
    assert (wcv_percent(stack) > 0).all()


def test_summary_median_wcv_is_the_median_of_the_per_cent_values():
    roi = pd.Index([str(i) for i in range(1, 7)], name="roi")
    a = pd.DataFrame({"original_firstorder_Skewness": [-10.0, -11, -12, -13, -14, -15],
                      "original_firstorder_Mean": [1.0, 2, 3, 4, 5, 6],
                      "original_glcm_Idmn": [5.0, 5.5, 6, 7, 8, 9]}, index=roi)
    b = a * 1.02 + 0.01

    class Cmp:  # the one comparison: rep1 vs rep2
        name, statistic, group, family, pairs, options = "repeat", "icc", "g", "all", (), {}
        members = ("rep1", "rep2")

        def units(self):
            return [("repeat", ("rep1", "rep2"))]

    per_feature, summary = compare([Cmp()], {"rep1": a, "rep2": b}, threshold=0.9)
    expected = np.abs(100 * wscv(np.stack([a.to_numpy(), b.to_numpy()], axis=1)).value)
    np.testing.assert_allclose(per_feature["wcv"], expected, rtol=1e-12)
    assert summary["median_wcv"].iloc[0] == pytest.approx(np.median(expected))
    # one band rule: the band "excellent" is the excellent flag
    assert (per_feature["excellent"] == (per_feature["band"] == "excellent")).all()


def test_the_studys_size_and_insert_groups_by_roi_order():
    rois = [str(i) for i in range(16, 0, -1)]  # any table order: the numeric order counts
    paper = order_groups(rois, "paper")
    assert sorted((r for r in rois if paper[r] == "size1"), key=int) == ["1", "5", "9", "13"]
    assert sorted((r for r in rois if paper[r] == "size4"), key=int) == ["4", "8", "12", "16"]
    inserts = order_groups(rois, "insert")
    assert sorted((r for r in rois if inserts[r] == "insert2"), key=int) == ["5", "6", "7", "8"]
    with pytest.raises(ValueError, match="order_groups: expected one of"):
        order_groups(rois, "sizes")
    with pytest.raises(ConfigError, match=r"^wcv_groups: must be one of size, paper, insert; got 'sizes' "
                                          r"\(did you mean size\?\)$"):
        Options(wcv_groups="sizes")


@pytest.mark.parametrize(("how", "groups"), [("paper", ["size1", "size2", "size3", "size4"]),
                                              ("insert", ["insert1", "insert2"])])
def test_wcv_by_size_in_the_studys_groups(image_study, tmp_path, how, groups):
    study = image_study(n_acquisitions=2, n_rois=8, size=48)
    result = run_study(study, tmp_path / "out", n_jobs=1, cache_dir=tmp_path / "cache",
                       progress=False, texture=False, report=False, wcv_groups=how)
    by_size = result.wcv_by_size
    assert list(pd.unique(by_size["size_group"])) == groups
    assert (by_size["n_rois"] == 8 // len(groups)).all()
    assert (by_size["wcv"].dropna() >= 0).all()


def test_a_feature_csv_beside_images_takes_its_family_from_its_names(image_study, tmp_path):
    study_path = image_study(n_acquisitions=2)
    (study_path.parent / "theirs.csv").write_text(
        "Image,Mask,original_shape_VoxelVolume,wavelet-LH_glcm_Idmn\na,b,1,2\n")
    (study_path.parent / "theirs3d.csv").write_text(
        "Image,Mask,original_shape_VoxelVolume,wavelet-LLH_glcm_Idmn\na,b,1,2\n")
    assert csv_family(study_path.parent / "theirs.csv") == "2D"
    assert csv_family(study_path.parent / "theirs3d.csv") == "3D"
    raw = yaml.safe_load(study_path.read_text())
    raw["acquisitions"]["theirs"] = {"features": "theirs.csv"}
    raw["comparisons"].append({"name": "ours_vs_theirs", "statistic": "ccc",
                               "acquisitions": ["rep1", "theirs"]})
    study_path.write_text(yaml.safe_dump(raw))
    loaded = load_study(study_path)  # refused before: families 2D and all
    assert loaded.acquisitions["theirs"].family == "2D"
    assert [c.family for c in loaded.comparisons] == ["2D", "2D"]
    raw["acquisitions"]["theirs"] = {"features": "theirs3d.csv"}
    study_path.write_text(yaml.safe_dump(raw))
    with pytest.raises(StudyError, match="different extraction families.*theirs: 3D"):
        load_study(study_path)


def test_feature_csvs_alone_keep_family_all(tmp_path: Path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.csv").write_text("original_firstorder_Mean,wavelet-LH_glcm_Idmn\n1,2\n3,5\n")
    (tmp_path / "study.yaml").write_text(yaml.safe_dump({
        "name": "csvs", "acquisitions": {"a": {"features": "a.csv"}, "b": {"features": "b.csv"}},
        "comparisons": [{"name": "ab", "statistic": "icc", "acquisitions": ["a", "b"]}]}))
    assert [c.family for c in load_study(tmp_path / "study.yaml").comparisons] == ["all"]
