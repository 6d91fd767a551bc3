"""The radiomics report: ``report.md`` and a self-contained ``report.html``.

First a one-screen overview (the study, the robust features per family, the summary of each
comparison), then the figures (:mod:`robustlab.radiomics.figures`), the robust features named
(per family, grouped by feature class), why the others were dropped, and the longer tables
folded; every table is also a CSV beside the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from robustlab.common.report import Block, Document, Figure, Heading, LinkList, Paragraph, Table
from robustlab.radiomics.figures import (
    figure_bands,
    figure_distribution,
    figure_pct_excellent,
    figure_rois,
    figure_te,
    te_pairs,
)
from robustlab.radiomics.study import Study

if TYPE_CHECKING:
    from robustlab.radiomics.result import StudyResult

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
    summary, per_feature = result.table("summary"), result.table("per_feature")
    written: dict[str, Path] = {}
    rois = {str(a): tuple(g["roi"].astype(str)) for a, g in
            result.table("features")[["acquisition", "roi"]].drop_duplicates().groupby("acquisition", sort=False)}
    if (picture := figure_rois(study, rois, figs / "rois.png")) is not None:
        written["rois"] = picture
    written["pct_excellent"] = figure_pct_excellent(summary, study.threshold, figs / "pct_excellent.png")
    written["bands"] = figure_bands(summary, figs / "bands.png")
    grid = te_pairs(study, summary)
    if grid is not None:
        written["te_pairs"] = figure_te(grid, figs / "te_pairs.png")
    written["by_feature_class"] = figure_distribution(per_feature, "feature_class", figs / "by_feature_class.png")
    written["by_image_type"] = figure_distribution(per_feature, "image_type", figs / "by_image_type.png")
    blocks = _overview(study, result, published_table(study, summary))
    blocks += [Heading("Figures"), *[Figure(path, FIGURE_CAPTIONS[name]) for name, path in written.items()]]
    blocks += _details(result)
    links = [(name, what) for name, what in TABLES.items() if (out / name).exists()]
    blocks.append(LinkList("Tables", [*links, ("report.html", "this report, self-contained")]))
    doc = Document(f"Radiomics robust-feature report: {study.name}", blocks,
                   page_title=f"{study.name}: radiomics report")
    written.update(doc.write(out))
    return written


FIGURE_CAPTIONS = {
    "rois": "The ROIs: one slice of each scanner's first image, every ROI outlined",
    "pct_excellent": "Excellent features per comparison",
    "bands": "Agreement bands per comparison (Koo and Li 2016)",
    "te_pairs": "% excellent features for each pair of echo times",
    "by_feature_class": "The statistic per feature class (points: values beyond the whiskers)",
    "by_image_type": "The statistic per image type (points: values beyond the whiskers)",
}
#: A family's robust list longer than this is folded in the report.
MAX_OPEN_FEATURES = 40
#: The columns of the summary shown in the report (every column is in summary.csv).
SUMMARY_COLUMNS = ["comparison", "statistic", "n_rois", "n_features", "n_excellent", "pct_excellent",
                   "median_wcv", "missing_rois", "extraction"]


def _overview(study: Study, result: StudyResult, published: pd.DataFrame | None) -> list[Block]:
    sel, failures, summary = result.table("selection"), result.table("failures"), result.table("summary")
    n_rois = len(result.table("features")[["acquisition", "roi"]].drop_duplicates())
    n_results = len(summary)
    results = (f" ({n_results} results: a comparison over pairs gives one per pair and one "
               "combining them)" if n_results != len(study.comparisons) else "")
    lines = [
        f"Study file `{study.path.name}`: {len(study.acquisitions)} acquisitions, "
        f"{len(study.comparisons)} comparisons{results}. A feature is *excellent* when its "
        f"statistic is > {study.threshold:g}.",
        "",
        f"Features of {n_rois} ROIs; {len(failures)} extraction(s) failed (what was extracted in "
        "this run and what came from the cache: `extraction.json`).",
        "",
        *[f"- Robust, informative features, {family} extraction: **{int(rows['robust'].sum())}** "
          f"of {len(rows)}." for family, rows in sel.groupby("family", sort=False)],
    ]
    if len(failures):
        lines += ["", "Missing (failed) ROIs: " + ", ".join(
            f"{a}:{r}{' (' + p + ')' if p else ''}" for a, r, p in
            zip(failures["acquisition"], failures["roi"], failures["perturbation"], strict=True))]
    lines += [line for text in result.warnings for line in ("", f"**Warning**: {text}.")]
    blocks: list[Block] = [Heading("Overview"), Paragraph(lines), Heading("Summary"),
                           Table(summary[[c for c in SUMMARY_COLUMNS if c in summary.columns]])]
    if published is not None:
        blocks += [Heading("Simulated vs published (% excellent per group)"), Table(published)]
    return blocks


def robust_by_class(robust: pd.DataFrame) -> pd.DataFrame:
    """The robust features of each family, grouped by feature class: one row per (family,
    class) with their count and their names (``feature (image type)``)."""
    rows = []
    for (family, cls), group in robust.groupby(["family", "feature_class"], sort=False):
        names = [f"{f.split('_', 2)[-1]} ({t})" for f, t in zip(group["feature"], group["image_type"], strict=True)]
        rows.append({"family": family, "feature_class": cls, "n_features": len(names),
                     "features": ", ".join(names)})
    return pd.DataFrame(rows, columns=["family", "feature_class", "n_features", "features"])


def _details(result: StudyResult) -> list[Block]:
    sel, failures = result.table("selection"), result.table("failures")
    dropped = sel.loc[~sel["robust"], "reason"].str.split("; ").explode()
    reasons = dropped.str.replace(r"^([^:]+):.*$", r"\1", regex=True).value_counts()
    reason_table = reasons.rename_axis("reason").reset_index(name="n_features")
    blocks: list[Block] = [Heading("The robust features, by family and feature class")]
    for family, table in robust_by_class(result.table("robust")).groupby("family", sort=False):
        n = int(table["n_features"].sum())
        blocks.append(Table(table, collapsed=f"{family}: {n} features (robust_features.csv)")
                      if n > MAX_OPEN_FEATURES else Table(table))
    blocks += [Heading("Why features were dropped (a feature may have several reasons)"), Table(reason_table)]
    blocks += agreement_sections(result)
    if len(failures):
        blocks += [Heading("Failures"), Table(failures[["acquisition", "roi", "perturbation", "error"]])]
    return blocks


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
    summary = result.table("summary")
    figures = summary.dropna(subset=["pct_shape_only", "pct_shape_correlated_excellent"], how="all")
    figures = figures.drop_duplicates("family")
    if len(figures):
        sections += [Heading("Shape-only features: two readings"),
                     Paragraph([SHAPE_ONLY_READING.format(rho=rho)]),
                     Table(figures[[c for c in SHAPE_ONLY_TABLE if c in figures.columns]])]
    by_size = result.wcv_by_size
    if by_size is not None and len(by_size):
        median = (by_size.groupby(["comparison", "size_group"], sort=False)["wcv"].median()
                  .unstack().reindex(columns=list(pd.unique(by_size["size_group"]))))
        overall = summary.set_index("comparison")["median_wcv"]
        median.insert(0, "all ROIs", overall.reindex(median.index))
        sections += [Heading("Median within-subject CV (%, |100 agRee::agree.wscv|) by ROI group"),
                     Table(median.reset_index(), fmt=lambda v: f"{v:.2f}",
                           collapsed=f"{len(median)} comparisons (wcv_by_size.csv)")]
    bands = result.band_counts
    if bands is not None and len(bands):
        top = bands[bands["comparison"].isin([c for c in pd.unique(bands["comparison"]) if "/" not in c])]
        sections += [Heading("Agreement bands by image type and feature class"),
                     Table(top, collapsed=f"{len(top)} rows (band_counts.csv)")]
    return sections
