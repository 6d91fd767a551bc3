"""ICC, CCC and Pearson's r of data scaled by 1e160 or 1e-200 equal those of the data unscaled.

Before scaling by a power of two, the sums of squares of such data overflowed to inf or
underflowed to 0: every coefficient came out NaN and flagged degenerate ("constant").
"""

from __future__ import annotations

import numpy as np
import pytest

from robustlab.common.stats import ccc, icc, pearson_matrix

SCALES = [1e160, 1e-200, 1e300, 1e-300, 3.7e-5]


def _data():
    # Offsets stay small: x * 1e160 rounds each value, an error that an offset of 1e6 would
    # turn into 1e-10 of the spread (the data, not the statistic, would differ).
    rng = np.random.default_rng(7)
    truth = rng.normal(size=(12, 1, 5)) + np.array([0.0, 10.0, -2.0, 0.5, 3.0])
    return truth + rng.normal(scale=0.3, size=(12, 3, 5))


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("form", [("twoway", "agreement"), ("twoway", "consistency"), ("oneway", "agreement")])
def test_icc_is_scale_invariant(scale, form):
    x = _data()
    ref, got = icc(x, *form), icc(x * scale, *form)
    assert not got.degenerate.any()
    for name in ("value", "f", "p", "ci_low", "ci_high"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-12, atol=0, err_msg=name)


@pytest.mark.parametrize("scale", SCALES)
def test_ccc_and_pearson_are_scale_invariant(scale):
    x = _data()
    ref, got = ccc(x[:, 0], x[:, 1]), ccc(x[:, 0] * scale, x[:, 1] * scale)
    assert not got.degenerate.any()
    for name in ("value", "ci_low", "ci_high", "pearson"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-12, atol=0, err_msg=name)
    # Pearson's r takes each column at its own scale: mix the extremes within one call.
    cols = x[:, 0] * np.array([scale, 1.0, 1e160, 1e-200, scale])
    np.testing.assert_allclose(pearson_matrix(cols, x[:, 1]), pearson_matrix(x[:, 0], x[:, 1]), rtol=1e-12, atol=1e-15)


def test_ordinary_data_give_bit_identical_results():
    """A power of two scales exactly: data in the ordinary range keep every bit of the result."""
    x = _data()
    assert np.array_equal(icc(x).value, icc(x * 2.0**40).value)
    assert np.array_equal(ccc(x[:, 0], x[:, 1]).value, ccc(x[:, 0] * 2.0**-40, x[:, 1] * 2.0**-40).value)
