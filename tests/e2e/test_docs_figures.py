"""scripts/docs_figures.py: the figures regions of the docs parse, and are written from a run's tables.

The runs here are fake (tables written by the test with known values): what is checked is that
each figure comes from the table it names, that the text around the regions is kept, that the
run's commit is written beside the figures, and that a second run changes nothing.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import docs_figures  # noqa: E402  (a script, imported from its folder)


def run_info(folder: Path, commit: str, dirty: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run_info.json").write_text(json.dumps({"git": {"commit": commit, "dirty": dirty},
                                                      "start_time": "2026-11-30T10:00:00+00:00"}))


def fake_sweep(root: Path) -> Path:
    """Two jobs (resnet_small, vit_small) of three steps and the aggregate's sweet-spot summary."""
    for model, top1 in (("resnet_small", [0.991, 0.952, 0.977]), ("vit_small", [0.671, 0.668, 0.702])):
        job = root / f"{model}-imp_lr_rewind-seed0"
        run_info(job, "0123456789abcdef")
        pd.DataFrame({"step": [0, 1, 2], "sparsity": [0.0, 0.3, 0.51], "top1": top1, "model": model}).to_csv(
            job / "metrics.csv", index=False)
        rows = [("gradcam", "pointing_game", 0.812), ("guided_gradcam", "pointing_game", 0.996),
                ("gradcam", "energy_pointing_game", 0.551), ("guided_gradcam", "energy_pointing_game", 0.944)]
        pd.DataFrame([{"method": m, "metric": k, "mean": v, "step": 0} for m, k, v in rows]
                     + [{"method": "gradcam", "metric": "pointing_game", "mean": 0.5, "step": 1}]).to_csv(
            job / "interpretability.csv", index=False)
        pd.DataFrame([{"method": m, "metric": "corloc", "mean": v, "step": 0}
                      for m, v in (("lost", 0.875), ("tokencut", 0.719), ("centred_box", 0.25))]).to_csv(
            job / "discovery.csv", index=False)
    report = root / "aggregate" / "report"
    report.mkdir(parents=True)
    curves = [("resnet_small", "accuracy", "", "top1", 0.0, 0, 0.0, 0.0, 0.0),
              ("resnet_small", "alignment", "rotation", "top1", 90.0, 2, 0.30, 0.51, 0.12),
              ("vit_small", "discovery", "tokencut", "corloc", 0.0, 1, 0.51, 0.51, 0.36)]
    pd.DataFrame([dict(zip(("model", "table", "method", "metric", "level", "n_sweet", "sweet_min", "sweet_max",
                            "peak_gain"), c, strict=True), n_untestable=0) for c in curves]).to_csv(
        report / "sweet_spots_summary.csv", index=False)
    steps = []
    for model, table, method, metric, level, _, low, high, _ in curves:
        for step, sparsity in ((1, 0.30), (2, 0.51)):
            sweet = table != "accuracy" and low <= sparsity <= high
            gain = 0.12 if sweet else -0.01
            steps.append(dict(model=model, table=table, method=method, metric=metric, level=level, step=step,
                              sparsity=sparsity, dense=0.5, value=0.5 + gain, gain=gain, ci_low=gain - 0.05,
                              ci_high=gain + 0.05, ci_low_adj=gain - 0.08, margin=0.01, sweet_spot=sweet,
                              holm_scope="report", testable=True))
    pd.DataFrame(steps).to_csv(report / "sweet_spots.csv", index=False)
    return root


def fake_radiomics_run(root: Path) -> Path:
    run_info(root, "fedcba9876543210", dirty=True)
    pd.DataFrame({"comparison": ["repeat", "between_vendors", "between_field_strengths", "repeat_3d"],
                  "family": ["2D", "2D", "2D", "3D"], "n_features": [944, 944, 944, 1316],
                  "pct_excellent": [91.2, 4.66, 17.54, 62.1]}).to_csv(root / "summary.csv", index=False)
    pd.DataFrame({"family": ["2D"] * 3 + ["3D"] * 4, "feature": list("abcdefg")}).to_csv(
        root / "robust_features.csv", index=False)
    (root / "failures.csv").write_text("acquisition,roi,perturbation,image,mask,error\n")
    return root


@pytest.fixture
def pages(tmp_path: Path) -> Path:
    """A copy of the pages the script writes, under a root of their own."""
    for page in docs_figures.PAGES:
        (tmp_path / "root" / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / page, tmp_path / "root" / page)
    return tmp_path / "root"


def outside(text: str) -> str:
    return docs_figures.REGION.sub(lambda m: m.group(1) + m.group(4), text)


@pytest.mark.parametrize("page", docs_figures.PAGES)
def test_the_regions_of_the_docs_parse_and_name_known_writers(page):
    names = docs_figures.regions((REPO / page).read_text(encoding="utf-8"))
    assert names, f"{page} has no figures region"


def test_every_writer_has_a_region_in_the_docs():
    found = {n for page in docs_figures.PAGES for n in docs_figures.regions((REPO / page).read_text())}
    assert found == set(docs_figures.WRITERS)


def test_regions_are_written_from_the_runs_and_a_second_run_changes_nothing(tmp_path, pages, capsys):
    sweep, radiomics = fake_sweep(tmp_path / "sweep"), fake_radiomics_run(tmp_path / "radiomics")
    before = {page: (pages / page).read_text() for page in docs_figures.PAGES}
    assert docs_figures.main([str(sweep), str(radiomics)], root=pages) == 0
    figures = (pages / "docs/reference/figures.md").read_text()
    assert "| `resnet_small` | 0.991 | 0.952 | 0.977 |" in figures and "| sparsity | 0 | 30.0 % | 51.0 % |" in figures
    figures = " ".join(figures.split())  # prose is wrapped
    assert "Grad-CAM pointing game 0.81 (Guided Grad-CAM 1.00; energy pointing game 0.55 and 0.94)" in figures
    assert "LOST CorLoc 0.88 and TokenCut 0.72" in figures and "0.25 for a centred box" in figures
    assert ("3 of 6 tested steps (`resnet_small` 1 of 2 curves; `vit_small` 1 of 1 curves; none in clean top-1), "
            "Holm across the report, each gain's lower bound at Holm's level above its margin of 0.01") in figures
    assert "| `resnet_small` | alignment/rotation/top1 at 90 | 30.0 % | 0.500 | 0.620 | +0.120 | +0.040 | " \
           "+0.070 to +0.170 |" in (pages / "docs/reference/figures.md").read_text()
    assert "`make pruning` at commit 0123456" in figures
    flat = " ".join((pages / "docs/index.md").read_text().split())
    assert "ends with 7 robust features of 2260 (944 in 2D, 1316 in 3D) and no failed ROI" in flat
    assert "`make radiomics` at commit fedcba9+, 2026-11-30" in flat and "each of the 4 comparisons" in flat
    assert "Between vendors (4.7 %) and between field strengths (17.5 %)" in flat
    for page in docs_figures.PAGES:  # only the regions changed
        assert outside((pages / page).read_text()) == outside(before[page])
    written = {page: (pages / page).read_text() for page in docs_figures.PAGES}
    assert docs_figures.main([str(sweep), str(radiomics), "--check"], root=pages) == 0
    assert docs_figures.main([str(sweep), str(radiomics)], root=pages) == 0
    assert {page: (pages / page).read_text() for page in docs_figures.PAGES} == written
    assert capsys.readouterr().out.splitlines()[-1] == "rewritten: nothing"


def test_a_region_whose_run_is_not_given_is_kept_and_check_reports_a_change(tmp_path, pages):
    radiomics = fake_radiomics_run(tmp_path / "radiomics")
    figures_before = (pages / "docs/reference/figures.md").read_text()
    assert docs_figures.main([str(radiomics), "--check"], root=pages) == 1  # index.md would change
    assert docs_figures.main([str(radiomics)], root=pages) == 0
    assert (pages / "docs/reference/figures.md").read_text() == figures_before


def test_bad_markers_and_folders_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unbalanced"):
        docs_figures.regions("<!-- figures:pruning-top1:start -->\ntext\n")
    with pytest.raises(ValueError, match="unknown figures region"):
        docs_figures.regions("<!-- figures:nope:start -->\nx\n<!-- figures:nope:end -->")
    with pytest.raises(SystemExit, match="neither a pruning sweep"):
        docs_figures.read_run(tmp_path)
