"""The radiomics report's figures (PNG, in the run's ``figures/``).

- ``rois.png``: one slice of each scanner's first image acquisition, every ROI outlined (the
  slice where the ROIs cover the most voxels);
- ``pct_excellent.png``: percentage of excellent features per comparison;
- ``bands.png``: per comparison, one bar stacked from the four agreement bands;
- ``te_pairs.png``: when the study has a TE series (a pairwise comparison whose acquisitions
  all give ``te``), the percentage of excellent features of each TE pair as a heatmap
  (``pairs: all`` fills every cell);
- ``by_feature_class.png`` and ``by_image_type.png``: the statistic per feature class and per
  image type, one box per group and kind of comparison (repeatability: ICC; reproducibility:
  CCC), every value beyond the whiskers drawn as a point.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from robustlab.common.report import pyplot, save_figure

if TYPE_CHECKING:
    from robustlab.radiomics.study import Acquisition, Study

#: At most this many scanners are drawn in ``rois.png``.
MAX_SCANNER_PANELS = 6


def figure_pct_excellent(summary: pd.DataFrame, threshold: float, path: Path) -> Path:
    """Bar chart: percentage of excellent features per comparison."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.4 * len(summary) + 2), 4.5))
    ax.bar(range(len(summary)), summary["pct_excellent"], color="#3a6ea5")
    ax.set_xticks(range(len(summary)), summary["comparison"], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(f"% features with statistic > {threshold:g}")
    ax.set_ylim(0, 100)
    ax.set_title("Excellent features per comparison")
    return save_figure(fig, path)


def figure_bands(summary: pd.DataFrame, path: Path) -> Path:
    """Stacked bars: per comparison, the percentage of features in each agreement band."""
    plt = pyplot()
    bands = [("excellent", "#1a9850"), ("good", "#91cf60"), ("moderate", "#fee08b"),
             ("poor", "#d73027"), ("undefined", "#bdbdbd")]
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.32 * len(summary) + 1)))
    left = np.zeros(len(summary))
    for band, colour in bands:
        pct = 100.0 * summary[f"band_{band}"].to_numpy(np.float64) / summary["n_features"].to_numpy(np.float64)
        ax.barh(range(len(summary)), pct, left=left, color=colour, label=band)
        left += pct
    ax.set_yticks(range(len(summary)), summary["comparison"], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of features")
    ax.legend(ncol=5, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return save_figure(fig, path)


def figure_distribution(per_feature: pd.DataFrame, by: str, path: Path) -> Path:
    """Box plots of the statistic per ``by`` (``image_type`` or ``feature_class``), one box per
    group and statistic (ICC and CCC side by side), every outlier drawn."""
    plt = pyplot()
    data = per_feature.dropna(subset=["value"])
    names = pd.unique(data["comparison"])
    combined = {c for c in names if any(str(n).startswith(f"{c}/") for n in names)}
    data = data[~data["comparison"].isin(combined)]  # a pairwise comparison: its pairs count
    groups = list(pd.unique(data[by]))
    kind_of = data["statistic"].map(lambda s: "ICC" if "ICC" in s else "CCC" if "CCC" in s else s)
    kinds = list(pd.unique(kind_of))
    fig, ax = plt.subplots(figsize=(max(7.0, 0.6 * len(groups) + 2), 5.0))
    width = 0.8 / max(1, len(kinds))
    colours = ["#3a6ea5", "#e08214", "#5aae61", "#8073ac"]
    for k, kind in enumerate(kinds):
        values = [data.loc[(data[by] == g) & (kind_of == kind), "value"].to_numpy() for g in groups]
        positions = np.arange(len(groups)) + (k - (len(kinds) - 1) / 2) * width
        keep = [i for i, v in enumerate(values) if len(v)]
        if not keep:
            continue
        parts = ax.boxplot([values[i] for i in keep], positions=positions[keep], widths=width * 0.9,
                           patch_artist=True, showfliers=True,
                           flierprops={"marker": ".", "markersize": 3, "alpha": 0.35,
                                       "markeredgecolor": colours[k % 4]})
        for box in parts["boxes"]:
            box.set_facecolor(colours[k % 4])
            box.set_alpha(0.6)
        ax.plot([], [], "s", color=colours[k % 4], label=kind)
    ax.set_xticks(range(len(groups)), groups, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("statistic")
    ax.set_ylim(max(-1.0, float(data["value"].min()) - 0.05) if len(data) else -1.0, 1.02)
    ax.axhline(0.9, color="#999", lw=0.8, ls="--")
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(f"Statistic per {by.replace('_', ' ')}, every feature of every comparison")
    return save_figure(fig, path)


def te_pairs(study: Study, summary: pd.DataFrame) -> pd.DataFrame | None:
    """Percentage of excellent features per TE pair, as a (TE x TE) table; None without a TE series."""
    records = []
    for cmp in study.comparisons:
        if not cmp.pairs:
            continue
        given = {m: study.acquisitions[m].meta.get("te") for m in cmp.members}
        tes = {m: float(te) for m, te in given.items() if te is not None}
        if len(tes) < len(given):
            continue
        for name, (a, b) in cmp.units():
            row = summary.loc[summary["comparison"] == name]
            if len(row):
                records.append((tes[a], tes[b], float(row["pct_excellent"].iloc[0])))
    if not records:
        return None
    df = pd.DataFrame(records, columns=["te_a", "te_b", "pct"])
    values = sorted(set(df["te_a"]) | set(df["te_b"]))
    grid = pd.DataFrame(np.nan, index=values, columns=values)
    for te_a, te_b, pct in records:
        grid.loc[te_a, te_b] = grid.loc[te_b, te_a] = pct
    return grid


def figure_te(grid: pd.DataFrame, path: Path) -> Path:
    """Heatmap of the percentage of excellent features for each pair of TEs."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.7))
    im = ax.imshow(grid.to_numpy(), vmin=0, vmax=100, cmap="viridis")
    labels = [f"{v:g}" for v in grid.index]
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("TE (ms)")
    ax.set_ylabel("TE (ms)")
    fig.colorbar(im, ax=ax, label="% excellent (CCC)")
    ax.set_title("TE pairs")
    return save_figure(fig, path)


def scanner_acquisitions(study: Study) -> dict[str, Acquisition]:
    """The first image acquisition of each scanner (``scanner:`` key, else the acquisition)."""
    out: dict[str, Acquisition] = {}
    for acq in study.acquisitions.values():
        if acq.is_image:
            out.setdefault(str(acq.meta.get("scanner", acq.id)), acq)
    return dict(list(out.items())[:MAX_SCANNER_PANELS])


def _roi_masks(acq: Acquisition, rois: list[str], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    import SimpleITK as sitk

    masks, cache = {}, {}
    for roi in rois:
        path, label = acq.mask_of(roi)
        if path not in cache:
            cache[path] = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
        array = cache[path]
        mask = array != 0 if label is None else array == label
        if mask.shape == shape:
            masks[roi] = mask
    return masks


def figure_rois(study: Study, rois: dict[str, tuple[str, ...]], path: Path) -> Path | None:
    """One slice of each scanner's first image acquisition with every ROI outlined.

    Args:
        study: the study.
        rois: acquisition id -> its ROI names (the validated study's).
        path: the PNG to write.

    Returns:
        ``path``, or None when the study has no image acquisition.
    """
    import SimpleITK as sitk

    chosen = scanner_acquisitions(study)
    if not chosen:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(chosen), figsize=(3.4 * len(chosen), 3.8), squeeze=False)
    for ax, (scanner, acq) in zip(axes[0], chosen.items(), strict=True):
        image = sitk.GetArrayFromImage(sitk.ReadImage(str(acq.image)))
        image = image if image.ndim == 3 else image[None]
        masks = _roi_masks(acq, list(rois.get(acq.id, ())), image.shape)
        cover = sum((m.reshape(m.shape[0], -1).sum(1) for m in masks.values()), np.zeros(image.shape[0]))
        z = int(np.argmax(cover)) if masks else image.shape[0] // 2
        plane = image[z]
        lo, hi = np.percentile(plane, [1, 99.5])
        ax.imshow(plane, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        for i, mask in enumerate(masks.values()):
            if mask[z].any():
                ax.contour(mask[z].astype(float), levels=[0.5], colors=[plt.cm.tab10(i % 10)], linewidths=1.6)
        ax.set_title(f"{scanner} ({acq.id}), slice {z}, {len(masks)} ROIs", fontsize=8)
        ax.set_axis_off()
    fig.suptitle("Each scanner's first image, ROIs outlined", fontsize=10)
    return save_figure(fig, path)
