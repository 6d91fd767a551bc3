"""A radiomics statistic: Pearson's r between two acquisitions, with the Fisher z interval."""

from collections.abc import Mapping

import numpy as np
from scipy.stats import norm

from robustlab.radiomics.statistics import STATISTICS


@STATISTICS.register("pearson", n_raters=(2, 2), min_rois=4)
def pearson(ratings: np.ndarray, options: Mapping[str, str], alpha: float
            ) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """``r = sum(x y) / sqrt(sum x^2 sum y^2)`` of the centred values of every feature;
    interval ``tanh(atanh(r) -+ z_(1 - alpha/2) / sqrt(n - 3))`` (Fisher 1921)."""
    x = ratings[:, 0, :] - ratings[:, 0, :].mean(axis=0)
    y = ratings[:, 1, :] - ratings[:, 1, :].mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (x * y).sum(axis=0) / np.sqrt((x * x).sum(axis=0) * (y * y).sum(axis=0))
        z = np.arctanh(np.clip(r, -1 + 1e-15, 1 - 1e-15))
    half = norm.ppf(1 - alpha / 2) / np.sqrt(ratings.shape[0] - 3)
    return "Pearson r", r, np.tanh(z - half), np.tanh(z + half)
