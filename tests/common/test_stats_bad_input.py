"""Bad input to the statistics: one-line project errors (found by the fuzz suite, tests/fuzz)."""

from __future__ import annotations

import numpy as np
import pytest

from robustlab.common.errors import ConfigError, DataError
from robustlab.common.stats import bootstrap_ci, ccc, icc, pearson_matrix, wscv


def test_complex_values_are_refused_not_cast():
    """Before: NumPy dropped the imaginary part with a ComplexWarning and the ICC was computed."""
    x = np.arange(12.0).reshape(6, 2) + 1j
    with pytest.raises(DataError, match=r"ratings must be real numbers; got complex values"):
        icc(x)
    with pytest.raises(DataError, match=r"x must be real numbers"):
        ccc(x[:, 0], x[:, 1].real)
    with pytest.raises(DataError, match=r"a must be real numbers"):
        pearson_matrix(np.complex64(1.0) * np.ones((3, 2)))


def test_errors_are_project_errors_and_still_value_errors():
    with pytest.raises(ConfigError, match="unknown model 'x'"):
        icc(np.ones((3, 2)), model="x")
    with pytest.raises(DataError, match="at least 2 targets"):
        icc(np.ones((1, 2)))
    with pytest.raises(ValueError):  # callers catching ValueError keep working
        ccc([1.0, 2.0], [1.0, 2.0])


@pytest.mark.parametrize("alpha", [0, 1, 1.5, -0.05, float("nan"), True, "0.05", None])
def test_every_statistic_refuses_an_alpha_outside_0_1_with_one_config_error(alpha):
    ratings = np.arange(12.0).reshape(6, 2) + np.array([0.0, 0.5])
    calls = {"icc": lambda: icc(ratings, alpha=alpha), "ccc": lambda: ccc(ratings[:, 0], ratings[:, 1], alpha=alpha),
             "bootstrap_ci": lambda: bootstrap_ci(ratings[:, 0], alpha=alpha, n_resamples=10),
             "wscv": lambda: wscv(ratings + 1.0, alpha=alpha)}
    for call in calls.values():
        with pytest.raises(ConfigError, match=r"^alpha: must be a number in \(0, 1\); got "):
            call()


def test_a_numpy_alpha_is_a_number():
    assert icc(np.arange(12.0).reshape(6, 2), alpha=np.float32(0.1)).alpha == pytest.approx(0.1)


@pytest.mark.parametrize("ratings", [
    [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]],
    [[0.0, 0.0], [1.0, -1.0], [0.0, 0.0]],
])
def test_icc_average_agreement_with_a_zero_denominator_is_undefined(ratings):
    """Found by the fuzz suite: MS_R + (MS_C - MS_E)/n is exactly 0 here; computed, it was
    +-1e-17 and ICC(A,k) came out as -1.2e16 (or 1.8e16 with the targets reordered)."""
    x = np.asarray(ratings)
    for order in (slice(None), slice(None, None, -1)):
        res = icc(x[order], "twoway", "agreement", "average")
        assert np.isnan(res.value) and res.degenerate
