"""Sweet spots: sparsities where a metric is better than at the dense step, with bootstrap CIs.

Runs (one sweep job each: a seed, a model, a pruning method) are gathered into one long table
of per-image values, ``model, prune_method, seed, step, sparsity, table, method, metric, level,
index, value``. A *curve* is one ``(model, prune_method, table, method, metric, level)``; its
step 0 is the dense model.

The test, per curve and sparse step ``s`` (Holm across the sparse steps of the curve):

1. ``d`` = direction x (metric at ``s`` - metric at step 0), direction +1 where higher is
   better and -1 where lower is, so ``d > 0`` always means "better than dense".
2. Seeds: with one seed, images are the resampled units. With several seeds (the evaluation
   images are indexed identically in every seed) the bootstrap is hierarchical: seeds are
   resampled, then images within each drawn seed (Davison and Hinkley 1997, sec. 3.8), so the
   interval carries the seed-to-seed variation of training and pruning; percentile intervals.
   (``hierarchical=False``: each image averaged over the seeds, images resampled.)
3. ``d`` is estimated as NaN-mean(sparse) - NaN-mean(dense) over the images (NaN marks a trial
   without a value, e.g. a cue-conflict answer that is neither shape nor texture); images are
   resampled in pairs (dense and sparse together) with
   :func:`robustlab.common.stats.bootstrap_ci` (percentile by default, or BCa).
4. p-value: two-sided, from the bootstrap distribution through its standard error,
   ``p = 2 Phi(-|d| / se*)``, both taken over the finite replicates only (a resample that drew
   no finite value of a step is dropped; ``n_replicates`` counts the rest). A step with fewer
   than ``min_pairs`` images (seed-image pairs) whose dense and sparse values are both finite
   (``n_pairs``) is untestable: p is NaN, and NaN p are outside the Holm family. Holm's adjustment (:func:`robustlab.common.stats.holm`) across
   the curve's sparse steps (``holm_scope="curve"``), or across every test of the report
   (``"report"``: all curves and steps, one family).
5. Sweet spot where the Holm-adjusted p < alpha **and** the bootstrap interval at the level that
   Holm's step-down gives that hypothesis, ``1 - alpha / (m - r + 1)`` for the r-th smallest of
   ``m`` p-values, lies above zero.

References:
    Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap. Chapman & Hall.
    Holm S (1979). Scand J Stat 6(2):65-70.
    Davison AC, Hinkley DV (1997). Bootstrap Methods and their Application. Cambridge UP.
"""

from __future__ import annotations

import fnmatch
import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from robustlab.common.errors import ConfigError
from robustlab.common.stats import bootstrap_ci, holm
from robustlab.pruning.suites import suite_tables

log = logging.getLogger(__name__)

CURVE_KEYS = ["model", "prune_method", "table", "method", "metric", "level"]
HOLM_SCOPES = ("curve", "report")
#: Fewest finite (dense, sparse) pairs for a step to be tested; below it the step's p is NaN.
MIN_PAIRS = 5

#: The directions of the sweep's own table, ``metrics.csv`` (top-1, top-5: higher is better);
#: every suite declares its own when it registers (:func:`robustlab.pruning.suites.register_suite`).
ACCURACY_DIRECTIONS: tuple[tuple[str, str, int], ...] = (("*", "top*", +1),)


def table_directions() -> dict[str, tuple[tuple[str, str, int], ...]]:
    """Table -> its ``(method, metric, direction)`` patterns: accuracy and every registered suite."""
    return {"accuracy": ACCURACY_DIRECTIONS, **suite_tables()}


def metric_direction(table: str, method: str, metric: str,
                     directions: Sequence[tuple[str, str, str, int]] | None = None) -> int:
    """The declared direction of a metric: +1 higher is better, -1 lower is better, 0 untested.

    ``directions`` (``(table, method, metric, direction)`` glob patterns) are searched before
    the directions the metric's suite declared (:func:`table_directions`); the first match
    wins, and a metric that matches nothing is not tested (0).
    """
    for t, m, k, d in directions or []:
        if fnmatch.fnmatchcase(str(table), t) and fnmatch.fnmatchcase(str(method), m) and fnmatch.fnmatchcase(str(metric), k):
            return int(d)
    for m, k, d in table_directions().get(str(table), ()):
        if fnmatch.fnmatchcase(str(method), m) and fnmatch.fnmatchcase(str(metric), k):
            return int(d)
    return 0


# --------------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------------

def _gain(sample: np.ndarray, axis: int) -> np.ndarray:
    """NaN-mean of every sparse step minus the NaN-mean of the dense step (last axis, index 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(sample, axis=axis)
    return means[..., 1:] - means[..., :1]


def _seed_paired_gain(sample: np.ndarray) -> np.ndarray:
    """The gain of ``(..., S, N, C, T)`` values, dense and sparse paired within each seed.

    The dense mean of sparse step ``t`` is taken over the seeds that finished step ``t``
    (a seed with no value at ``t``, a run stopped before it, is left out of that step, its
    dense values included), so an unfinished seed cannot move the baseline of a step it never
    reached: ``gain_t = mean_{s in S_t, i}(x_{s,i,t}) - mean_{s in S_t, i}(x_{s,i,0})``.
    """
    has_step = np.isfinite(sample).any(axis=-3, keepdims=True)  # (..., S, 1, C, T)
    dense = np.where(has_step[..., 1:], sample[..., :1], np.nan)  # (..., S, N, C, T - 1)
    sparse = sample[..., 1:]
    pooled = (*sample.shape[:-4], -1, *sample.shape[-2:-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return (np.nanmean(sparse.reshape(*pooled, sparse.shape[-1]), axis=-3)
                - np.nanmean(dense.reshape(*pooled, dense.shape[-1]), axis=-3))


def _seed_image_gain(seed: int) -> Any:
    """The gain statistic of a hierarchical bootstrap: seeds drawn by the caller, images here.

    Called on ``(S, N, C, T)`` (the estimate: every seed and image pooled) and on resampled
    seeds ``(B, S, N, C, T)``, where each drawn seed's ``N`` images are drawn again with
    replacement (Davison and Hinkley 1997, sec. 3.8: resample the top level, then within).
    Dense and sparse steps are paired within each seed (:func:`_seed_paired_gain`).
    """
    rng = np.random.default_rng(seed)

    def statistic(sample: np.ndarray, axis: int) -> np.ndarray:
        if axis == 0:
            return _seed_paired_gain(sample)
        b, s, n = sample.shape[:3]
        idx = rng.integers(0, n, size=(b, s, n))
        return _seed_paired_gain(np.take_along_axis(sample, idx[..., None, None], axis=2))

    return statistic


def _bootstrap(x: np.ndarray, alpha: float, n_resamples: int, ci_method: str, seed: int) -> dict[str, np.ndarray]:
    """Bootstrap of the gain over images of ``(N, C, T)``, or seeds then images of ``(S, N, C, T)``.

    Only finite replicates count: a resample that drew no finite value of a step gives a NaN
    replicate, which is dropped from that entry's interval and standard error. The interval
    is BCa (``ci_method="bca"``, images only) where every replicate is finite, otherwise the
    percentile interval of the finite replicates.

    Returns:
        ``estimate``, ``ci_low``, ``ci_high``, ``se`` and ``n_replicates`` (finite replicates),
        each ``(C, T - 1)``.
    """
    if x.ndim == 4:
        # The inner draws come from the statistic, so BCa's jackknife does not apply: percentile.
        res = bootstrap_ci(x, statistic=_seed_image_gain(seed + 1), n_resamples=n_resamples, alpha=alpha,
                           method="percentile", seed=seed, return_distribution=True)
    else:
        res = bootstrap_ci(x, statistic=_gain, n_resamples=n_resamples, alpha=alpha, method=ci_method, seed=seed,
                           return_distribution=True)
    boot = res.distribution
    finite = np.isfinite(boot)
    n_rep = finite.sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
        se = np.where(n_rep > 1, np.nanstd(boot, axis=0, ddof=1), np.nan)
    whole = n_rep == boot.shape[0]
    return {"estimate": res.estimate, "ci_low": np.where(whole, res.ci_low, lo),
            "ci_high": np.where(whole, res.ci_high, hi), "se": se, "n_replicates": n_rep}


def finite_pairs(x: np.ndarray) -> np.ndarray:
    """Units (images, or seed-image pairs) with a finite dense and sparse value: ``(C, T - 1)``."""
    both = np.isfinite(x[..., 1:]) & np.isfinite(x[..., :1])
    return both.reshape(-1, *both.shape[-2:]).sum(axis=0)


def _raw_test(x: np.ndarray, alpha: float, n_resamples: int, ci_method: str, seed: int,
              min_pairs: int = MIN_PAIRS) -> dict[str, np.ndarray]:
    """Gain, interval, standard error and two-sided p per (curve, sparse step), unadjusted.

    A step with fewer than ``min_pairs`` finite pairs (:func:`finite_pairs`), or whose finite
    replicates give no standard error, is untestable: its p is NaN, so that Holm leaves it out
    of the family instead of ranking it first.
    """
    if x.ndim not in (3, 4) or x.shape[-1] < 2:
        raise ValueError("values must be (n_images, n_curves, n_steps) or (n_seeds, n_images, n_curves, n_steps) "
                         f"with a dense and a sparse step; got shape {x.shape}")
    if x.shape[0] < 2:
        raise ValueError(f"the sweet-spot test needs at least 2 {'seeds' if x.ndim == 4 else 'images'}; got {x.shape[0]}")
    res = _bootstrap(x, alpha, n_resamples, ci_method, seed)
    gain, se, pairs = res["estimate"], res["se"], finite_pairs(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(gain) / se
    p = np.where(se > 0, 2 * special.ndtr(-z), np.where(gain != 0, 0.0, 1.0))
    testable = np.isfinite(gain) & np.isfinite(se) & (pairs >= max(int(min_pairs), 2))
    return {"gain": gain, "ci_low": res["ci_low"], "ci_high": res["ci_high"], "se": se,
            "p": np.where(testable, p, np.nan), "n_pairs": pairs, "n_replicates": res["n_replicates"]}


def _holm_levels(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Holm-adjusted p-values of all entries of ``p`` as one family, and each entry's divisor
    ``m - r + 1`` (its level is ``alpha / divisor``, ``r`` its rank among the ``m`` finite p)."""
    flat = p.reshape(-1)
    m = int(np.isfinite(flat).sum())
    order = np.argsort(np.where(np.isfinite(flat), flat, np.inf), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(flat.size)
    return holm(flat).reshape(p.shape), (m - rank).reshape(p.shape)


def _adjusted_intervals(x: np.ndarray, out: dict[str, np.ndarray], alpha: float, n_resamples: int,
                        ci_method: str, seed: int) -> None:
    """Add ``ci_low_adj``, ``ci_high_adj`` (at each hypothesis' Holm level) and ``sweet_spot``."""
    candidate = (out["p_holm"] < alpha) & (out["gain"] > 0)
    out["ci_low_adj"] = np.full(out["gain"].shape, np.nan)
    out["ci_high_adj"] = np.full(out["gain"].shape, np.nan)
    for k in np.unique(out["divisor"][candidate]):
        # Same seed, same resamples: the interval at each Holm level comes from one distribution.
        adj = _bootstrap(x, alpha / k, n_resamples, ci_method, seed)
        sel = candidate & (out["divisor"] == k)
        out["ci_low_adj"][sel], out["ci_high_adj"][sel] = adj["ci_low"][sel], adj["ci_high"][sel]
    out["sweet_spot"] = candidate & (out["ci_low_adj"] > 0)


def bootstrap_curve_test(values: np.ndarray, alpha: float = 0.05, n_resamples: int = 2000,
                         ci_method: str = "percentile", seed: int = 0,
                         min_pairs: int = MIN_PAIRS) -> dict[str, np.ndarray]:
    """Sweet-spot test of many curves measured on the same images (vectorized over curves).

    Args:
        values: ``(n_images, n_curves, n_steps)``, or ``(n_seeds, n_images, n_curves,
            n_steps)`` for a hierarchical bootstrap (seeds, then images within each seed;
            percentile intervals), already signed so that higher is better; step 0 is the
            dense model; NaN marks a missing value.
        alpha: family-wise error rate per curve (Holm across its ``n_steps - 1`` sparse steps).
        n_resamples: bootstrap resamples.
        ci_method: ``"percentile"`` or ``"bca"``.
        seed: the bootstrap's seed.
        min_pairs: fewest finite (dense, sparse) pairs for a step to be tested (p NaN below).

    Returns:
        Arrays of shape ``(n_curves, n_steps - 1)``: ``gain`` (sparse - dense), ``ci_low``,
        ``ci_high`` (level ``1 - alpha``), ``p`` (NaN where untestable), ``p_holm``,
        ``ci_low_adj``, ``ci_high_adj`` (at the Holm level of each hypothesis; NaN where not
        significant), ``sweet_spot``, ``n_pairs`` and ``n_replicates`` (finite replicates).
    """
    x = np.asarray(values, dtype=np.float64)
    out = _raw_test(x, alpha, n_resamples, ci_method, seed, min_pairs)
    _holm_adjust([out], "curve")
    _adjusted_intervals(x, out, alpha, n_resamples, ci_method, seed)
    return out


def _curve_arrays(df: pd.DataFrame, keys: list[str], hierarchical: bool) -> dict[tuple[Any, ...], list[tuple[tuple[Any, ...], np.ndarray]]]:
    """Curves grouped by their shared (seeds,) images and steps: signature -> [(curve, array)].

    An array is ``(n_images, n_steps)`` of per-image values averaged over seeds, or with
    ``hierarchical`` ``(n_seeds, n_images, n_steps)`` (NaN where a seed lacks an image).
    """
    inner = ["seed", "index"] if hierarchical else ["index"]
    table = df.groupby([*keys, *inner, "step"], sort=True, dropna=False)["value"].mean().unstack("step")
    groups: dict[tuple[Any, ...], list[tuple[tuple[Any, ...], np.ndarray]]] = {}
    for curve, block in table.groupby(level=list(range(len(keys))), sort=True, dropna=False):
        block = block.dropna(axis=1, how="all").droplevel(list(range(len(keys))))
        if 0 not in block.columns or block.shape[1] < 2:
            log.info("sweet spots: curve %s has no dense step or no sparse step; skipped", curve)
            continue
        if hierarchical:
            seeds = sorted(set(block.index.get_level_values("seed")))
            images = sorted(set(block.index.get_level_values("index")))
            full = block.reindex(pd.MultiIndex.from_product([seeds, images], names=inner))
            array = full.to_numpy(dtype=np.float64).reshape(len(seeds), len(images), -1)
            signature = (tuple(seeds), tuple(images), tuple(block.columns))
        else:
            array = block.to_numpy(dtype=np.float64)
            signature = ((), tuple(block.index), tuple(block.columns))
        groups.setdefault(signature, []).append((curve, array))
    return groups


def find_sweet_spots(per_image: pd.DataFrame, directions: Sequence[tuple[str, str, str, int]] | None = None,
                     alpha: float = 0.05, n_resamples: int = 2000, ci_method: str = "percentile",
                     seed: int = 0, hierarchical: bool | None = None, holm_scope: str = "curve",
                     min_pairs: int = MIN_PAIRS) -> pd.DataFrame:
    """Test every curve of a per-image table (:func:`load_per_image`) for sweet spots.

    Args:
        per_image: the long table of per-image values.
        directions: extra ``(table, method, metric, direction)`` patterns, searched before
            the suites' own (:func:`metric_direction`).
        alpha: as :func:`bootstrap_curve_test`.
        n_resamples: as :func:`bootstrap_curve_test`.
        ci_method: as :func:`bootstrap_curve_test`.
        seed: as :func:`bootstrap_curve_test`.
        min_pairs: as :func:`bootstrap_curve_test`.
        hierarchical: resample seeds, then images within each seed (None: when the table has
            several seeds); False averages each image over the seeds and resamples images.
        holm_scope: ``"curve"`` (Holm across each curve's sparse steps) or ``"report"`` (Holm
            across every test of the table: every curve, every sparse step).

    Returns:
        One row per (curve, sparse step): the curve's keys, ``direction``, ``step``,
        ``sparsity`` (mean over seeds), ``n_images``, ``n_seeds``, ``dense``, ``value`` (the
        metric, in its own units), ``gain`` (better-positive difference), ``ci_low``,
        ``ci_high``, ``p``, ``p_holm``, ``ci_low_adj``, ``ci_high_adj``, ``sweet_spot``,
        ``resampled`` (``"images"`` or ``"seeds, images"``), ``holm_scope``, ``n_pairs`` (finite
        dense-sparse pairs), ``n_replicates`` (finite bootstrap replicates) and ``testable``
        (``n_pairs >= min_pairs`` with a finite p; an untestable step has p NaN). Curves without
        a declared direction or without a dense step are left out.
    """
    if holm_scope not in HOLM_SCOPES:
        raise ConfigError(f"holm_scope must be one of {HOLM_SCOPES}, got {holm_scope!r}")
    cols = [*CURVE_KEYS, "direction", "step", "sparsity", "n_images", "n_seeds", "dense", "value", "gain",
            "ci_low", "ci_high", "p", "p_holm", "ci_low_adj", "ci_high_adj", "sweet_spot", "resampled", "holm_scope", "n_pairs", "n_replicates", "testable"]
    if per_image.empty:
        return pd.DataFrame(columns=cols)
    df = per_image.copy()
    names = df[["table", "method", "metric"]].drop_duplicates()
    names["direction"] = [metric_direction(t, m, k, directions) for t, m, k in names.itertuples(index=False)]
    df = df.merge(names, on=["table", "method", "metric"], how="left")
    untested = df.loc[df["direction"] == 0, ["table", "method", "metric"]].drop_duplicates()
    if len(untested):
        log.info("sweet spots: %d metric(s) without a declared direction are not tested", len(untested))
    df = df[df["direction"] != 0]
    if df.empty:
        return pd.DataFrame(columns=cols)
    keys = [*CURVE_KEYS, "direction"]
    hierarchical = df["seed"].nunique() > 1 if hierarchical is None else bool(hierarchical)
    sparsity = df.groupby([*keys, "step"], dropna=False)["sparsity"].mean()
    n_seeds = df.groupby([*keys, "step"], dropna=False)["seed"].nunique()

    tested = []
    for (_, images, steps), members in _curve_arrays(df, keys, hierarchical).items():
        stacked = np.stack([a * c[-1] for c, a in members], axis=-2)
        if stacked.ndim == 4 and stacked.shape[0] == 1:
            stacked = stacked[0]  # curves of one seed: images are the only level
        tested.append((members, images, steps, stacked, _raw_test(stacked, alpha, n_resamples, ci_method, seed, min_pairs)))
    _holm_adjust([t[-1] for t in tested], holm_scope)
    rows = []
    for members, images, steps, stacked, out in tested:
        _adjusted_intervals(stacked, out, alpha, n_resamples, ci_method, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            # each step's own mean; its dense baseline is the one its gain was paired with
            step_mean = np.nanmean(stacked[..., 1:].reshape(-1, *stacked.shape[-2:-1], stacked.shape[-1] - 1), axis=0)
        for ci, (curve, _) in enumerate(members):
            direction = curve[-1]
            for si, step in enumerate(steps[1:]):
                rows.append({
                    **dict(zip(keys, curve, strict=True)), "step": int(step),
                    "sparsity": float(sparsity.loc[(*curve, step)]), "n_images": len(images),
                    "n_seeds": int(n_seeds.loc[(*curve, step)]),
                    "dense": float((step_mean[ci, si] - out["gain"][ci, si]) * direction),
                    "value": float(step_mean[ci, si] * direction),
                    **{k: (bool(out[k][ci, si]) if k == "sweet_spot" else float(out[k][ci, si]))
                       for k in ("gain", "ci_low", "ci_high", "p", "p_holm", "ci_low_adj", "ci_high_adj", "sweet_spot")},
                    "resampled": "seeds, images" if stacked.ndim == 4 else "images", "holm_scope": holm_scope,
                    "n_pairs": int(out["n_pairs"][ci, si]), "n_replicates": int(out["n_replicates"][ci, si]),
                    "testable": bool(np.isfinite(out["p"][ci, si])),
                })
    return pd.DataFrame(rows, columns=cols)


def _holm_adjust(results: list[dict[str, np.ndarray]], scope: str) -> None:
    """Add ``p_holm`` and ``divisor`` to each group's results: per curve (row), or over all."""
    if scope == "curve":
        for out in results:
            levels = [_holm_levels(row) for row in out["p"]]
            out["p_holm"] = np.vstack([lv[0] for lv in levels])
            out["divisor"] = np.vstack([lv[1] for lv in levels])
        return
    sizes = [out["p"].size for out in results]
    p_holm, divisor = _holm_levels(np.concatenate([out["p"].reshape(-1) for out in results]) if results else np.zeros(0))
    for out, part_p, part_d in zip(results, np.split(p_holm, np.cumsum(sizes)[:-1]),
                                   np.split(divisor, np.cumsum(sizes)[:-1]), strict=True):
        out["p_holm"], out["divisor"] = part_p.reshape(out["p"].shape), part_d.reshape(out["p"].shape)


def summarize_sweet_spots(sweet: pd.DataFrame, metrics: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per curve: how many sparsities were tested and are sweet spots, their range, and the peak.

    Args:
        sweet: from :func:`find_sweet_spots`.
        metrics: the gathered ``metrics.csv`` tables, for the model's size (``params_nonzero`` at
            step 0, the mean over runs).

    Returns:
        One row per curve: keys, ``params_dense``, ``n_tested``, ``n_untestable`` (steps with p
        NaN), ``n_sweet``, ``sweet_min`` and
        ``sweet_max`` (sparsity range of the sweet spots), ``peak_sparsity``, ``peak_gain``
        (the largest gain among the sweet spots; NaN without one) and ``peak_ci_low``,
        ``peak_ci_high``.
    """
    cols = [*CURVE_KEYS, "params_dense", "n_tested", "n_untestable", "n_sweet", "sweet_min", "sweet_max", "peak_sparsity",
            "peak_gain", "peak_ci_low", "peak_ci_high"]
    if sweet.empty:
        return pd.DataFrame(columns=cols)
    size: dict[str, float] = {}
    if metrics is not None and not metrics.empty and {"model", "step", "params_nonzero"} <= set(metrics.columns):
        dense = metrics[metrics["step"] == 0]
        size = dense.groupby(dense["model"].astype(str))["params_nonzero"].mean().to_dict()
    rows = []
    for curve, block in sweet.groupby(CURVE_KEYS, sort=True, dropna=False):
        hits = block[block["sweet_spot"].astype(bool)]
        peak = hits.loc[hits["gain"].idxmax()] if len(hits) else None
        rows.append({
            **dict(zip(CURVE_KEYS, curve, strict=True)), "params_dense": size.get(str(curve[0]), np.nan),
            "n_tested": len(block), "n_untestable": int((~block["p"].notna()).sum()), "n_sweet": len(hits),
            "sweet_min": hits["sparsity"].min() if len(hits) else np.nan,
            "sweet_max": hits["sparsity"].max() if len(hits) else np.nan,
            "peak_sparsity": peak["sparsity"] if peak is not None else np.nan,
            "peak_gain": peak["gain"] if peak is not None else np.nan,
            "peak_ci_low": peak["ci_low"] if peak is not None else np.nan,
            "peak_ci_high": peak["ci_high"] if peak is not None else np.nan,
        })
    return pd.DataFrame(rows, columns=cols)


def summarize_by_model(summary: pd.DataFrame) -> pd.DataFrame:
    """Sweet spots per architecture and size: one row per ``(model, prune_method)``.

    Args:
        summary: from :func:`summarize_sweet_spots`.

    Returns:
        ``model, prune_method, params_dense, curves_tested, curves_with_sweet_spot, sweet_min,
        sweet_max`` (the sparsity range over all its sweet spots) and ``metrics`` (the curves
        with a sweet spot, ``table/method/metric``).
    """
    cols = ["model", "prune_method", "params_dense", "curves_tested", "curves_with_sweet_spot", "sweet_min",
            "sweet_max", "metrics"]
    if summary.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (model, pm), g in summary.groupby(["model", "prune_method"], sort=True):
        hits = g[g["n_sweet"] > 0]
        names = ["/".join(str(v) for v in (r.table, r.method, r.metric) if str(v)) + (f"@{r.level:g}" if r.level else "")
                 for r in hits.itertuples(index=False)]
        rows.append({"model": model, "prune_method": pm, "params_dense": g["params_dense"].iloc[0],
                     "curves_tested": len(g), "curves_with_sweet_spot": len(hits),
                     "sweet_min": hits["sweet_min"].min() if len(hits) else np.nan,
                     "sweet_max": hits["sweet_max"].max() if len(hits) else np.nan, "metrics": ", ".join(names)})
    return pd.DataFrame(rows, columns=cols)
