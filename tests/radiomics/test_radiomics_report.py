"""The report: published ranges beside the results, the TE-pair heatmap, a self-contained HTML."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import yaml

from robustlab.radiomics.pipeline import run_study


def test_report_with_te_series_and_published_ranges(tmp_path):
    rng = np.random.default_rng(0)
    names = [f"original_{c}_F{i}" for i, c in enumerate(["shape"] * 2 + ["glcm"] * 30)]
    truth = rng.normal(size=(10, len(names))) * 10
    acquisitions = {}
    for te in (80, 85, 90):
        noisy = truth + rng.normal(size=truth.shape) * rng.uniform(0.1, 8, len(names))
        frame = pd.DataFrame(noisy, columns=names)
        frame.insert(0, "ID", [f"roi{i}" for i in range(10)])
        frame.insert(1, "diagnostics_Versions_PyRadiomics", "v3.0.1")
        frame.to_csv(tmp_path / f"te{te}.csv", index=False)
        acquisitions[f"te{te}"] = {"features": f"te{te}.csv", "te": te}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump({
        "name": "te_series", "roi_column": "ID", "acquisitions": acquisitions,
        "comparisons": [
            {"name": "te_adjacent", "statistic": "ccc", "pairs": [["te80", "te85"], ["te85", "te90"]],
             "group": "te_adjacent"},
            {"name": "repeat", "statistic": "icc", "acquisitions": ["te80", "te85", "te90"],
             "model": "twoway", "type": "consistency", "group": "repeat_fixed"}],
        "published": {"te_adjacent": [82.4, 94.9], "repeat_fixed": [79.9, 96.4]}}))
    res = run_study(tmp_path / "study.yaml", tmp_path / "out", progress=False, n_jobs=1,
                    cache_dir=tmp_path / "cache")
    summary = res.summary.set_index("comparison")
    assert summary.loc["repeat", "statistic"] == "ICC(C,1)"
    assert summary.loc["repeat", "n_features"] == 32 and summary.loc["repeat", "n_rois"] == 10
    md = (res.out_dir / "report.md").read_text()
    assert "## Simulated vs published" in md
    # the published range is compared with the two pairs, not with the combined row
    te_rows = summary.loc[["te_adjacent/te80_vs_te85", "te_adjacent/te85_vs_te90"], "pct_excellent"]
    assert summary.loc["te_adjacent", "pct_excellent"] <= te_rows.min()
    line = next(ln for ln in md.splitlines() if ln.startswith("| te_adjacent | 2 |"))
    inside = "yes" if ((te_rows >= 82.4) & (te_rows <= 94.9)).all() else "no"
    # percentages with one decimal; the margin column (no single published figure) is left out
    assert f"{te_rows.min():.1f} | {te_rows.max():.1f} | 82.4 | 94.9 | {inside} |" in line
    assert "margin_pct" not in md
    # the overview counts the comparisons of the study file and the rows they give
    assert "2 comparisons (4 results: a comparison over pairs gives one per pair" in md
    # counts are integers, the robust features are named by family and class
    assert "| repeat | ICC(C,1) | 10 | 32 |" in md
    assert len(res.robust) > 0
    for feature in res.robust["feature"]:
        assert feature.split("_", 2)[-1] in md
    assert (res.out_dir / "figures" / "te_pairs.png").stat().st_size > 1000
    html = (res.out_dir / "report.html").read_text()
    # self-contained: every image is embedded; links go to the tables beside it
    assert re.findall(r"<img[^>]+src='([^']{0,5})", html) == ["data:"] * 5
    assert (res.out_dir / "figures" / "bands.png").stat().st_size > 1000
    assert "## Agreement bands by image type and feature class" in md
    for name in ("summary.csv", "per_feature.csv", "robust_features.csv", "failures.csv",
                 "wcv_by_size.csv", "band_counts.csv"):
        assert f"href='{name}'" in html and (res.out_dir / name).is_file()
