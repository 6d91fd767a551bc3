"""End to end on a tiny synthetic image study: extraction, cache, comparisons, selection, outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robustlab.common.stats import ccc, icc
from robustlab.radiomics.pipeline import run_study


@pytest.fixture
def three_scans(image_study):
    return image_study(n_acquisitions=3, comparisons=[
        {"name": "repeat", "statistic": "icc", "acquisitions": ["rep1", "rep2"],
         "group": "repeat_fixed"},
        {"name": "te_adjacent", "statistic": "ccc", "pairs": [["rep1", "rep2"], ["rep2", "rep3"]],
         "combine": "intersection", "group": "te_adjacent"},
    ])


def test_image_study_end_to_end_and_cached_rerun(three_scans, tmp_path):
    cache = tmp_path / "cache"
    first = run_study(three_scans, tmp_path / "run1", n_jobs=1, cache_dir=cache, progress=False)
    # 3 acquisitions x 4 ROIs, plus the 4 shuffled ROIs of the texture test
    assert first.counts == {"cached": 0, "extracted": 16, "failed": 0}
    summary = first.summary.set_index("comparison")
    assert list(summary.index) == ["repeat", "te_adjacent/rep1_vs_rep2",
                                   "te_adjacent/rep2_vs_rep3", "te_adjacent"]
    assert summary.loc["repeat", "statistic"] == "ICC(A,1)"
    assert set(summary["group"]) == {"repeat_fixed", "te_adjacent"}
    np.testing.assert_allclose(summary["pct_excellent"],
                               100 * summary["n_excellent"] / summary["n_features"])
    bands = summary[[c for c in summary.columns if c.startswith("band_")]].sum(axis=1)
    assert (bands == summary["n_features"]).all()

    # the statistic equals a direct call of common.stats on the feature table
    wide = first.features.pivot_table(index=["acquisition", "roi"], columns="feature",
                                      values="value", sort=False)
    on_disk = pd.read_csv(first.out_dir / "features_wide.csv", dtype={"roi": str})
    assert on_disk.shape == (12, 2 + wide.shape[1])
    np.testing.assert_allclose(on_disk.set_index(["acquisition", "roi"])[wide.columns], wide)
    r1, r2, r3 = (wide.xs(a, level="acquisition") for a in ("rep1", "rep2", "rep3"))
    pf = first.per_feature.set_index(["comparison", "feature"])["value"]
    feats = list(r1.columns)
    pair = np.stack([r1[feats].to_numpy(), r2[feats].to_numpy()], axis=1)
    # features equal up to round-off (e.g. the elongation of squares) are undefined
    spread = np.ptp(pair, axis=(0, 1)) <= 1e-12 * np.abs(pair).max(axis=(0, 1))
    assert spread.any()
    assert pf.loc["repeat"].reindex(feats)[spread].isna().all()
    direct = icc(pair).value
    np.testing.assert_allclose(pf.loc["repeat"].reindex(feats)[~spread], direct[~spread],
                               equal_nan=True)
    c12 = np.where(spread, np.nan, ccc(r1[feats].to_numpy(), r2[feats].to_numpy()).value)
    c23 = ccc(r2[feats].to_numpy(), r3[feats].to_numpy()).value
    np.testing.assert_allclose(pf.loc["te_adjacent/rep1_vs_rep2"].reindex(feats), c12, equal_nan=True)
    # combined row: excellent exactly when excellent in both pairs
    exc = first.per_feature.set_index(["comparison", "feature"])["excellent"]
    both = (np.nan_to_num(c12, nan=-1) > 0.9) & (np.nan_to_num(c23, nan=-1) > 0.9)
    np.testing.assert_array_equal(exc.loc["te_adjacent"].reindex(feats).to_numpy(), both)

    # tidy table
    tidy = first.features
    assert list(tidy.columns) == ["acquisition", "extraction", "roi", "image_type", "feature_class",
                                  "feature", "value"]
    assert set(tidy["roi"]) == {"1", "2", "3", "4"}
    assert set(tidy["extraction"]) == {"params.yaml"}
    # shape-only figures of the family, beside every comparison row
    summary = first.summary
    assert summary["pct_shape_only"].notna().all() and (summary["n_non_shape"] > 0).all()
    assert (summary["n_shape_only"] + summary["n_shape_with_texture"] <= summary["n_non_shape"]).all()

    # every dropped feature has a reason, kept ones none; robust ones are excellent everywhere
    sel = first.selection
    assert (sel.loc[~sel["robust"], "reason"].str.len() > 0).all()
    assert (sel.loc[sel["robust"], "reason"] == "").all()
    robust = set(first.robust["feature"])
    for name in ("repeat", "te_adjacent"):
        assert robust <= set(exc.loc[name][exc.loc[name]].index)
    assert not any("_shape_" in f for f in robust)

    for name in ("summary.csv", "per_feature.csv", "per_feature.parquet", "robust_features.csv",
                 "failures.csv", "report.md", "report.html", "figures/pct_excellent.png",
                 "figures/by_image_type.png", "figures/by_feature_class.png",
                 "figures/te_pairs.png", "figures/bands.png", "figures/rois.png", "wcv_by_size.csv",
                 "band_counts.csv"):
        assert (first.out_dir / name).is_file(), name
    html = (first.out_dir / "report.html").read_text()
    # six figures, the ROIs drawn on the images among them
    assert html.count("data:image/png;base64,") == 6 and "summary.csv" in html

    # a rerun extracts nothing and gives the same tables
    second = run_study(three_scans, tmp_path / "run2", n_jobs=1, cache_dir=cache, progress=False)
    assert second.counts == {"cached": 16, "extracted": 0, "failed": 0}
    pd.testing.assert_frame_equal(first.features, second.features)
    pd.testing.assert_frame_equal(first.per_feature, second.per_feature)


def test_texture_test_first_order_blind_glcm_not(image_study, tmp_path):
    study = image_study(n_acquisitions=2)
    res = run_study(study, tmp_path / "out", n_jobs=1, cache_dir=tmp_path / "cache",
                    progress=False, seed=3)
    tex = res.texture.set_index("feature")
    first_order = [f for f in tex.index if "_firstorder_" in f]
    glcm = [f for f in tex.index if "_glcm_" in f]
    assert len(first_order) == 18 and len(glcm) == 24
    assert tex.loc[first_order, "texture_blind"].all()
    # structured textures (stripes, checkerboard): shuffling changes the co-occurrences
    assert not tex.loc[glcm, "texture_blind"].any()
    reasons = res.selection.set_index("feature")["reason"]
    assert reasons.loc[first_order].str.contains("texture-blind").all()


def test_texture_test_is_seeded(image_study, tmp_path):
    study = image_study(n_acquisitions=2)
    kw = dict(n_jobs=1, cache_dir=tmp_path / "cache", progress=False, report=False)
    a = run_study(study, tmp_path / "a", seed=1, **kw).texture
    b = run_study(study, tmp_path / "b", seed=1, **kw)
    c = run_study(study, tmp_path / "c", seed=2, **kw)
    pd.testing.assert_frame_equal(a, b.texture)
    assert b.counts["extracted"] == 0 and c.counts["extracted"] == 4
    assert not np.allclose(a["max_rel_change"], c.texture["max_rel_change"])


def test_unknown_option_is_named(image_study, tmp_path):
    with pytest.raises(TypeError, match="texture_rtol"):
        run_study(image_study(), tmp_path / "o", texture_rtl=1e-3)
