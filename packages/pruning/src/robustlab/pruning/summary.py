"""The short summary ``robustlab-prune-aggregate`` prints before the report's path.

Read from what the aggregation wrote (``<sweep>/aggregate/metrics.csv`` and
``<sweep>/aggregate/report/sweet_spots_summary.csv``): top-1 per step and model (the mean over
seeds), then the sweet spots, a curve per line with its sparsity range and its largest gain
over the dense model, the practical margin it had to beat, the one-sided lower bound at Holm's
level (above the margin: the sweet spot) and the step's two-sided interval (the gain is
``direction x (sparse - dense)``, positive is better: :mod:`robustlab.pruning.sweetspot`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: Sweet-spot curves listed per model (the rest are counted; the CSV has them all).
MAX_CURVES = 8


def sweep_summary(aggregate_dir: str | Path, max_curves: int = MAX_CURVES) -> str:
    """The summary of an aggregated sweep, as lines of text (empty without a metrics table)."""
    aggregate_dir = Path(aggregate_dir)
    metrics_path = aggregate_dir / "metrics.csv"
    if not metrics_path.is_file():
        return ""
    table = top1_table(pd.read_csv(metrics_path))
    lines = ["top-1 by step and model:", table.to_string(index=False, formatters={"sparsity": "{:.1%}".format},
                                                         float_format="{:.3f}".format)]
    summary_path = aggregate_dir / "report" / "sweet_spots_summary.csv"
    if summary_path.is_file():
        lines += sweet_spot_lines(pd.read_csv(summary_path, keep_default_na=True), max_curves)
        lines.append(f"(every curve: {summary_path})")
    return "\n".join(lines)


def top1_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Top-1 with a row per step (its sparsity, the mean over the runs) and a column per model
    (``model/method`` when the sweep has several pruning methods)."""
    metrics = metrics.copy()
    column = metrics["model"].astype(str)
    if "prune_method" in metrics and metrics["prune_method"].nunique() > 1:
        column = column + "/" + metrics["prune_method"].astype(str)
    metrics["curve"] = column
    table = metrics.pivot_table(index="step", columns="curve", values="top1", aggfunc="mean")
    table.insert(0, "sparsity", metrics.groupby("step")["sparsity"].mean())
    table.columns.name = None
    return table.reset_index()


def _curve_name(row: pd.Series) -> str:
    """``table/method/metric`` (and ``@level`` when set), empty parts left out."""
    parts = [str(row[k]) for k in ("table", "method", "metric") if pd.notna(row.get(k)) and str(row[k])]
    level = row.get("level")
    return "/".join(parts) + (f"@{float(level):g}" if pd.notna(level) and float(level) else "")


def sweet_spot_lines(summary: pd.DataFrame, max_curves: int = MAX_CURVES) -> list[str]:
    """Per model: how many curves have a sweet spot, and the best ``max_curves`` of them."""
    lines = ["sweet spots (sparse better than dense by more than the margin, Holm across the report;"
             " at the step of the largest gain: gain, margin, Holm lower bound, 95 % interval):"]
    if summary.empty:
        return [*lines, "  none tested"]
    shown = {model: block[block["n_sweet"] > 0].sort_values("peak_gain", ascending=False)
             for model, block in summary.groupby("model", sort=True)}
    width = max((len(_curve_name(r)) for hits in shown.values() for _, r in hits.head(max_curves).iterrows()),
                default=0)
    for model, block in summary.groupby("model", sort=True):
        hits = shown[model]
        scope = f" ({hits['scope'].iloc[0]})" if len(hits) and "scope" in hits else ""
        lines.append(f"  {model}: {len(hits)} of {len(block)} curves{scope}")
        for _, row in hits.head(max_curves).iterrows():
            span = f"{row['sweet_min']:.0%}" if row["sweet_min"] == row["sweet_max"] else \
                f"{row['sweet_min']:.0%}-{row['sweet_max']:.0%}"
            lines.append(f"    {_curve_name(row):<{width}} at {span:<9} gain {row['peak_gain']:+.3f} "
                         f"margin {row['margin']:.3g} bound {row['peak_ci_low_adj']:+.3f} "
                         f"[{row['peak_ci_low']:+.3f}, {row['peak_ci_high']:+.3f}] at {row['peak_sparsity']:.0%}")
        if len(hits) > max_curves:
            lines.append(f"    ... and {len(hits) - max_curves} more")
    return lines
