"""Fuzzing the statistics: exact references on small integer data, invariances, bad input.

- ICC (six forms) and CCC equal an exact rational-arithmetic reference on integer ratings;
  Pearson's r equals its definition; Spearman's rho equals SciPy column by column.
- Scaling by a power of two changes no bit; scaling by 10**e (e up to +-250) changes the
  value by round-off only; permuting targets, raters and features permutes the results.
- Missing values (NaN, inf) anywhere: ``raise``, ``omit`` and ``propagate`` each do what
  they promise, and ``omit`` equals the reference on the rows kept.
- Anything else (other shapes, dtypes, options) returns or raises a one-line project error.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays, scalar_dtypes

from robustlab.common.stats import ccc, icc, pearson_matrix, spearman_matrix
from tests.fuzz._contract import check_project_error, fuzz_settings

pytestmark = pytest.mark.fuzz

FORMS = [(m, t, u) for m in ("oneway", "twoway") for t in ("agreement", "consistency")
         for u in ("single", "average") if not (m == "oneway" and t == "consistency")]


@st.composite
def integer_ratings(draw, max_n=7, max_k=4, max_p=3):
    n, k, p = draw(st.integers(2, max_n)), draw(st.integers(2, max_k)), draw(st.integers(1, max_p))
    # narrow ranges make ties, constant features and rater-offset-only features frequent
    high = draw(st.sampled_from([1, 3, 20]))
    return draw(arrays(np.int64, (n, k, p), elements=st.integers(-high, high))).astype(np.float64)


def icc_reference(x: np.ndarray, model: str, type_: str, unit: str) -> Fraction | None:
    """ICC of one feature ``(n, k)`` in exact rational arithmetic; None where it is 0/0 or x/0."""
    rows = [[Fraction(int(v)) for v in row] for row in x]
    n, k = len(rows), len(rows[0])
    grand = sum(map(sum, rows)) / (n * k)
    row_means = [sum(r) / k for r in rows]
    col_means = [sum(r[j] for r in rows) / n for j in range(k)]
    ss_t = sum((v - grand) ** 2 for r in rows for v in r)
    ss_r = k * sum((m - grand) ** 2 for m in row_means)
    ss_c = n * sum((m - grand) ** 2 for m in col_means)
    ss_e = ss_t - ss_r - ss_c
    ms_r, ms_c, ms_e = ss_r / (n - 1), ss_c / (k - 1), ss_e / ((n - 1) * (k - 1))
    ms_w = (ss_c + ss_e) / (n * (k - 1))
    if model == "oneway" or type_ == "consistency":
        ms_x = ms_w if model == "oneway" else ms_e
        num, den = ms_r - ms_x, (ms_r + (k - 1) * ms_x) if unit == "single" else ms_r
    elif unit == "single":
        num, den = ms_r - ms_e, ms_r + (k - 1) * ms_e + Fraction(k, n) * (ms_c - ms_e)
    else:
        num, den = ms_r - ms_e, ms_r + (ms_c - ms_e) / n
    return None if den == 0 else num / den


def ccc_reference(x: np.ndarray, y: np.ndarray) -> Fraction | None:
    """Lin's CCC in exact rational arithmetic; None where either variable is constant."""
    xs, ys = [Fraction(int(v)) for v in x], [Fraction(int(v)) for v in y]
    if len(set(xs)) == 1 or len(set(ys)) == 1:
        return None
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(xs, ys, strict=True)) / n
    sx2, sy2 = sum((a - mx) ** 2 for a in xs) / n, sum((b - my) ** 2 for b in ys) / n
    return 2 * sxy / (sx2 + sy2 + (mx - my) ** 2)


def _assert_matches(got_value, got_degenerate, expected) -> None:
    for value, degenerate, ref in zip(np.atleast_1d(got_value), np.atleast_1d(got_degenerate),
                                      expected, strict=True):
        if ref is None:
            assert degenerate and np.isnan(value), (value, degenerate)
        else:
            assert not degenerate and value == pytest.approx(float(ref), rel=1e-9, abs=1e-12), (value, ref)


@fuzz_settings
@given(x=integer_ratings(), form=st.sampled_from(FORMS))
def test_icc_equals_the_exact_reference(x, form):
    res = icc(x, *form)
    _assert_matches(res.value, res.degenerate, [icc_reference(x[:, :, j], *form) for j in range(x.shape[2])])
    # An average form's denominator can be negative (ICC(A,k) = 2 exists), and its interval,
    # the Spearman-Brown step-up of the single form's as in irr::icc, need not hold it there.
    if form[2] == "single":
        defined = ~res.degenerate & np.isfinite(res.ci_low)
        assert np.all(res.value[defined] <= 1 + 1e-12)
        assert np.all(res.ci_low[defined] <= res.value[defined] + 1e-9)


@fuzz_settings
@given(x=integer_ratings(max_k=2), data=st.data())
def test_ccc_and_correlations_equal_their_references(x, data):
    a, b = x[:, 0, :], x[:, 1, :]
    assume(a.shape[0] >= 3)
    res = ccc(a, b)
    _assert_matches(res.value, res.degenerate, [ccc_reference(a[:, j], b[:, j]) for j in range(a.shape[1])])
    assert np.array_equal(res.value, ccc(b, a).value, equal_nan=True)  # symmetric
    from scipy import stats

    r, rho = pearson_matrix(a, b), spearman_matrix(a, b)
    for i in range(a.shape[1]):
        for j in range(b.shape[1]):
            if np.ptp(a[:, i]) == 0 or np.ptp(b[:, j]) == 0:
                assert np.isnan(r[i, j]) and np.isnan(rho[i, j])
                continue
            da, db = a[:, i] - a[:, i].mean(), b[:, j] - b[:, j].mean()
            ref = float(np.sum(da * db)) / math.sqrt(float(np.sum(da**2)) * float(np.sum(db**2)))
            assert r[i, j] == pytest.approx(ref, abs=1e-12)
            assert rho[i, j] == pytest.approx(stats.spearmanr(a[:, i], b[:, j])[0], abs=1e-12)


@fuzz_settings
@given(x=integer_ratings(), form=st.sampled_from(FORMS), exponent=st.integers(-1000, 1000),
       decimal=st.integers(-250, 250))
def test_scale_changes_nothing(x, form, exponent, decimal):
    """A power of two: bit for bit; a power of ten: the value to round-off, the same flags."""
    base = icc(x, *form)
    two = icc(x * 2.0**exponent, *form)
    assert np.array_equal(base.value, two.value, equal_nan=True)
    assert np.array_equal(base.degenerate, two.degenerate)
    ten = icc(x * 10.0**decimal, *form)
    assert np.array_equal(base.degenerate, ten.degenerate)
    np.testing.assert_allclose(ten.value, base.value, rtol=1e-7, atol=1e-9)
    if x.shape[0] >= 3:
        a, b = x[:, 0, :], x[:, 1, :]
        c0, c1 = ccc(a, b), ccc(a * 10.0**decimal, b * 10.0**decimal)
        assert np.array_equal(c0.degenerate, c1.degenerate)
        np.testing.assert_allclose(c1.value, c0.value, rtol=1e-7, atol=1e-9)
        scales = 10.0 ** np.linspace(-decimal, decimal, a.shape[1])  # each column its own scale
        np.testing.assert_allclose(pearson_matrix(a * scales, b), pearson_matrix(a, b), rtol=1e-7, atol=1e-9)


@fuzz_settings
@given(x=integer_ratings(), form=st.sampled_from(FORMS), data=st.data())
def test_permutations_permute_the_results(x, form, data):
    n, k, p = x.shape
    rows = data.draw(st.permutations(range(n)))
    raters = data.draw(st.permutations(range(k)))
    features = data.draw(st.permutations(range(p)))
    base = icc(x, *form)
    moved = icc(x[np.ix_(rows, raters, features)], *form)
    assert np.array_equal(moved.degenerate, base.degenerate[features])
    np.testing.assert_allclose(moved.value, base.value[features], rtol=1e-9, atol=1e-12)


@fuzz_settings
@given(x=integer_ratings(max_n=8), form=st.sampled_from(FORMS), data=st.data())
def test_missing_values_follow_the_nan_policy(x, form, data):
    from robustlab.common.errors import DataError

    n, k, p = x.shape
    cells = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, k - 1), st.integers(0, p - 1)),
                               min_size=1, max_size=4))
    bad = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    y = x.copy()
    for cell in cells:
        y[cell] = bad
    with pytest.raises(DataError, match="non-finite"):
        icc(y, *form)
    hit = ~np.all(np.isfinite(y), axis=(0, 1))
    prop = icc(y, *form, nan_policy="propagate")
    assert np.all(np.isnan(prop.value[hit])) and not np.any(prop.degenerate[hit])
    clean = icc(x, *form)
    np.testing.assert_array_equal(prop.value[~hit], clean.value[~hit])
    if np.isinf(bad):
        with pytest.raises(DataError, match="infinite"):
            icc(y, *form, nan_policy="omit")
        return
    omit = icc(y, *form, nan_policy="omit")
    for j in range(p):
        kept = x[np.all(np.isfinite(y[:, :, j]), axis=1), :, j]
        assert omit.n_targets[j] == len(kept)
        ref = icc_reference(kept, *form) if len(kept) >= 2 else None
        _assert_matches(omit.value[j:j + 1], omit.degenerate[j:j + 1], [ref])


anything = st.one_of(
    arrays(scalar_dtypes(), array_shapes(min_dims=0, max_dims=4, max_side=4)),
    st.lists(st.one_of(st.none(), st.text(max_size=3), st.floats(), st.integers()), max_size=6),
    st.none(), st.text(max_size=5), st.floats(), st.integers(),
)
options = st.fixed_dictionaries({}, optional={
    "alpha": st.one_of(st.floats(), st.integers(-2, 2)),
    "nan_policy": st.sampled_from(["raise", "omit", "propagate", "drop", ""]),
})


@fuzz_settings
@given(a=anything, b=anything, kwargs=options, which=st.sampled_from(["icc", "ccc", "pearson", "spearman"]))
def test_any_input_gives_a_result_or_a_one_line_project_error(a, b, kwargs, which):
    import warnings

    calls = {"icc": lambda: icc(a, **kwargs), "ccc": lambda: ccc(a, b, **kwargs),
             "pearson": lambda: pearson_matrix(a, b, **{k: v for k, v in kwargs.items() if k == "nan_policy"}),
             "spearman": lambda: spearman_matrix(a, b, **{k: v for k, v in kwargs.items() if k == "nan_policy"})}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning (e.g. a complex part dropped) is a silent change
        try:
            calls[which]()
        except Exception as exc:  # noqa: BLE001 - the contract is checked on any exception
            check_project_error(exc)
