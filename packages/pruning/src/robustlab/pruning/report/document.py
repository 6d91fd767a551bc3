"""The sweep report's document: the runs, their evaluation data, the sweet spots and the figures,
written as ``report.md`` and a self-contained ``report.html``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from robustlab.common.report import Block, Document, Figure, Heading, Paragraph, Table
from robustlab.pruning.report.figures import (
    plot_distortions,
    plot_gallery,
    plot_heatmap,
    plot_metrics,
    plot_shape_bias,
)
from robustlab.pruning.runs import expand_run_dirs, load_table, sweet_spot_analysis
from robustlab.pruning.suites import suite_tables
from robustlab.pruning.sweetspot import (
    CURVE_KEYS,
    MOSTLY_UNDEFINED,
    SCOPE_IMAGES,
    SweetSpotOptions,
    curve_name,
    summarize_by_model,
)


def summary_values(run_dirs: Sequence[Path]) -> pd.DataFrame:
    """The summary rows of every run as one long table, averaged over seeds.

    ``metrics.csv``'s ``top1``/``top5`` become table ``accuracy``; the suites' tables keep their
    ``method, metric, level`` and their ``mean`` becomes ``value``.

    Returns:
        Columns ``model, prune_method, table, method, metric, level, step, sparsity, value,
        n_seeds``.
    """
    frames = []
    metrics = load_table(run_dirs, "metrics", add_overrides=False)
    if not metrics.empty:
        acc = [c for c in ("top1", "top5") if c in metrics.columns]
        keys = [c for c in ("model", "prune_method", "seed", "step", "sparsity") if c in metrics.columns]
        long = metrics.melt(id_vars=keys, value_vars=acc, var_name="metric", value_name="value")
        long["table"], long["method"], long["level"] = "accuracy", "", 0.0
        frames.append(long)
    for table in suite_tables():
        df = load_table(run_dirs, table, add_overrides=False)
        if df.empty:
            continue
        df = df.rename(columns={"mean": "value"})
        df["table"] = table
        df["method"] = df["method"].astype(str) if "method" in df.columns else ""
        df["level"] = pd.to_numeric(df["level"], errors="coerce").fillna(0.0) if "level" in df.columns else 0.0
        frames.append(df)
    cols = [*CURVE_KEYS, "step", "sparsity", "value", "n_seeds"]
    if not frames:
        return pd.DataFrame(columns=cols)
    df = pd.concat(frames, ignore_index=True)
    for key in ("model", "prune_method"):
        df[key] = df[key].astype(str) if key in df.columns else ""
    if "seed" not in df.columns:
        df["seed"] = 0
    df["metric"] = df["metric"].astype(str)
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    out = df.groupby([*CURVE_KEYS, "step"], sort=True, dropna=False).agg(
        sparsity=("sparsity", "mean"), value=("value", "mean"), n_seeds=("seed", "nunique")).reset_index()
    return out[cols]


_METHOD_TEXT = (
    "Sweet spots: per curve (model, pruning method, metric) and sparse step, the per-image "
    "difference from the dense step, paired within each seed and signed so that positive is better; "
    "its mean over the finite pairs, with seeds and images as crossed random factors (the variance "
    "sums a seed term and an image term, robustlab.common.stats.crossed_mean; Student's t on the "
    "images' degrees of freedom); one-sided p of 'gain <= margin', the metric's practical margin "
    "(sweetspot.margin; default 0.01 on metrics on [0, 1] or [-1, 1], 1 % of the dense value on the "
    "others); a step with fewer than {min_pairs} finite pairs (n_pairs) is untestable: p NaN, outside "
    "Holm's family; Holm across {holm_family}; a sweet spot where the adjusted p < {alpha}, that is "
    "where the lower confidence bound at Holm's level for that hypothesis lies above the margin."
)
_HOLM_FAMILY = {"curve": "the curve's sparse steps", "report": "every test of this report"}
_ONE_SEED_TEXT = (
    "One seed: {curves} curve(s) rest on a single trained model at some step; their inference is "
    "over images only, says how sure the gain is for that model, and cannot speak for retraining "
    "(scope in sweet_spots.csv). Run several seeds (seed=0,1,2) for a finding about the method."
)


def eval_data_table(run_dirs: Sequence[Path]) -> pd.DataFrame:
    """What each suite measured on: ``table, eval_data, metrics`` (the suites' ``eval_data`` column)."""
    rows = []
    for table in suite_tables():
        df = load_table(run_dirs, table, add_overrides=False)
        if df.empty:
            continue
        data = df["eval_data"].astype(str) if "eval_data" in df.columns else pd.Series("training", index=df.index)
        for name, group in df.groupby(data, sort=True):
            metrics = sorted({f"{m}/{k}" if str(m) else str(k)
                              for m, k in zip(group.get("method", ""), group["metric"], strict=False)})
            rows.append({"table": table, "eval_data": name, "metrics": ", ".join(metrics)})
    return pd.DataFrame(rows, columns=["table", "eval_data", "metrics"])


Directions = Sequence[tuple[str, str, str, int]]


def write_report(run_dirs: list[Path], out_dir: Path, options: SweetSpotOptions | None = None,
                 directions: Directions | None = None) -> Path:
    """Write the sweep report of ``run_dirs`` into ``out_dir``; return the path of ``report.html``.

    Args:
        run_dirs: run directories and/or Hydra multirun directories.
        out_dir: the report folder: PNG figures, the sweet-spot tables (``sweet_spots.csv``,
            ``sweet_spots_summary.csv``, ``sweet_spots_by_model.csv``), ``report.md`` (linking
            the PNGs) and ``report.html`` (every PNG embedded as base64: one file to share).
        options, directions: of the sweet-spot analysis
            (:func:`robustlab.pruning.runs.sweet_spot_analysis`); ``directions`` are
            searched before the suites' own, by the test and by the figures alike.

    Returns:
        The path of ``report.html``.
    """
    runs = expand_run_dirs(run_dirs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    values = summary_values(runs)
    options = options or SweetSpotOptions()
    sweet, summary = sweet_spot_analysis(runs, out_dir, options, directions=directions)
    metrics = load_table(runs, "metrics", add_overrides=False)
    names = ", ".join(r.name if r.parent.name != "" else str(r) for r in runs)
    blocks: list[Block] = [Paragraph([f"{len(runs)} run(s): {names}."])]
    if not metrics.empty:
        cols = [c for c in ("run", "model", "prune_method", "seed") if c in metrics.columns]
        runs_table = metrics.groupby(cols, sort=True, dropna=False).agg(
            steps=("step", "nunique"), max_sparsity=("sparsity", "max")).reset_index()
        runs_table["run"] = runs_table["run"].map(lambda r: Path(r).name)
        blocks += [Heading("Runs"), Table(runs_table)]
    data_table = eval_data_table(runs)
    if not data_table.empty:
        blocks += [Heading("Evaluation data"), Table(data_table)]
    blocks += _sweet_spot_blocks(sweet, summary, options)
    blocks += _figure_blocks(runs, values, sweet, out_dir, directions)
    return Document("Pruning sweep report", blocks).write(out_dir)["report.html"]


def _sweet_spot_blocks(sweet: pd.DataFrame, summary: pd.DataFrame, options: SweetSpotOptions) -> list[Block]:
    """The "Sweet spots" section: the method, its scope, the table per model and every sweet spot."""
    blocks: list[Block] = [Heading("Sweet spots"), Paragraph([_METHOD_TEXT.format(
        alpha=options.alpha, holm_family=_HOLM_FAMILY[options.holm_scope], min_pairs=options.min_pairs)])]
    if summary.empty:
        return [*blocks, Paragraph(["No curve with per-image values and a declared direction was found."])]
    one_seed = summary[summary["scope"] == SCOPE_IMAGES]
    if len(one_seed):
        blocks.append(Paragraph([_ONE_SEED_TEXT.format(curves=len(one_seed))]))
    sparse = summary[summary["defined_min"] < MOSTLY_UNDEFINED * summary["n_images"]]
    if len(sparse):
        names = [f"{r.model}: {curve_name(r)} (defined on {r.defined_min}-{r.defined_max} of {r.n_images} images)"
                 for r in sparse.itertuples(index=False)]
        blocks.append(Paragraph(["Values undefined on most images at some step (few pairs, wide intervals): "
                                 + "; ".join(names) + "."]))
    blocks += [Paragraph(["Per architecture and size:"]), Table(summarize_by_model(summary))]
    hits = sweet[sweet["sweet_spot"].astype(bool)]
    if hits.empty:
        return [*blocks, Paragraph(["No sweet spot: no sparsity beat the dense model by its margin at Holm's level."])]
    cols = ["model", "prune_method", "table", "method", "metric", "level", "sparsity", "dense", "value", "gain",
            "margin", "ci_low_adj", "ci_low", "ci_high", "n_pairs", "scope"]
    return [*blocks, Paragraph(["Sweet spots (gain: better-positive change from dense; ci_low_adj: its lower bound "
                                "at Holm's level, above the margin; ci_low, ci_high: its "
                                f"{1 - options.alpha:.0%} interval):"]),
            Table(hits[cols])]


def _figure_blocks(runs: Sequence[Path], values: pd.DataFrame, sweet: pd.DataFrame, out_dir: Path,
                   directions: Directions | None) -> list[Block]:
    """The "Figures" section: metrics per model, heatmap, shape bias, distortions, galleries."""
    blocks: list[Block] = [Heading("Figures")]
    models = sorted(values["model"].unique()) if not values.empty else []
    for model in models:
        fig = plot_metrics(values, sweet, model, out_dir / f"metrics_{_safe(model)}.png", directions)
        blocks.append(Figure(fig, f"{model}: every metric against sparsity, accuracy dashed on the twin axis",
                             fig.name))
    if not values.empty:
        heatmap = plot_heatmap(values, sweet, out_dir / "heatmap.png", directions)
        blocks.append(Figure(heatmap, "Every metric x sparsity, % change from dense (better > 0)", heatmap.name))
    sb = plot_shape_bias(values, sweet, out_dir / "shape_bias.png") if not values.empty else None
    if sb is not None:
        blocks.append(Figure(sb, "Shape bias against sparsity with the human reference", sb.name))
    for model in models:
        levels = plot_distortions(values, model, out_dir / f"distortions_{_safe(model)}.png")
        if levels is not None:
            blocks.append(Figure(levels, f"{model}: accuracy per distortion level", levels.name))
    seen: set[str] = set()
    for run in runs:
        model = _run_model(run)
        if model in seen:
            continue
        gallery = plot_gallery(run, out_dir / f"gallery_{_safe(model)}.png", model)
        if gallery is not None:
            seen.add(model)
            blocks.append(Figure(gallery, f"{model}: attribution maps across sparsity", gallery.name))
    return blocks


def _run_model(run: Path) -> str:
    path = run / "metrics.csv"
    if path.exists():
        m = pd.read_csv(path, nrows=1)
        if "model" in m.columns and len(m):
            return str(m["model"].iloc[0])
    return run.name


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))
