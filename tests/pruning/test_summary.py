"""The summary `robustlab-prune-aggregate` prints: top-1 per step and model, the sweet spots with
their gains, then the report's path (the last line)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robustlab.pruning.aggregate import main
from robustlab.pruning.summary import sweep_summary, sweet_spot_lines, top1_table


def test_aggregate_prints_the_summary_before_the_reports_path(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              write_fake_run) -> None:
    rng = np.random.default_rng(0)
    for job, model in ((0, "resnet_small"), (1, "vit_small")):  # a sweet spot planted at 40 and 60 %
        write_fake_run(tmp_path / str(job), model, 0, rng, bump=0.3, n_images=40, overrides=[f"model={model}"])
    assert main([str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == str(tmp_path / "aggregate" / "report" / "report.html")
    assert lines[0] == "top-1 by step and model:"
    assert lines[1].split() == ["step", "sparsity", "resnet_small", "vit_small"]
    metrics = pd.read_csv(tmp_path / "aggregate" / "metrics.csv")
    for step in range(5):
        row = lines[2 + step].split()
        top1 = metrics[metrics["step"] == step].set_index("model")["top1"]
        assert row == [str(step), f"{20 * step:.1f}%", f"{top1['resnet_small']:.3f}", f"{top1['vit_small']:.3f}"]
    text = "\n".join(lines)
    sweet = pd.read_csv(tmp_path / "aggregate" / "report" / "sweet_spots_summary.csv")
    for model in ("resnet_small", "vit_small"):
        hit = sweet[(sweet["model"] == model) & (sweet["n_sweet"] > 0)]
        head = f"  {model}: {len(hit)} of {(sweet['model'] == model).sum()} curves"
        assert any(line.startswith(head) for line in lines)
        peak = hit[hit["metric"] == "pointing_game"].iloc[0]
        assert (f"interpretability/gradcam/pointing_game at 40%-60% gain {peak['peak_gain']:+.3f} "
                f"margin {peak['margin']:.3g} bound {peak['peak_ci_low_adj']:+.3f} "
                f"[{peak['peak_ci_low']:+.3f}, {peak['peak_ci_high']:+.3f}] at {peak['peak_sparsity']:.0%}") \
            in " ".join(text.split())  # names are padded to the longest


def _curve(model: str, metric: str, gain: float, level: float = 0.0, sweet: bool = True) -> dict[str, object]:
    return {"model": model, "prune_method": "imp", "table": "alignment", "method": "rotation", "metric": metric,
            "level": level, "n_tested": 7, "n_sweet": int(sweet), "sweet_min": 0.51 if sweet else np.nan,
            "sweet_max": 0.51 if sweet else np.nan, "peak_sparsity": 0.51 if sweet else np.nan,
            "peak_gain": gain if sweet else np.nan, "peak_ci_low": gain / 2 if sweet else np.nan,
            "peak_ci_high": 2 * gain if sweet else np.nan, "peak_ci_low_adj": gain / 4 if sweet else np.nan,
            "margin": 0.01, "scope": "seeds x images"}


def test_sweet_spots_are_listed_best_first_and_the_rest_counted():
    summary = pd.DataFrame([_curve("resnet", f"m{i}", gain=0.01 * (i + 1), level=90.0 * (i == 2)) for i in range(4)]
                           + [_curve("resnet", "none", 0.0, sweet=False), _curve("vit", "none", 0.0, sweet=False)])
    lines = sweet_spot_lines(summary, max_curves=2)
    width = len("alignment/rotation/m2@90")  # the longest name
    assert lines[1:] == [
        "  resnet: 4 of 5 curves (seeds x images)",
        f"    {'alignment/rotation/m3':<{width}} at 51%       gain +0.040 margin 0.01 bound +0.010 "
        "[+0.020, +0.080] at 51%",
        f"    {'alignment/rotation/m2@90':<{width}} at 51%       gain +0.030 margin 0.01 bound +0.007 "
        "[+0.015, +0.060] at 51%",
        "    ... and 2 more",
        "  vit: 0 of 1 curves"]
    assert sweet_spot_lines(summary.iloc[:0])[1:] == ["  none tested"]


def test_top1_is_the_mean_over_seeds_with_a_column_per_model_and_method():
    metrics = pd.DataFrame({"model": ["a"] * 4 + ["b"] * 2, "prune_method": ["x", "x", "x", "x", "y", "y"],
                            "seed": [0, 1, 0, 1, 0, 0], "step": [0, 0, 1, 1, 0, 1],
                            "sparsity": [0.0, 0.0, 0.2, 0.2, 0.0, 0.2], "top1": [0.5, 0.7, 0.4, 0.6, 0.9, 0.8]})
    table = top1_table(metrics)
    assert list(table.columns) == ["step", "sparsity", "a/x", "b/y"]
    assert table["a/x"].tolist() == pytest.approx([0.6, 0.5]) and table["b/y"].tolist() == pytest.approx([0.9, 0.8])


def test_no_metrics_no_summary(tmp_path: Path) -> None:
    assert sweep_summary(tmp_path) == ""
