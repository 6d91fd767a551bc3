"""Lin's CCC against a direct implementation of its formula and DescTools' interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from robustlab.common.stats import ccc


def lin_direct(x: list[float], y: list[float], alpha: float = 0.05) -> tuple[float, float, float]:
    """Lin (1989) and DescTools::CCC(ci="z-transform"), one pair of lists, plain Python."""
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sx2 = sum((a - mx) ** 2 for a in x) / n
    sy2 = sum((b - my) ** 2 for b in y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / n
    rho = 2 * sxy / (sx2 + sy2 + (mx - my) ** 2)
    r = sxy / math.sqrt(sx2 * sy2)
    u = (my - mx) / (sx2 * sy2) ** 0.25
    sep = math.sqrt(((1 - r**2) * rho**2 * (1 - rho**2) / r**2 + 2 * rho**3 * (1 - rho) * u**2 / r
                     - 0.5 * rho**4 * u**4 / r**2) / (n - 2))
    t, set_ = math.atanh(rho), sep / (1 - rho**2)
    q = stats.norm.ppf(1 - alpha / 2)
    return rho, math.tanh(t - q * set_), math.tanh(t + q * set_)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_ccc_equals_direct_formula(seed, alpha):
    rng = np.random.default_rng(seed)
    n = 10 + 5 * seed
    x = rng.normal(size=(n, 6)) * rng.uniform(0.5, 3, size=6)
    y = 0.8 * x + rng.normal(scale=0.5, size=(n, 6)) + rng.normal(size=6)
    res = ccc(x, y, alpha=alpha)
    for j in range(6):
        expected = lin_direct(x[:, j].tolist(), y[:, j].tolist(), alpha)
        np.testing.assert_allclose([res.value[j], res.ci_low[j], res.ci_high[j]], expected, rtol=1e-12)
        np.testing.assert_allclose(res.pearson[j], stats.pearsonr(x[:, j], y[:, j])[0], rtol=1e-12)


def test_published_example_of_lin():
    # Identical measurements agree perfectly; a pure shift lowers concordance, not correlation.
    x = np.arange(1.0, 11.0)
    assert float(ccc(x, x + 1e-9 * np.sin(x)).value) == pytest.approx(1.0, abs=1e-12)
    shifted = ccc(x, x + 2.0)
    assert float(shifted.pearson) == pytest.approx(1.0)
    assert float(shifted.value) == pytest.approx(2 * np.var(x) / (2 * np.var(x) + 4.0))


def test_degenerate_and_missing():
    x = np.column_stack([np.arange(6.0), np.ones(6), np.arange(6.0)])
    y = x + np.array([0.1, -0.2, 0.05, 0.0, 0.3, -0.1])[:, None]
    y[2, 2] = np.nan
    res = ccc(x, y, nan_policy="omit")
    assert res.degenerate.tolist() == [False, True, False] and np.isnan(res.value[1])
    np.testing.assert_allclose(res.value[2], ccc(np.delete(x[:, 2], 2), np.delete(y[:, 2], 2)).value)
    assert res.n.tolist() == [6, 6, 5]
    assert np.isnan(ccc(x, y, nan_policy="propagate").value[2])


@pytest.mark.parametrize(
    "x,y,message",
    [
        (np.ones(5), np.ones(4), "same shape"),
        (np.ones((2, 2, 2)), np.ones((2, 2, 2)), "1-D or 2-D"),
        (np.arange(2.0), np.arange(2.0), "at least 3 pairs"),
        (np.array([1.0, np.nan, 3.0]), np.arange(3.0), "non-finite"),
    ],
)
def test_bad_input(x, y, message):
    with pytest.raises(ValueError, match=message):
        ccc(x, y)
