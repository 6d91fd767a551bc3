"""Within-subject coefficient of variation against a hand computation and agRee's formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from robustlab.common.stats import wscv


def test_hand_computed_value() -> None:
    # subject means 10.5, 19.5, 31.5; grand mean 20.5; within sum of squares 0.5 + 0.5 + 4.5
    ratings = [[10.0, 11.0], [20.0, 19.0], [30.0, 33.0]]
    expected = math.sqrt(5.5 / 3) / 20.5
    assert float(wscv(ratings).value) == pytest.approx(expected, rel=1e-14)


def _agree_wscv(r: np.ndarray, alpha: float, method: str) -> tuple[float, float, float]:
    """agRee::agree.wscv written out for one matrix, line by line, scalar arithmetic."""
    n, k = r.shape
    bar = r.mean(axis=1)
    mu = bar.mean()
    mse = ((r - bar[:, None]) ** 2).sum() / (n * k - n)
    msb = ((bar - mu) ** 2).sum() * k / (n - 1)
    theta = math.sqrt(mse) / mu
    rho = ((n - 1) * msb - n * mse) / ((n - 1) * msb + n * (k - 1) * mse)
    z = stats.norm.ppf(1 - alpha / 2)
    if method == "delta":
        var = theta**4 / (k * n) * (1 + k * rho / (1 - rho)) + theta**2 / (2 * n * (k - 1))
        return theta, theta - z * math.sqrt(var), theta + z * math.sqrt(var)
    rs = rho / (1 - rho)
    c = 2 * (1 - 1 / k) * (1 + k * rs)
    f = math.sqrt((k - 1) / 2) * math.log((math.sqrt(1 + c * theta**2) - 1) / (math.sqrt(1 + c * theta**2) + 1))
    bounds = []
    for xi in (f - z / math.sqrt(n), f + z / math.sqrt(n)):
        bounds.append(2 * math.exp(xi * (2 * (k - 1)) ** -0.5) / (c**0.5 * (1 - math.exp(xi * (2 / (k - 1)) ** 0.5))))
    return theta, bounds[0], bounds[1]


@pytest.mark.parametrize("method", ["vst", "delta"])
@pytest.mark.parametrize("k", [2, 3])
def test_matches_agree_wscv_per_feature(method: str, k: int) -> None:
    rng = np.random.default_rng(1)
    truth = rng.uniform(50, 150, size=(12, 1, 40))
    ratings = truth * (1 + 0.05 * rng.normal(size=(12, k, 40)))
    res = wscv(ratings, alpha=0.1, method=method)
    for j in range(40):
        value, low, high = _agree_wscv(ratings[:, :, j], 0.1, method)
        assert res.value[j] == pytest.approx(value, rel=1e-12)
        assert res.ci_low[j] == pytest.approx(low, rel=1e-10)
        assert res.ci_high[j] == pytest.approx(high, rel=1e-10)
        assert res.ci_low[j] < res.value[j] < res.ci_high[j]


def test_missing_values_and_bad_input() -> None:
    ratings = np.ones((4, 2, 3)) + np.arange(4)[:, None, None]
    ratings[0, 0, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        wscv(ratings)
    res = wscv(ratings, nan_policy="propagate")
    assert np.isnan(res.value[1]) and res.value[0] == 0.0
    with pytest.raises(ValueError, match="at least 2 subjects"):
        wscv(np.ones((1, 2)))
    assert np.isnan(wscv(np.zeros((3, 2))).value)
