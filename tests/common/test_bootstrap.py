"""Vectorized bootstrap intervals against scipy.stats.bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from robustlab.common.stats import bootstrap_ci


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_matches_scipy_within_monte_carlo_error(method):
    rng = np.random.default_rng(7)
    x = rng.exponential(size=60)  # skewed, where BCa and percentile differ
    ours = bootstrap_ci(x, n_resamples=20000, method=method, seed=1)
    ref = stats.bootstrap((x,), np.mean, n_resamples=20000, method=method, random_state=2).confidence_interval
    se = float(ours.standard_error)
    # Two independent Monte Carlo runs of B=20000: their interval ends differ by a few % of a SE.
    assert abs(float(ours.ci_low) - ref.low) < 0.08 * se
    assert abs(float(ours.ci_high) - ref.high) < 0.08 * se
    assert float(ours.estimate) == pytest.approx(x.mean())


def test_columns_are_resampled_together_and_vectorized():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(40, 3))
    both = bootstrap_ci(x, n_resamples=500, seed=5)
    for j in range(3):
        alone = bootstrap_ci(x[:, j], n_resamples=500, seed=5)
        np.testing.assert_allclose(both.ci_low[j], alone.ci_low, rtol=1e-12)
        np.testing.assert_allclose(both.ci_high[j], alone.ci_high, rtol=1e-12)
    batched = bootstrap_ci(x, n_resamples=500, seed=5, batch=7, return_distribution=True)
    np.testing.assert_allclose(batched.ci_low, both.ci_low, rtol=1e-12)
    assert both.distribution is None and batched.distribution.shape == (500, 3)
    np.testing.assert_allclose(batched.distribution.std(axis=0, ddof=1), both.standard_error, rtol=1e-12)


def test_custom_statistic_and_coverage():
    rng = np.random.default_rng(9)
    hits = 0
    for _ in range(200):
        x = rng.normal(loc=1.0, size=30)
        res = bootstrap_ci(x, statistic=np.median, n_resamples=400, method="percentile", seed=rng)
        hits += res.ci_low <= 1.0 <= res.ci_high
    assert 0.88 <= hits / 200 <= 0.99  # nominal 0.95, binomial sd about 0.015


def test_bad_input():
    with pytest.raises(ValueError, match="unknown method 'normal'"):
        bootstrap_ci(np.ones(5), method="normal")
    with pytest.raises(ValueError, match="at least 2 rows"):
        bootstrap_ci(np.ones(1))
