"""Figures, ``report.md`` and a self-contained ``report.html`` (figures embedded as base64).

Figures (PNG, in ``figures/``):
- ``pct_excellent.png``: percentage of excellent features per comparison;
- ``by_image_type.png`` and ``by_feature_class.png``: distributions of the statistic per image
  type and per feature class (one box per group, over every comparison row);
- ``te_pairs.png``: when the study has a TE series (a pairwise comparison whose acquisitions
  all give ``te``), the percentage of excellent features of each TE pair as a heatmap
  (``pairs: all`` fills every cell);
- ``bands.png``: per comparison, one bar stacked from the four agreement bands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from robustlab.common.report import (
    Block,
    Document,
    Figure,
    Heading,
    LinkList,
    Paragraph,
    Table,
    pyplot,
    save_figure,
)
from robustlab.radiomics.study import Study

if TYPE_CHECKING:
    from robustlab.radiomics.results import StudyResult

TABLES = {
    "summary.csv": "one row per comparison: excellent features and band counts",
    "per_feature.csv": "statistic, CI and band of every feature in every comparison (also .parquet)",
    "robust_features.csv": "the robust, informative features",
    "selection.csv": "every feature with the reasons it was dropped",
    "shape_dependence.csv": "largest |Spearman rho| of each feature against the shape features",
    "texture_test.csv": "largest relative change of each feature under voxel shuffling",
    "features_wide.csv": "feature values, one row per (acquisition, ROI), as pyradiomics writes them",
    "features.parquet": "the same values as a tidy table (acquisition, roi, image type, class, feature)",
    "failures.csv": "ROIs that could not be extracted, with the error",
    "wcv_by_size.csv": "within-subject CV of every feature per comparison and ROI size group",
    "band_counts.csv": "features per agreement band, per comparison, image type and feature class",
}


def figure_pct_excellent(summary: pd.DataFrame, threshold: float, path: Path) -> Path:
    """Bar chart: percentage of excellent features per comparison."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.35 * len(summary) + 2), 4))
    ax.bar(range(len(summary)), summary["pct_excellent"], color="#3a6ea5")
    ax.set_xticks(range(len(summary)), summary["comparison"], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(f"% features with statistic > {threshold:g}")
    ax.set_ylim(0, 100)
    ax.set_title("Excellent features per comparison")
    return save_figure(fig, path)


def figure_bands(summary: pd.DataFrame, path: Path) -> Path:
    """Stacked bars: per comparison, the percentage of features in each agreement band."""
    plt = pyplot()
    bands = [("excellent", "#1a9850"), ("good", "#91cf60"), ("moderate", "#fee08b"),
             ("poor", "#d73027"), ("undefined", "#bdbdbd")]
    fig, ax = plt.subplots(figsize=(6, max(2.5, 0.3 * len(summary) + 1)))
    left = np.zeros(len(summary))
    for band, colour in bands:
        pct = 100.0 * summary[f"band_{band}"].to_numpy(np.float64) / summary["n_features"].to_numpy(np.float64)
        ax.barh(range(len(summary)), pct, left=left, color=colour, label=band)
        left += pct
    ax.set_yticks(range(len(summary)), summary["comparison"], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of features")
    ax.legend(ncol=5, fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return save_figure(fig, path)


def figure_distribution(per_feature: pd.DataFrame, by: str, path: Path) -> Path:
    """Box plots of the statistic per ``by`` (``image_type`` or ``feature_class``)."""
    plt = pyplot()
    data = per_feature.dropna(subset=["value"])
    groups = list(pd.unique(data[by]))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(groups) + 2), 4))
    if groups:
        ax.boxplot([data.loc[data[by] == g, "value"].to_numpy() for g in groups], showfliers=False)
        ax.set_xticks(range(1, len(groups) + 1), groups, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("ICC / CCC")
    ax.set_title(f"Statistic per {by.replace('_', ' ')} (all comparisons)")
    return save_figure(fig, path)


def te_pairs(study: Study, summary: pd.DataFrame) -> pd.DataFrame | None:
    """Percentage of excellent features per TE pair, as a (TE x TE) table; None without a TE series."""
    records = []
    for cmp in study.comparisons:
        if not cmp.pairs:
            continue
        tes = {m: study.acquisitions[m].meta.get("te") for m in cmp.members}
        if any(v is None for v in tes.values()):
            continue
        for name, (a, b) in cmp.units():
            row = summary.loc[summary["comparison"] == name]
            if len(row):
                records.append((float(tes[a]), float(tes[b]), float(row["pct_excellent"].iloc[0])))
    if not records:
        return None
    df = pd.DataFrame(records, columns=["te_a", "te_b", "pct"])
    values = sorted(set(df["te_a"]) | set(df["te_b"]))
    grid = pd.DataFrame(np.nan, index=values, columns=values)
    for a, b, pct in records:
        grid.loc[a, b] = grid.loc[b, a] = pct
    return grid


def figure_te(grid: pd.DataFrame, path: Path) -> Path:
    """Heatmap of the percentage of excellent features for each pair of TEs."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.3))
    im = ax.imshow(grid.to_numpy(), vmin=0, vmax=100, cmap="viridis")
    labels = [f"{v:g}" for v in grid.index]
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("TE (ms)")
    ax.set_ylabel("TE (ms)")
    fig.colorbar(im, ax=ax, label="% excellent (CCC)")
    ax.set_title("TE pairs")
    return save_figure(fig, path)


def published_table(study: Study, summary: pd.DataFrame) -> pd.DataFrame | None:
    """Per comparison group: the simulated range of pct_excellent beside the published one.

    Only the comparisons a study reports count: the combined row of a comparison over pairs
    (e.g. "excellent in every adjacent TE pair") is not one of them and is left out. A group
    is ``inside`` when every one of its comparisons lies in ``[low - margin, high + margin]``:
    a published range (a spread over scanners or pairs) has no margin; a single published
    figure ``p`` (low = high), itself a share over the study's features, is met within the
    95 % binomial margin of a share over the comparison's ``n`` features,
    ``margin = 196 sqrt(p (1 - p) / n)`` percentage points (``p`` as a fraction), e.g.
    1.3 points for 4.6 % of 944 features.

    With a calibration table for the study's name (the simulated protocol's), two columns give
    the spread over seeds of the group's lowest and highest comparison, ``median [p5, p95]``.

    The group ``shape_only`` is the share of non-shape features carrying only shape
    information (summary column ``pct_shape_only`` over ``n_non_shape``), of the ``2D``
    family when the study has one (the study's feature lists are 2D), else of every family.
    """
    if not study.published:
        return None
    combined = {c.name for c in study.comparisons if c.pairs}
    rows = []
    for group, (lo, hi) in study.published.items():
        if group == SHAPE_ONLY_GROUP:
            mine = _shape_only_rows(summary)
        else:
            mine = summary[(summary["group"] == group) & ~summary["comparison"].isin(combined)]
        got = mine["pct_excellent"]
        margin = np.nan
        if len(got) and lo == hi:
            p = lo / 100.0
            margin = 196.0 * np.sqrt(p * (1.0 - p) / float(mine["n_features"].min()))
        slack = 0.0 if np.isnan(margin) else margin
        inside = bool(len(got)) and bool(((got >= lo - slack) & (got <= hi + slack)).all())
        rows.append({"group": group, "n_comparisons": len(got),
                     "simulated_min_pct": got.min() if len(got) else np.nan,
                     "simulated_max_pct": got.max() if len(got) else np.nan,
                     "published_low_pct": lo, "published_high_pct": hi, "margin_pct": margin,
                     "inside": "yes" if inside else ("no" if len(got) else "")})
    return _with_calibration(pd.DataFrame(rows), str(getattr(study, "name", "")))


def _with_calibration(table: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """Add the calibrated spread over seeds (``median [p5, p95]``) of the lowest and the highest
    comparison of each group, from the protocol's shipped calibration table, when it has one
    (:mod:`robustlab.radiomics.phantom.calibration`)."""
    from robustlab.radiomics.phantom.calibration import load_calibration

    calibration = load_calibration(protocol)
    if calibration is None or table.empty:
        return table
    text = {(g, f): f"{m:.1f} [{lo:.1f}, {hi:.1f}]" for g, f, m, lo, hi in zip(
        calibration["group"], calibration["figure"], calibration["median"], calibration["p5"],
        calibration["p95"], strict=True)}
    n_seeds = int(calibration["n_seeds"].min())
    for column, figure in (("lowest", "lowest"), ("highest", "highest")):
        table[f"calibrated_{column}_pct ({n_seeds} seeds)"] = [
            text.get((g, figure), text.get((g, "value"), "")) for g in table["group"]]
    return table


SHAPE_ONLY_GROUP = "shape_only"


def _shape_only_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per family with shape-only figures, as ``pct_excellent`` over ``n_features``."""
    rows = summary.dropna(subset=["pct_shape_only"]).drop_duplicates("family")
    if (rows["family"] == "2D").any():
        rows = rows[rows["family"] == "2D"]
    return pd.DataFrame({"pct_excellent": rows["pct_shape_only"], "n_features": rows["n_non_shape"]})


def write_report(study: Study, result: StudyResult) -> dict[str, Path]:
    """Write the figures, ``report.md`` and ``report.html`` into ``result.out_dir``.

    Returns:
        Name -> path of every file written.
    """
    out = result.out_dir
    figs = out / "figures"
    summary, per_feature = result.summary, result.per_feature
    written = {
        "pct_excellent": figure_pct_excellent(summary, study.threshold, figs / "pct_excellent.png"),
        "by_image_type": figure_distribution(per_feature, "image_type", figs / "by_image_type.png"),
        "by_feature_class": figure_distribution(per_feature, "feature_class",
                                                figs / "by_feature_class.png"),
        "bands": figure_bands(summary, figs / "bands.png"),
    }
    grid = te_pairs(study, summary)
    if grid is not None:
        written["te_pairs"] = figure_te(grid, figs / "te_pairs.png")
    doc = Document(f"Radiomics robust-feature report: {study.name}",
                   _sections(study, result, published_table(study, summary)),
                   page_title=f"{study.name}: radiomics report")
    doc.blocks.append(Heading("Figures"))
    doc.blocks += [Figure(path, name) for name, path in written.items()]
    links = [(name, what) for name, what in TABLES.items() if (out / name).exists()]
    doc.blocks.append(LinkList("Tables", [*links, ("report.html", "this report, self-contained")]))
    written.update(doc.write(out))
    return written


def _sections(study: Study, result: StudyResult, published: pd.DataFrame | None) -> list[Block]:
    sel = result.selection
    dropped = sel.loc[~sel["robust"], "reason"].str.split("; ").explode()
    reasons = dropped.str.replace(r"^([^:]+):.*$", r"\1", regex=True).value_counts()
    reason_table = reasons.rename_axis("reason").reset_index(name="n_features")
    failures = result.failures
    n_rois = len(result.features[["acquisition", "roi"]].drop_duplicates())
    lines = [
        f"Study file: `{study.path.name}`; {len(study.acquisitions)} acquisitions, "
        f"{len(study.comparisons)} comparisons; a feature is excellent when its statistic is "
        f"> {study.threshold:g}.",
        f"Features of {n_rois} ROI(s); {len(failures)} extraction(s) failed (what was extracted "
        "in this run and what came from the cache: `extraction.json`).",
        *[f"Robust, informative features, {family} extraction: **{int(rows['robust'].sum())}** "
          f"of {len(rows)}." for family, rows in sel.groupby("family", sort=False)],
    ]
    if len(failures):
        lines.append("Missing (failed) ROIs: " + ", ".join(
            f"{a}:{r}{' (' + p + ')' if p else ''}" for a, r, p in
            zip(failures["acquisition"], failures["roi"], failures["perturbation"], strict=True)))
    sections: list[Block] = [Heading("Overview"), Paragraph(lines), Heading("Summary"), _table(result.summary)]
    if published is not None:
        sections += [Heading("Simulated vs published (% excellent per group)"), _table(published)]
    sections += [Heading("Why features were dropped (a feature may have several reasons)"), _table(reason_table)]
    sections += agreement_sections(result)
    if len(failures):
        sections += [Heading("Failures"), _table(failures[["acquisition", "roi", "perturbation", "error"]])]
    return sections


SHAPE_ONLY_READING = (
    "The study reports that 2.0 % of non-shape features provide only shape information "
    "(arXiv 2005.06833); its released code has no definition of the figure, so two readings "
    "are computed side by side, neither confirmed by the authors' code. Ours (pct_shape_only): "
    "a non-shape feature whose Spearman |rho| with a shape feature exceeds {rho:g} (median over "
    "the acquisitions of its largest |rho|) and which voxel shuffling inside each ROI (keeping "
    "shape and histogram, destroying texture) leaves unchanged on every ROI; it needs the images. "
    "The other (pct_shape_correlated_excellent): a non-shape feature excellent in every "
    "comparison of the family that correlates with a shape feature, |rho| > {rho:g}; it needs "
    "only feature tables. Percentages are of the family's non-shape features. The robust list "
    "drops every shape-dependent feature (|rho| > {rho:g}), texture or not.")
SHAPE_ONLY_TABLE = ["family", "n_non_shape", "n_shape_only", "pct_shape_only", "n_shape_with_texture",
                    "n_shape_correlated_excellent", "pct_shape_correlated_excellent"]


def agreement_sections(result: StudyResult, rho: float = 0.8) -> list[Block]:
    """Report sections: shape-only features, wCV by ROI size, band counts of each comparison."""
    sections: list[Block] = []
    summary = result.summary
    figures = summary.dropna(subset=["pct_shape_only", "pct_shape_correlated_excellent"], how="all")
    figures = figures.drop_duplicates("family")
    if len(figures):
        sections += [Heading("Shape-only features: two readings"),
                     Paragraph([SHAPE_ONLY_READING.format(rho=rho)]),
                     _table(figures[[c for c in SHAPE_ONLY_TABLE if c in figures.columns]])]
    by_size = result.wcv_by_size
    if by_size is not None and len(by_size):
        median = (by_size.groupby(["comparison", "size_group"], sort=False)["wcv"].median()
                  .unstack().reindex(columns=list(pd.unique(by_size["size_group"]))))
        overall = summary.set_index("comparison")["median_wcv"]
        median.insert(0, "all ROIs", overall.reindex(median.index))
        sections += [Heading("Median within-subject CV (%, |100 agRee::agree.wscv|) by ROI group"),
                     _table(median.reset_index())]
    bands = result.band_counts
    if bands is not None and len(bands):
        top = [c for c in pd.unique(bands["comparison"]) if "/" not in c]
        sections += [Heading("Agreement bands by image type and feature class"),
                     _table(bands[bands["comparison"].isin(top)])]
    return sections


def _table(df: pd.DataFrame) -> Table:
    return Table(df, fmt=lambda v: f"{v:.2f}")
