"""Agreement in more forms: wCV by ROI size, and band counts per image type and feature class.

- :func:`wcv_by_size`: the within-subject coefficient of variation (in per cent, unsigned, as
  the study: :func:`robustlab.radiomics.comparisons.wcv_percent`) of every comparison, within
  groups of ROIs: of similar size (ours: by voxels; the study's: by ROI order), or of one insert.
- :func:`band_counts`: per comparison, the numbers of excellent, good, moderate and poor
  features per image type and per feature class (the layout of the phantom study's tables,
  arXiv 2005.06833).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from robustlab.common.stats import BAND_NAMES
from robustlab.radiomics.comparisons import wcv_percent
from robustlab.radiomics.study import Comparison

#: Shape features whose value is the ROI's size, in order of preference (feature CSVs).
SIZE_FEATURES = ("original_shape_VoxelVolume", "original_shape2D_PixelSurface")
WCV_BY_SIZE_COLUMNS = ["comparison", "size_group", "n_rois", "min_size", "max_size", "feature",
                       "wcv"]


def roi_sizes(tables: Mapping[str, pd.DataFrame],
              voxels: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, float]]:
    """Each acquisition's ROI sizes: voxels counted in the mask, else a size shape feature."""
    out: dict[str, dict[str, float]] = {}
    for aid, table in tables.items():
        if aid in voxels:
            out[aid] = {roi: float(n) for roi, n in voxels[aid].items()}
            continue
        column = next((c for c in SIZE_FEATURES if c in table.columns), None)
        if column is not None:
            out[aid] = table[column].astype(np.float64).dropna().to_dict()
    return out


def size_groups(sizes: Mapping[str, float], n_groups: int = 3) -> dict[str, str]:
    """ROI -> its size group: the ROIs in ``n_groups`` groups of (nearly) equal count, by rank.

    Groups are named ``small``, ``medium``, ``large`` for three, else ``size1`` (smallest) to
    ``size<n>``. ROIs of equal size stay in one group.
    """
    names = ["small", "medium", "large"] if n_groups == 3 else [f"size{i + 1}" for i in range(n_groups)]
    ordered = sorted(sizes, key=lambda r: sizes[r])
    values = np.array([sizes[r] for r in ordered])
    # the rank where each ROI's size first occurs, so that ties share a group
    first = np.searchsorted(values, values, side="left")
    group = np.minimum(first * n_groups // max(len(values), 1), n_groups - 1)
    return {roi: names[g] for roi, g in zip(ordered, group, strict=True)}


#: ``size_groups`` by ROI order, as the phantom study: ROIs listed insert by insert, four sizes
#: each, largest first (ReliabilityRadiomicsIEOFC/PhantomStudy,
#: RScripts/wCV_repeatability_reproducibility.R, lines 61-66: ``indeces_size_1 <- c(1, 5, 9, 13)``
#: ... "1 - big ... 4 - small"; and ``indeces_insert_1 <- c(1, 2, 3, 4)`` ... for the inserts).
ORDER_GROUPS = ("paper", "insert")
SIZES_PER_INSERT = 4


def order_groups(rois: Sequence[str], how: str) -> dict[str, str]:
    """ROI -> its group by position in the study's ROI order (1-based position ``i``).

    ``"paper"``: ``size<(i - 1) % 4 + 1>``, size1 the largest (rows 1, 5, 9, 13 ...);
    ``"insert"``: ``insert<(i - 1) // 4 + 1>`` (rows 1-4, 5-8, ...). The order is the ROI
    labels' numeric order when every ROI is a number (a mask's labels, a CSV's rows), else
    the order of the first acquisition's table.
    """
    if how not in ORDER_GROUPS:
        raise ValueError(f"order_groups: expected one of {ORDER_GROUPS}; got {how!r}")
    ordered = sorted(rois, key=float) if all(_is_number(r) for r in rois) else list(rois)
    if how == "paper":
        return {r: f"size{i % SIZES_PER_INSERT + 1}" for i, r in enumerate(ordered)}
    return {r: f"insert{i // SIZES_PER_INSERT + 1}" for i, r in enumerate(ordered)}


def _is_number(text: object) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def roi_groups(rois: Sequence[str], mean: Mapping[str, float], how: str = "size", count: int = 3) -> dict[str, str]:
    """The groups of ``rois``: ``how="size"``, :func:`size_groups` by size in ``count`` groups;
    ``"paper"`` or ``"insert"``, :func:`order_groups`."""
    return size_groups(mean, count) if how == "size" else order_groups(rois, how)


def wcv_by_size(comparisons: Sequence[Comparison], tables: Mapping[str, pd.DataFrame],
                sizes: Mapping[str, Mapping[str, float]], groups: str = "size", count: int = 3,
                alpha: float = 0.05) -> pd.DataFrame:
    """wCV (%, unsigned) of every feature in every comparison unit, within each ROI group.

    ``groups``: ``"size"``, ``count`` size groups of equal count by size (a ROI's size is the
    mean over the unit's acquisitions of its voxels), or ``"paper"`` / ``"insert"``, the study's
    four fixed size groups or its groups by insert (:func:`order_groups`). A group needs two
    ROIs. Units whose acquisitions have no size are left out.

    Returns:
        :data:`WCV_BY_SIZE_COLUMNS`, one row per (unit, group, feature).
    """
    frames = []
    for cmp in comparisons:
        for name, members in cmp.units():
            if not all(m in sizes for m in members):
                continue
            rois = [r for r in tables[members[0]].index
                    if all(r in tables[m].index and r in sizes[m] for m in members)]
            features = tables[members[0]].columns
            mean = {r: float(np.mean([sizes[m][r] for m in members])) for r in rois}
            found = roi_groups(rois, mean, groups, count)
            order = sorted(rois, key=mean.__getitem__) if groups == "size" else list(found)
            for group in dict.fromkeys(found[r] for r in order):
                chosen = [r for r in rois if found[r] == group]
                if len(chosen) < 2:
                    continue
                stack = np.stack([tables[m].reindex(index=chosen, columns=features).to_numpy(np.float64)
                                  for m in members], axis=1)
                frames.append(pd.DataFrame({
                    "comparison": name, "size_group": group, "n_rois": len(chosen),
                    "min_size": min(mean[r] for r in chosen), "max_size": max(mean[r] for r in chosen),
                    "feature": np.asarray(features, dtype=object),
                    "wcv": wcv_percent(stack, alpha)}))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("min_size", "max_size", "wcv") else object)
                             for c in WCV_BY_SIZE_COLUMNS})
    return pd.concat(frames, ignore_index=True)[WCV_BY_SIZE_COLUMNS]


def band_counts(per_feature: pd.DataFrame) -> pd.DataFrame:
    """Features per band (poor, moderate, good, excellent, undefined), per comparison, by image
    type and by feature class.

    Returns:
        Columns ``comparison, by`` (``image_type`` or ``feature_class``), ``value`` (e.g.
        ``wavelet-LH`` or ``glcm``), ``n_features`` and one count per band.
    """
    bands = [*BAND_NAMES[::-1], "undefined"]
    frames = []
    for by in ("image_type", "feature_class"):
        counts = (per_feature.groupby(["comparison", by, "band"], sort=False).size()
                  .unstack(fill_value=0).reindex(columns=bands, fill_value=0))
        counts = counts.rename_axis(index=["comparison", "value"]).reset_index()
        counts.insert(1, "by", by)
        counts.insert(3, "n_features", counts[bands].sum(axis=1))
        frames.append(counts)
    out = pd.concat(frames, ignore_index=True)
    order = {name: i for i, name in enumerate(pd.unique(per_feature["comparison"]))}
    return out.sort_values(["comparison", "by"], key=lambda c: c.map(order) if c.name == "comparison"
                           else c, kind="stable").reset_index(drop=True)
