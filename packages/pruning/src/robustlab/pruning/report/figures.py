"""The sweep report's figures, drawn from the runs' summary values
(:func:`~robustlab.pruning.report.document.summary_values`) and the sweet-spot table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustlab.common.report import pyplot, save_figure
from robustlab.pruning.alignment.shape_bias import HUMAN_SHAPE_BIAS
from robustlab.pruning.sweetspot import metric_direction

#: Methods of the alignment table drawn in the distortion figure rather than as metric panels.
_NOT_DISTORTIONS = ("clean", "shape_bias", "error_consistency")
_PANEL_COLUMNS = 3


def _curve_label(table: str, method: str, metric: str, level: float) -> str:
    parts = [table, method, metric] if method and method != metric else [table, metric]
    label = " / ".join(p for p in parts if p)
    return f"{label} @ {level:g}" if level else label


def _panel_curves(values: pd.DataFrame, model: str) -> list[tuple[str, str, str, float]]:
    """The (table, method, metric, level) panels of a model's metric figure."""
    sub = values[values["model"] == model]
    keys = sub[["table", "method", "metric", "level"]].drop_duplicates()
    is_distortion = (keys["table"] == "alignment") & (keys["metric"] == "top1") & ~keys["method"].isin(_NOT_DISTORTIONS)
    is_kappa_part = (keys["method"] == "error_consistency") & keys["metric"].str.startswith("kappa_dense_")
    keys = keys[~is_distortion & ~is_kappa_part & ~((keys["table"] == "accuracy") & (keys["metric"] != "top1"))]
    order = {"accuracy": 0, "alignment": 1, "interpretability": 2, "discovery": 3}
    return sorted(keys.itertuples(index=False, name=None),
                  key=lambda k: (order.get(k[0], 9), str(k[1]), str(k[2]), k[3]))


def _shade_sweet(ax: Any, sweet_rows: pd.DataFrame, sparsities: np.ndarray) -> None:
    """Shade the span around each sweet-spot sparsity (half-way to its neighbours)."""
    grid = np.unique(sparsities[np.isfinite(sparsities)])
    for s in sweet_rows.loc[sweet_rows["sweet_spot"].astype(bool), "sparsity"]:
        i = int(np.argmin(np.abs(grid - s)))
        lo = (grid[i - 1] + grid[i]) / 2 if i > 0 else grid[i] - 0.01
        hi = (grid[i + 1] + grid[i]) / 2 if i + 1 < len(grid) else grid[i] + 0.01
        ax.axvspan(lo, hi, color="gold", alpha=0.35, lw=0, zorder=0)


def _band(curve_sweet: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The interval of the change from dense, drawn about the dense value, in the metric's units."""
    d = curve_sweet.sort_values("sparsity")
    direction = d["direction"].to_numpy(dtype=float)
    dense = d["dense"].to_numpy()
    a = dense + direction * d["ci_low"].to_numpy()
    b = dense + direction * d["ci_high"].to_numpy()
    # The band starts at the dense step, where the change is zero by definition.
    x = np.r_[0.0, d["sparsity"].to_numpy()]
    return x, np.r_[dense[0], np.minimum(a, b)], np.r_[dense[0], np.maximum(a, b)]


def plot_metrics(values: pd.DataFrame, sweet: pd.DataFrame, model: str, path: Path,
                 directions: Sequence[tuple[str, str, str, int]] | None = None) -> Path:
    """Every metric of ``model`` against sparsity, accuracy on a twin axis, CI bands, sweet spots."""
    plt = pyplot()
    panels = _panel_curves(values, model)
    ncols = min(_PANEL_COLUMNS, max(1, len(panels)))
    nrows = max(1, math.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.8 * nrows), squeeze=False)
    sub = values[values["model"] == model]
    acc = sub[(sub["table"] == "accuracy") & (sub["metric"] == "top1")]
    methods = sorted(sub["prune_method"].unique())
    colors = plt.get_cmap("tab10")
    keys = ["table", "method", "metric", "level", "prune_method"]
    curves = {k: g.sort_values("sparsity") for k, g in sub.groupby(keys, sort=False)}
    sweet_of = {k: g for k, g in sweet[sweet["model"] == model].groupby(keys, sort=False)} if not sweet.empty else {}
    acc_of = {pm: a.sort_values("sparsity") for pm, a in acc.groupby("prune_method", sort=False)}
    for ax, (table, method, metric, level) in zip(axes.flat, panels, strict=False):
        for j, pm in enumerate(methods):
            cur = curves.get((table, method, metric, level, pm))
            if cur is None:
                continue
            ax.plot(cur["sparsity"], cur["value"], "o-", ms=3, color=colors(j), label=pm)
            cs = sweet_of.get((table, method, metric, level, pm))
            if cs is not None:
                x, lo, hi = _band(cs)
                ax.fill_between(x, lo, hi, color=colors(j), alpha=0.2, lw=0)
                _shade_sweet(ax, cs, cur["sparsity"].to_numpy())
        direction = metric_direction(table, method, metric, directions)
        arrow = {1: " (higher better)", -1: " (lower better)"}.get(direction, "")
        ax.set_title(_curve_label(table, method, metric, level) + arrow, fontsize=10)
        ax.set_xlabel("sparsity", fontsize=9)
        ax.tick_params(labelsize=8)
        if not (table == "accuracy" and metric == "top1") and acc_of:
            twin = ax.twinx()
            for j, pm in enumerate(methods):
                if pm in acc_of:
                    twin.plot(acc_of[pm]["sparsity"], acc_of[pm]["value"], "--", color=colors(j), alpha=0.45, lw=1)
            twin.tick_params(labelsize=6, colors="grey")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if methods:
        axes.flat[0].legend(fontsize=7, title="pruning", title_fontsize=7)
    fig.suptitle(f"{model}: metrics against sparsity; dashed, right axis: top-1 accuracy; band: 95% bootstrap "
                 "CI of the change from dense; gold: sweet spots", fontsize=10)
    # Fixed spacing: tight_layout's extra drawing pass costs seconds on a figure of many panels.
    fig.subplots_adjust(left=0.05, right=0.95, bottom=0.06 if nrows > 2 else 0.12, top=1 - 0.5 / (3.8 * nrows) - 0.02,
                        hspace=0.5, wspace=0.35)
    return save_figure(fig, path, tight=False)


def plot_heatmap(values: pd.DataFrame, sweet: pd.DataFrame, path: Path,
                 directions: Sequence[tuple[str, str, str, int]] | None = None) -> Path:
    """Every metric x sparsity, relative change from dense signed so that better is positive.

    One panel per model (its first pruning method); cells are ``100 * d * (x - x_0) / |x_0|``
    with ``d`` the metric's declared direction (1 where it has none) and ``x_0`` the dense
    value; sweet spots are starred.
    """
    plt = pyplot()
    models = sorted(values["model"].unique())
    blocks = []
    for model in models:
        sub = values[values["model"] == model]
        pm = sorted(sub["prune_method"].unique())[0]
        sub = sub[sub["prune_method"] == pm]
        # Error consistency per distortion is left out; the pooled kappa_dense row stays.
        sub = sub[~sub["metric"].str.startswith("kappa_dense_")]
        wide = sub.pivot_table(index=["table", "method", "metric", "level"], columns="step", values="value",
                               aggfunc="mean")
        spars = sub.groupby("step")["sparsity"].mean()
        if 0 not in wide.columns:
            continue
        dense = wide[0]
        rel = wide.sub(dense, axis=0).div(dense.abs().where(dense.abs() > 1e-12), axis=0)
        signs = np.array([metric_direction(t, m, k, directions) or 1 for t, m, k, _ in rel.index], dtype=float)
        rel = rel.mul(signs, axis=0) * 100
        marks = np.zeros(rel.shape, dtype=bool)
        cs = sweet[(sweet["model"] == model) & (sweet["prune_method"] == pm) & sweet["sweet_spot"].astype(bool)]
        for row in cs.itertuples(index=False):
            key = (row.table, row.method, row.metric, row.level)
            if key in rel.index and row.step in rel.columns:
                marks[rel.index.get_loc(key), rel.columns.get_loc(row.step)] = True
        blocks.append((model, pm, rel, marks, spars))
    if not blocks:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.text(0.5, 0.5, "no metric with a dense step", ha="center")
        ax.axis("off")
        return save_figure(fig, path)
    height = max(len(b[2]) for b in blocks)
    fig, axes = plt.subplots(1, len(blocks), figsize=(6.5 * len(blocks), 1.2 + 0.22 * height), squeeze=False)
    finite = np.concatenate([np.abs(b[2].to_numpy()[np.isfinite(b[2].to_numpy())]) for b in blocks])
    vmax = float(np.percentile(finite, 95)) if finite.size else 1.0
    vmax = max(vmax, 1e-6)
    for ax, (model, pm, rel, marks, spars) in zip(axes.flat, blocks, strict=True):
        im = ax.imshow(rel.to_numpy(dtype=float), aspect="auto", cmap="RdYlGn", vmin=-vmax, vmax=vmax)
        ax.set_yticks(range(len(rel)))
        ax.set_yticklabels([_curve_label(*k) + ("" if metric_direction(k[0], k[1], k[2], directions)
                                                else " [no direction]")
                            for k in rel.index], fontsize=6)
        ax.set_xticks(range(rel.shape[1]))
        ax.set_xticklabels([f"{spars.get(s, np.nan):.2f}" for s in rel.columns], fontsize=6, rotation=90)
        ax.set_xlabel("sparsity", fontsize=8)
        ax.set_title(f"{model} ({pm})", fontsize=9)
        for i, j in zip(*np.nonzero(marks), strict=True):
            ax.text(j, i, "*", ha="center", va="center", fontsize=9, color="black")
        fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02).set_label("% change from dense (better > 0)", fontsize=7)
    fig.suptitle("Every metric x sparsity, relative to dense (* = sweet spot)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def undefined_map(a: np.ndarray) -> str | None:
    """Why an attribution map has nothing to draw (zero everywhere, or no finite value), or None."""
    if not np.isfinite(a).any():
        return "undefined\n(no finite value)"
    if not np.nanmax(np.abs(a)) > 0:
        return "undefined\n(zero map)"
    return None


def plot_gallery(run_dir: Path, path: Path, model: str, image: int = 0) -> Path | None:
    """Attribution maps of one gallery image at every step of a run (rows: methods)."""
    files = sorted((run_dir / "interpretability").glob("gallery_step*.npz"))
    if not files:
        return None
    plt = pyplot()
    sparsity = {}
    metrics_csv = run_dir / "metrics.csv"
    if metrics_csv.exists():
        m = pd.read_csv(metrics_csv)
        sparsity = dict(zip(m["step"].astype(int), m["sparsity"].astype(float), strict=False))
    steps = []
    for f in files:
        with np.load(f) as data:
            maps = {k[4:]: data[k] for k in data.files if k.startswith("map_")}
            steps.append((int(f.stem.split("step")[-1]), data["images"][image], {k: v[image] for k, v in maps.items()}))
    methods = sorted({k for _, _, maps in steps for k in maps})
    fig, axes = plt.subplots(len(methods) + 1, len(steps), figsize=(1.8 * len(steps), 1.8 * (len(methods) + 1)),
                             squeeze=False)
    for j, (step, img, maps) in enumerate(steps):
        axes[0, j].imshow(img)
        axes[0, j].set_title(f"s={sparsity.get(step, float('nan')):.2f}", fontsize=7)
        for i, method in enumerate(methods, start=1):
            if method in maps:
                a = np.abs(maps[method].astype(float))
                axes[i, j].imshow(img, alpha=0.35)
                if (note := undefined_map(a)) is None:
                    axes[i, j].imshow(a / np.nanmax(a), cmap="inferno", alpha=0.7)
                else:
                    axes[i, j].text(0.5, 0.5, note, transform=axes[i, j].transAxes, ha="center", va="center",
                                    fontsize=7, color="white", bbox={"facecolor": "black", "alpha": 0.6, "lw": 0})
            if j == 0:
                axes[i, j].set_ylabel(method, fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("image", fontsize=7)
    fig.suptitle(f"{model}: attribution maps across sparsity (run {run_dir.name}, image {image})", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_shape_bias(values: pd.DataFrame, sweet: pd.DataFrame, path: Path) -> Path | None:
    """Shape bias against sparsity per model, with its bootstrap band and the human reference."""
    sub = values[(values["table"] == "alignment") & (values["method"] == "shape_bias")
                 & (values["metric"] == "shape_bias")]
    if sub.empty:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = plt.get_cmap("tab10")
    for j, ((model, pm), cur) in enumerate(sub.groupby(["model", "prune_method"], sort=True)):
        cur = cur.sort_values("sparsity")
        ax.plot(cur["sparsity"], cur["value"], "o-", color=colors(j), label=f"{model} ({pm})")
        cs = sweet[(sweet["model"] == model) & (sweet["prune_method"] == pm) & (sweet["method"] == "shape_bias")
                   & (sweet["metric"] == "shape_bias")]
        if not cs.empty:
            x, lo, hi = _band(cs)
            ax.fill_between(x, lo, hi, color=colors(j), alpha=0.2, lw=0)
            hits = cs[cs["sweet_spot"].astype(bool)]
            ax.plot(hits["sparsity"], hits["value"], "*", ms=12, color=colors(j))
    ax.axhline(HUMAN_SHAPE_BIAS, color="black", ls="--", lw=1)
    ax.text(0.01, HUMAN_SHAPE_BIAS - 0.02, f"humans ({HUMAN_SHAPE_BIAS:.2f}, Geirhos et al. 2019)", fontsize=8,
            va="top", transform=ax.get_yaxis_transform())
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("sparsity")
    ax.set_ylabel("shape bias (cue conflict)")
    ax.set_title("Shape bias against sparsity (band: 95% CI of the change from dense; * sweet spot)", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_distortions(values: pd.DataFrame, model: str, path: Path) -> Path | None:
    """Accuracy per distortion level, one line per sparsity (the first pruning method)."""
    sub = values[(values["model"] == model) & (values["table"] == "alignment") & (values["metric"] == "top1")]
    if sub.empty:
        return None
    pm = sorted(sub["prune_method"].unique())[0]
    sub = sub[sub["prune_method"] == pm]
    clean = sub[sub["method"] == "clean"].set_index("step")["value"]
    dist = sub[~sub["method"].isin(_NOT_DISTORTIONS)]
    names = sorted(dist["method"].unique())
    if not names:
        return None
    plt = pyplot()
    ncols = min(_PANEL_COLUMNS, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(3.6 * ncols, 7.0), 2.8 * nrows + 0.6), squeeze=False)
    steps = sorted(sub["step"].unique())
    spars = sub.groupby("step")["sparsity"].mean()
    cmap = plt.get_cmap("viridis")
    smax = max(float(spars.max()), 1e-9)
    for ax, name in zip(axes.flat, names, strict=False):
        for step in steps:
            cur = dist[(dist["method"] == name) & (dist["step"] == step)].sort_values("level")
            if cur.empty:
                continue
            lv = cur["level"].to_numpy()
            acc = cur["value"].to_numpy()
            if step in clean.index and not np.any(lv == 0):
                lv, acc = np.r_[0.0, lv], np.r_[clean.loc[step], acc]
            ax.plot(lv, acc, "o-", ms=3, lw=1, color=cmap(float(spars.loc[step]) / smax))
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("level", fontsize=7)
        ax.set_ylabel("top-1", fontsize=7)
        ax.set_ylim(-0.02, 1.02)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, smax))
    cax = fig.add_axes((0.88, 0.15, 0.015, 0.6))
    fig.colorbar(sm, cax=cax).set_label("sparsity")
    fig.suptitle(f"{model} ({pm}): accuracy per distortion level (level 0: clean images)", fontsize=10)
    fig.subplots_adjust(left=0.07, bottom=0.1 if nrows > 1 else 0.18, top=1 - 0.6 / (2.8 * nrows + 0.6),
                        hspace=0.6, wspace=0.35, right=0.85)
    return save_figure(fig, path, tight=False)
