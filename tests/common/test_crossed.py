"""crossed_mean: against statsmodels' two-way ANOVA and scipy's one-sample t-test; missing cells; bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from robustlab.common.errors import ConfigError, DataError
from robustlab.common.stats import crossed_mean


def test_the_two_terms_are_the_two_way_anova_mean_squares_over_rc() -> None:
    smf = pytest.importorskip("statsmodels.formula.api")
    from statsmodels.stats.anova import anova_lm

    rng = np.random.default_rng(0)
    r, c = 4, 30
    y = 0.4 * rng.normal(size=(r, 1)) + rng.normal(size=(1, c)) + rng.normal(size=(r, c))
    long = pd.DataFrame({"y": y.ravel(), "row": np.repeat(np.arange(r), c), "col": np.tile(np.arange(c), r)})
    table = anova_lm(smf.ols("y ~ C(row) + C(col)", data=long).fit())
    ms = table["sum_sq"] / table["df"]
    res = crossed_mean(y)
    assert res.var_rows == pytest.approx(ms["C(row)"] / (r * c), rel=1e-10)
    assert res.var_cols == pytest.approx(ms["C(col)"] / (r * c), rel=1e-10)
    assert res.estimate == pytest.approx(y.mean())
    assert res.df == c - 1 and res.n_rows == r and res.n_cols == c and res.n_cells == r * c
    half = stats.t.ppf(0.975, c - 1) * res.standard_error
    assert (res.ci_low, res.ci_high) == pytest.approx((y.mean() - half, y.mean() + half))


def test_one_row_is_the_one_sample_t_test_with_missing_cells_left_out() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(0.2, 1.0, size=(1, 25, 3))
    y[0, :4, 1] = np.nan
    res = crossed_mean(y, null=0.1)
    for k in range(3):
        finite = y[0, :, k][np.isfinite(y[0, :, k])]
        ref = stats.ttest_1samp(finite, 0.1)
        assert res.p_value[k] == pytest.approx(ref.pvalue, rel=1e-9)
        assert res.standard_error[k] == pytest.approx(stats.sem(finite), rel=1e-12)
        assert res.df[k] == len(finite) - 1 and res.var_rows[k] == 0
        expected = stats.ttest_1samp(finite, 0.0).confidence_interval(0.95)
        assert (res.ci_low[k], res.ci_high[k]) == pytest.approx(expected)


def test_a_column_shared_by_every_row_is_counted_once_not_divided_by_the_rows() -> None:
    # Every row scores the same columns with the same column effect: the mean varies with the
    # draw of columns as sd_col / sqrt(C), however many rows there are.
    rng = np.random.default_rng(2)
    cols = rng.normal(size=(1, 400, 200))
    y = cols + 0.01 * rng.normal(size=(5, 400, 200))
    res = crossed_mean(y)
    expected = cols.std(axis=1, ddof=1)[0] / np.sqrt(400)
    np.testing.assert_allclose(res.standard_error, expected, rtol=0.02)
    coverage = np.mean((res.ci_low < 0) & (0 < res.ci_high))
    assert 0.92 < coverage < 0.98  # 200 independent arrays, true mean 0


def test_interval_at_other_levels_and_degenerate_entries() -> None:
    y = np.stack([np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([[0.0, 0.0], [0.0, 0.0]]),
                  np.array([[np.nan, np.nan], [np.nan, 2.0]])], axis=-1)
    res = crossed_mean(y)
    assert res.p_value.tolist()[:2] == [0.0, 1.0]  # zero variance: p 0 off the null, 1 on it
    assert np.isnan(res.p_value[2]) and res.n_cells[2] == 1  # one column: no variance
    rng = np.random.default_rng(3)
    z = crossed_mean(rng.normal(size=(3, 50, 4)))
    lo, hi = z.interval(np.array([0.05, 0.01, 0.005, 0.001]))
    assert np.all(np.diff((hi - lo) / z.standard_error) > 0)
    np.testing.assert_allclose((hi - lo) / 2 / z.standard_error,
                               stats.t.ppf(1 - np.array([0.05, 0.01, 0.005, 0.001]) / 2, 49))
    np.testing.assert_allclose(z.interval(0.05)[0], z.ci_low)


def test_bad_input_says_what_was_expected() -> None:
    with pytest.raises(DataError, match=r"\(n_rows, n_cols, \.\.\.\)"):
        crossed_mean(np.zeros(5))
    with pytest.raises(DataError, match="numeric"):
        crossed_mean([["a", "b"], ["c", "d"]])
    with pytest.raises(ConfigError, match="alpha"):
        crossed_mean(np.zeros((2, 3)), alpha=1.5)
