"""Comparisons: per feature ICC or CCC between acquisitions, with CI, band and verdict.

Every statistic (a name of :mod:`robustlab.radiomics.statistics`) is one vectorized call of
:mod:`robustlab.common.stats` over all features (the feature axis is the last axis); there is
no loop over features.

- ICC (McGraw and Wong 1996): ratings ``(n_rois, k_acquisitions, n_features)``; default
  ICC(A,1), two-way, absolute agreement, single measurement (Shrout-Fleiss ICC(2,1)).
- CCC (Lin 1989): the two acquisitions' values of the same ROIs, ``(n_rois, n_features)``.
- Beside either, the within-subject coefficient of variation of the same ratings, in per cent
  and unsigned as the study reports it (:func:`wcv_percent`; the ROIs are the subjects).

A feature whose values over every compared ROI and acquisition are equal to within round-off
(range ``<= 1e-12 x`` its largest magnitude; e.g. the elongation of squares, 1 up to the last
bits) gets an undefined statistic: its ICC or CCC would be a ratio of round-off errors.

A feature is *excellent* when its statistic is strictly greater than the study's threshold
(0.9 after Koo and Li 2016); an undefined statistic (constant feature, missing value) is
never excellent. A comparison over ``pairs`` gives one row per pair and a combined row whose
value is the smallest over the pairs (so that "excellent in every pair" is "combined value >
threshold"); its interval is left empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from robustlab.common.stats import BAND_NAMES, agreement_band, wscv
from robustlab.radiomics.features import feature_parts
from robustlab.radiomics.statistics import STATISTICS
from robustlab.radiomics.study import Comparison

PER_FEATURE_COLUMNS = ["comparison", "group", "statistic", "feature", "image_type",
                       "feature_class", "value", "ci_low", "ci_high", "band", "excellent",
                       "n_rois", "wcv"]


@dataclass(frozen=True)
class UnitResult:
    """One computed comparison (one pair, or a whole comparison)."""

    name: str
    statistic: str
    value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_rois: int
    wcv: np.ndarray | None = None


def common_rois(tables: Mapping[str, pd.DataFrame], members: Sequence[str]) -> list[str]:
    """ROIs present (with values) in every member, in the first member's order."""
    first = tables[members[0]]
    return [r for r in first.index if all(r in tables[m].index for m in members)]


def compute_unit(
    name: str, cmp: Comparison, members: Sequence[str], tables: Mapping[str, pd.DataFrame],
    features: Sequence[str], alpha: float,
) -> UnitResult:
    """The statistic of ``cmp`` between ``members`` for every feature in one call.

    Args:
        name: the result's name (``<comparison>`` or ``<comparison>/<a>_vs_<b>``).
        cmp: the comparison (statistic and ICC form).
        members: the compared acquisitions (the raters).
        tables: acquisition -> wide table (index ROI, columns features).
        features: the feature columns, in output order.
        alpha: the intervals have level ``1 - alpha``.
    """
    rois = common_rois(tables, members)
    stack = np.stack([_values(tables[m], rois, features) for m in members],
                     axis=1)  # (n_rois, k, n_features)
    stat = STATISTICS.get(cmp.statistic)
    if len(rois) < stat.min_rois:
        nan = np.full(len(features), np.nan)
        return UnitResult(name, cmp.statistic.upper(), nan, nan, nan, len(rois))
    form, *out = stat.fn(stack, cmp.options, alpha)
    flat = flat_features(stack)
    value, low, high = (np.where(flat, np.nan, np.asarray(a, dtype=np.float64)) for a in out)
    return UnitResult(name, form, value, low, high, len(rois), wcv_percent(stack, alpha))


def wcv_percent(stack: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    r"""The within-subject coefficient of variation in per cent, unsigned, per feature.

    :math:`|100\,\hat\theta|` with :math:`\hat\theta` of :func:`robustlab.common.stats.wscv`
    (``agRee::agree.wscv``), as the phantom study computes it:
    ``abs(100*agRee::agree.wscv(...)$value)`` (ReliabilityRadiomicsIEOFC/PhantomStudy,
    RScripts/wCV_repeatability_reproducibility.R, line 31: "abs is because some metrics have
    negative mean which would make wCV negative"). A missing value or a zero mean gives NaN.

    Args:
        stack: ``(n_rois, k, n_features)`` ratings.
        alpha: passed to :func:`~robustlab.common.stats.wscv` (the value does not depend on it).
    """
    return np.abs(100.0 * wscv(stack, alpha=alpha, nan_policy="propagate").value)


def flat_features(stack: np.ndarray, rtol: float = 1e-12) -> np.ndarray:
    """True for features (last axis) constant to within round-off over all other axes.

    ``max - min <= rtol * max |x|``; a feature with a missing value is not flat (its statistic
    is undefined anyway).
    """
    flat2 = stack.reshape(-1, stack.shape[-1])
    with np.errstate(invalid="ignore"):
        spread = flat2.max(axis=0) - flat2.min(axis=0)
        return spread <= rtol * np.abs(flat2).max(axis=0)


def _values(table: pd.DataFrame, rois: Sequence[str], features: Sequence[str]) -> np.ndarray:
    """``table`` as an array of ``rois`` x ``features`` (missing ones NaN); no copy when aligned."""
    if table.columns.tolist() != list(features):
        table = table.reindex(columns=list(features))
    if table.index.tolist() != list(rois):
        table = table.reindex(index=list(rois))
    return table.to_numpy(np.float64)


def compare(
    comparisons: Sequence[Comparison], tables: Mapping[str, pd.DataFrame], threshold: float,
    alpha: float = 0.05, bands: tuple[float, float, float] = (0.5, 0.75, 0.9),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every comparison and summarise it.

    Args:
        comparisons: the study's comparisons.
        tables: acquisition -> wide table; compared tables hold the same feature columns.
        threshold: a feature is excellent when its statistic is ``> threshold``.
        alpha: confidence level ``1 - alpha`` of the intervals.
        bands: cut points of :func:`robustlab.common.stats.agreement_band`; the last is
            replaced by ``threshold`` when that lies above the second, so that band
            ``excellent`` and the ``excellent`` flag are one rule (``value > threshold``).

    Returns:
        ``(per_feature, summary)``: one row per (comparison, feature) with
        :data:`PER_FEATURE_COLUMNS`, and one row per comparison with ``comparison, group,
        statistic, n_rois, n_features, n_excellent, pct_excellent`` and ``band_<band>`` counts.
    """
    # one rule: the good/excellent cut is the threshold (kept as given when it is not above
    # the moderate/good cut, e.g. threshold 0.5: the bands then keep their own cuts)
    cuts = (bands[0], bands[1], threshold) if bands[1] < threshold else bands
    blocks: list[tuple[UnitResult, str | None, tuple[np.ndarray, ...]]] = []
    for cmp in comparisons:
        features = list(dict.fromkeys(c for m in cmp.members for c in tables[m].columns.tolist()))
        names = feature_parts(features)
        units = [compute_unit(n, cmp, m, tables, features, alpha) for n, m in cmp.units()]
        if cmp.pairs:
            values = np.stack([u.value for u in units])
            # min over pairs, NaN when any pair is undefined: excellent in all pairs iff > threshold
            combined = np.where(np.isnan(values).any(axis=0), np.nan, np.nanmin(
                np.where(np.isnan(values), np.inf, values), axis=0))
            nan = np.full(len(features), np.nan)
            units.append(UnitResult(cmp.name, f"min {units[0].statistic} over {len(units)} pairs",
                                    combined, nan, nan, min(u.n_rois for u in units), nan))
        blocks += [(u, cmp.group, names) for u in units]
    sizes = [len(names[0]) for _, _, names in blocks]
    value = np.concatenate([u.value for u, _, _ in blocks])
    per_feature = pd.DataFrame({
        "comparison": np.repeat([u.name for u, _, _ in blocks], sizes),
        "group": np.repeat(np.array([g for _, g, _ in blocks], dtype=object), sizes),
        "statistic": np.repeat([u.statistic for u, _, _ in blocks], sizes),
        "feature": np.concatenate([n[0] for _, _, n in blocks]),
        "image_type": np.concatenate([n[1] for _, _, n in blocks]),
        "feature_class": np.concatenate([n[2] for _, _, n in blocks]),
        "value": value,
        "ci_low": np.concatenate([u.ci_low for u, _, _ in blocks]),
        "ci_high": np.concatenate([u.ci_high for u, _, _ in blocks]),
        "band": agreement_band(value, cuts),
        "excellent": np.nan_to_num(value, nan=-np.inf) > threshold,
        "n_rois": np.repeat([u.n_rois for u, _, _ in blocks], sizes),
        "wcv": np.concatenate([_or_nan(u.wcv, size) for (u, _, _), size in zip(blocks, sizes, strict=True)]),
    })[PER_FEATURE_COLUMNS]
    return per_feature, summarise(per_feature)


def _or_nan(values: np.ndarray | None, size: int) -> np.ndarray:
    return np.full(size, np.nan) if values is None else values


def summarise(per_feature: pd.DataFrame) -> pd.DataFrame:
    """One row per comparison: counts of excellent features and of each band, median wCV.

    ``pct_excellent = 100 * n_excellent / n_features``; a feature with an undefined statistic
    counts in ``n_features`` and not in ``n_excellent``; where every feature's statistic is
    undefined (fewer ROIs than the statistic needs), ``pct_excellent`` is NaN. ``median_wcv``:
    the median over the features of their within-subject coefficient of variation in per cent,
    unsigned (:func:`wcv_percent`; undefined ones left out).
    """
    grouped = per_feature.groupby("comparison", sort=False)
    summary = grouped.agg(group=("group", "first"), statistic=("statistic", "first"),
                          n_rois=("n_rois", "first"), n_features=("feature", "size"),
                          n_excellent=("excellent", "sum"), median_wcv=("wcv", "median"))
    bands = (*BAND_NAMES, "undefined")
    counts = (per_feature.groupby(["comparison", "band"], sort=False).size()
              .unstack(fill_value=0).reindex(index=summary.index, columns=list(bands), fill_value=0))
    for band in bands:
        summary[f"band_{band}"] = counts[band].astype(np.int64)
    # A comparison where no feature has a defined statistic (e.g. one ROI) has no share: NaN, not 0 %.
    summary["pct_excellent"] = np.where(summary["band_undefined"] == summary["n_features"], np.nan,
                                        100.0 * summary["n_excellent"] / summary["n_features"])
    summary = summary.reset_index()
    return summary[["comparison", "group", "statistic", "n_rois", "n_features", "n_excellent",
                    "pct_excellent", *[f"band_{b}" for b in (*BAND_NAMES, "undefined")],
                    "median_wcv"]]
