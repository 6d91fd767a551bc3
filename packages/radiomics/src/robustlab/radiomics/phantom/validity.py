"""How well the digital phantom predicts real data: shares, intervals and per-feature scores.

The simulated side is a set of seeds of one protocol (per seed, each comparison's per-feature
verdict ``excellent``); the real side is a comparison's real verdicts (from the study's
released features) or its published share. Four views (``scripts/validate_phantom.py``):

- per comparison, the real share of excellent features against the simulated median and 5-95 %
  interval over seeds (:func:`share_intervals`);
- the same per feature class and per image type (wavelet sub-bands together), a *cell* of a
  comparison (:func:`cell_intervals`);
- per feature, the simulated probability ``p_f`` (the share of seeds where feature ``f`` is
  excellent) scored against the real verdict ``y_f`` by the AUC and the Brier score, beside two
  baselines: the real base rate ``ybar`` (Brier ``ybar (1 - ybar)``, no discrimination: AUC 0.5)
  and the real verdicts of the other comparisons (``q_f``, the share of them where ``f`` is
  excellent) (:func:`feature_scores`);
- interval widths beside the width a share of ``n`` features would have from binomial sampling
  alone (:func:`binomial_width`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.special import ndtri
from scipy.stats import mannwhitneyu

#: Image types of the cells: the wavelet sub-bands count as one.
IMAGE_TYPES = ("original", "log", "wavelet", "square", "squareroot", "logarithm", "exponential")


def image_type_group(image_type: str) -> str:
    """``wavelet-LH`` -> ``wavelet``, ``log-sigma-6-mm-3D`` -> ``log``; other names unchanged."""
    return image_type.split("-", 1)[0]


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the binary ``labels``.

    The Mann-Whitney form ``U_1 / (n_1 n_0)``, ``U_1 = R_1 - n_1 (n_1 + 1) / 2`` with ``R_1`` the
    mid-rank sum of the positives: the probability that a positive scores above a negative, a
    tie counting one half (Hanley and McNeil, Radiology 1982, 143:29); ``U_1`` is scipy's
    :func:`~scipy.stats.mannwhitneyu` statistic. NaN when one class is empty.
    """
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    return float(mannwhitneyu(scores[labels], scores[~labels]).statistic / (n1 * n0))


def brier(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Brier score ``mean((p - y)**2)`` (Brier, Monthly Weather Review 1950, 78:1)."""
    p, y = np.asarray(probabilities, float), np.asarray(labels, float)
    return float(np.mean((p - y) ** 2))


def binomial_width(share_pct: float, n: int, level: float = 0.9) -> float:
    """Width in points of the central ``level`` interval of a share of ``n`` Bernoulli draws.

    The normal approximation ``2 z sqrt(p (1 - p) / n)``, ``z`` the ``(1 + level) / 2``
    quantile: the spread the share would have if each feature were an independent draw with
    probability ``p``, the floor for any interval of a share of ``n`` features.
    """
    p = min(max(share_pct / 100.0, 0.0), 1.0)
    return float(200.0 * ndtri(0.5 + level / 2.0) * np.sqrt(p * (1.0 - p) / n))


def _percentiles(values: np.ndarray) -> tuple[float, float, float]:
    p5, median, p95 = np.percentile(np.asarray(values, float), [5, 50, 95])
    return float(median), float(p5), float(p95)


def share_intervals(simulated: pd.DataFrame, real: Mapping[str, float], n_features: int) -> pd.DataFrame:
    """Per comparison of ``real`` (name -> real % excellent): the simulated median, 5-95 %
    interval over seeds, whether the real share lies inside, the distance of the median, and
    the interval's width beside the binomial width at the real share.

    ``simulated`` is a seeds' ``summary`` table (``seed``, ``comparison``, ``pct_excellent``).
    """
    rows = []
    for comparison, value in real.items():
        sim = simulated.loc[simulated["comparison"] == comparison, "pct_excellent"].to_numpy(float)
        if not sim.size:
            continue
        median, p5, p95 = _percentiles(sim)
        rows.append({"comparison": comparison, "real": value, "n_seeds": sim.size, "median": median,
                     "p5": p5, "p95": p95, "inside": bool(p5 <= value <= p95),
                     "median_off": median - value, "width": p95 - p5,
                     "binomial_width": binomial_width(value, n_features)})
    out = pd.DataFrame(rows)
    if len(out):
        out["width_ratio"] = out["width"] / out["binomial_width"]
    return out


def cell_shares(per_feature: pd.DataFrame, by: str) -> pd.DataFrame:
    """% excellent per comparison (and seed, when present) and cell (``feature_class`` or
    ``image_type``, wavelets together)."""
    table = per_feature.assign(cell=per_feature[by].map(image_type_group) if by == "image_type"
                               else per_feature[by])
    keys = [k for k in ("seed", "comparison") if k in table.columns] + ["cell"]
    return (table.groupby(keys)["excellent"].mean() * 100.0).rename("pct").reset_index()


def cell_intervals(simulated: pd.DataFrame, real: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per comparison and cell present in ``real`` (a per-feature table of real verdicts):
    the real share against the simulated median and 5-95 % interval over seeds."""
    sim, obs = cell_shares(simulated, by), cell_shares(real, by)
    rows = []
    for (comparison, cell), group in sim.groupby(["comparison", "cell"]):
        match = obs[(obs["comparison"] == comparison) & (obs["cell"] == cell)]
        if not len(match):
            continue
        value = float(match["pct"].iloc[0])
        median, p5, p95 = _percentiles(group["pct"].to_numpy(float))
        rows.append({"comparison": comparison, "by": by, "cell": cell, "real": value, "median": median,
                     "p5": p5, "p95": p95, "inside": bool(p5 <= value <= p95)})
    return pd.DataFrame(rows)


def feature_scores(simulated: pd.DataFrame, real: pd.DataFrame) -> pd.DataFrame:
    """Per comparison with real verdicts: AUC and Brier of the simulated probability, of the
    base rate and of the other comparisons' real verdicts (see the module docstring).

    ``simulated``: per seed, comparison and feature, ``excellent``; ``real``: per comparison and
    feature, ``excellent``. Features are those of the real table.
    """
    truth = real.pivot_table(index="feature", columns="comparison", values="excellent",
                             aggfunc="first").astype(float)
    prob = simulated.groupby(["comparison", "feature"])["excellent"].mean()
    rows = []
    for comparison in truth.columns:
        if comparison not in prob.index.get_level_values(0):
            continue
        y = truth[comparison].dropna()
        p = prob.loc[comparison].reindex(y.index).to_numpy(float)
        others = truth.drop(columns=comparison).reindex(y.index)
        q = others.mean(axis=1).to_numpy(float) if others.shape[1] else np.full(len(y), np.nan)
        base = float(y.mean())
        rows.append({"comparison": comparison, "n_features": len(y), "real_pct": 100.0 * base,
                     "auc": auc(p, y.to_numpy()), "brier": brier(p, y.to_numpy()),
                     "brier_base_rate": base * (1.0 - base),
                     "auc_others": auc(q, y.to_numpy()), "brier_others": brier(q, y.to_numpy()),
                     "n_others": others.shape[1]})
    return pd.DataFrame(rows)
