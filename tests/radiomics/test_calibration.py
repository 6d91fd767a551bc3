"""Calibration over seeds: the table, the protocol it runs, and the report's columns."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from robustlab.radiomics.phantom import load_config
from robustlab.radiomics.seed_runs import calibration_table, published_only


def seeds_summary() -> pd.DataFrame:
    rows = []
    for seed in range(1, 21):
        rows += [(seed, "rep_a", "repeat", 80.0 + seed % 5), (seed, "rep_b", "repeat", 95.0 - seed % 3),
                 (seed, "te/a_vs_b", "te", 85.0), (seed, "te", "te", 10.0),  # combined row: left out
                 (seed, "vendors", "vendors", 3.0 + 0.2 * seed)]
    return pd.DataFrame(rows, columns=["seed", "comparison", "group", "pct_excellent"])


def test_each_published_figure_against_the_same_statistic_over_seeds():
    table = calibration_table(seeds_summary(), {"repeat": (80.0, 96.0), "vendors": (4.6, 4.6),
                                                "te": (84.0, 86.0), "shape_only": (2.0, 2.0)})
    rows = table.set_index(["group", "figure"])
    assert list(rows.index) == [("repeat", "lowest"), ("repeat", "highest"), ("vendors", "value"),
                                ("te", "lowest"), ("te", "highest")]  # no summary rows: no shape_only
    lowest = [min(80.0 + s % 5, 95.0 - s % 3) for s in range(1, 21)]
    assert rows.loc[("repeat", "lowest"), "median"] == pytest.approx(np.median(lowest))
    assert rows.loc[("repeat", "lowest"), "p5"] == pytest.approx(np.percentile(lowest, 5))
    assert rows.loc[("repeat", "highest"), "p95"] == pytest.approx(95.0)
    assert not rows.loc[("repeat", "highest"), "inside"]  # 96.0 > p95
    assert rows.loc[("te", "lowest"), "median"] == 85.0  # the pair, not the combined row
    vendors = rows.loc[("vendors", "value")]
    assert vendors["inside"] and vendors["n_seeds"] == 20
    assert vendors["median_ok"] == (abs(vendors["median"] - 4.6) <= 3.0)


def test_the_calibrated_protocol_keeps_only_published_groups_and_their_acquisitions():
    protocol = published_only(load_config("protocol", "paper"))
    assert "repeat_3d" not in {c["group"] for c in protocol["comparisons"]}
    assert not any(a.startswith("B15_3d") for a in protocol["acquisitions"])
    assert {"B15_rep1", "B15_rep3", "B15_vendor", "B15_tr4405"} <= set(protocol["acquisitions"])


def test_the_report_shows_the_calibrated_spread_beside_the_published_figure(tmp_path, monkeypatch):
    from robustlab.radiomics.phantom import calibration
    from robustlab.radiomics.report import published_table

    table = calibration_table(seeds_summary(), {"repeat": (80.0, 96.0), "vendors": (4.6, 4.6)})
    table.to_csv(tmp_path / "demo.csv", index=False)
    monkeypatch.setattr(calibration, "calibration_path", lambda name: tmp_path / f"{name}.csv")
    summary = pd.DataFrame({"comparison": ["rep_a", "rep_b", "vendors"], "group": ["repeat", "repeat", "vendors"],
                            "n_features": [944] * 3, "pct_excellent": [84.0, 93.0, 5.0]})
    study = SimpleNamespace(name="demo", published={"repeat": (80.0, 96.0), "vendors": (4.6, 4.6)},
                            comparisons=[])
    out = published_table(study, summary).set_index("group")
    low, high = "calibrated_lowest_pct (20 seeds)", "calibrated_highest_pct (20 seeds)"
    cal = table.set_index(["group", "figure"])
    assert out.loc["repeat", low] == "{:.1f} [{:.1f}, {:.1f}]".format(
        *cal.loc[("repeat", "lowest"), ["median", "p5", "p95"]])
    assert out.loc["vendors", low] == out.loc["vendors", high]
    assert out.loc["repeat", "simulated_min_pct"] == 84.0  # this run, beside them
    study.name = "other"  # no calibration for it: no columns
    assert low not in published_table(study, summary).columns


def test_a_protocol_subset_names_only_the_scanners_of_its_acquisitions():
    from robustlab.radiomics.phantom.protocol import plan_study
    from robustlab.radiomics.phantom.study_writer import study_document
    from robustlab.radiomics.seed_runs import resolve_scanners

    paper = load_config("protocol", "paper")
    protocol = published_only({**paper, "published": {"te_adjacent": paper["published"]["te_adjacent"]}})
    doc = study_document(plan_study(resolve_scanners(protocol), load_config("phantom", "pelvic"), 1))
    assert {a["scanner"] for a in doc["acquisitions"].values()} == {"B15"}
    # vendor A's centre has its own extraction settings in the protocol, but no acquisition here
    assert "A15" not in doc.get("scanners", {})
