"""ICC against pingouin for all six forms, awkward data, properties and bad input."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from robustlab.common.stats import icc

# (model, type, unit) -> pingouin's row label
FORMS = {
    ("oneway", "agreement", "single"): "ICC(1,1)",
    ("twoway", "agreement", "single"): "ICC(A,1)",
    ("twoway", "consistency", "single"): "ICC(C,1)",
    ("oneway", "agreement", "average"): "ICC(1,k)",
    ("twoway", "agreement", "average"): "ICC(A,k)",
    ("twoway", "consistency", "average"): "ICC(C,k)",
}


def pingouin_table(ratings: np.ndarray) -> pd.DataFrame:
    """pingouin.intraclass_corr of one feature, its CI unrounded."""
    n, k = ratings.shape
    long = pd.DataFrame(
        {"target": np.repeat(np.arange(n), k), "rater": np.tile(np.arange(k), n), "y": ratings.ravel()}
    )
    saved = pg.options["round.column.CI95"]
    pg.options["round.column.CI95"] = None  # pingouin rounds its CI to 2 decimals by default
    try:
        return pg.intraclass_corr(long, targets="target", raters="rater", ratings="y").set_index("Type")
    finally:
        pg.options["round.column.CI95"] = saved


def awkward_datasets() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(42)
    out = []
    for k in (2, 3, 4, 5):
        n = 6 + 3 * k
        truth = rng.normal(size=(n, 1, 5))
        random = truth + 0.4 * rng.normal(size=(n, k, 5))
        ties = np.round(random * 2) / 2  # many ties
        near_constant = 3.0 + 1e-6 * rng.normal(size=(n, k, 5))
        offset = 1e6 + random
        rater_bias = random + np.arange(k)[None, :, None]
        out += [(f"random-k{k}", random), (f"ties-k{k}", ties), (f"near-constant-k{k}", near_constant),
                (f"offset-1e6-k{k}", offset), (f"rater-bias-k{k}", rater_bias)]
    return out


@pytest.mark.parametrize("form", list(FORMS), ids=lambda f: FORMS[f])
@pytest.mark.parametrize("name,data", awkward_datasets(), ids=lambda x: x if isinstance(x, str) else "")
def test_icc_equals_pingouin(form, name, data):
    res = icc(data, *form)
    for feature in range(data.shape[2]):
        x = data[:, :, feature]
        # pingouin sums raw squares: on data with a large common offset (1e6, or 3 + 1e-6 noise)
        # its own rounding error reaches 1e-9 (see test_ill_conditioned_data_is_exact). Every ICC
        # is invariant to a common shift, and subtracting the offset here is exact in floating
        # point (Sterbenz), so pingouin is given the same ratings without the offset.
        shift = np.round(np.median(x)) if ("offset" in name or "near-constant" in name) else 0.0
        ref = pingouin_table(x - shift).loc[FORMS[form]]
        np.testing.assert_allclose(res.value[feature], ref["ICC"], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(res.f[feature], ref["F"], rtol=1e-10)
        assert res.df1[feature] == ref["df1"] and res.df2[feature] == ref["df2"]
        np.testing.assert_allclose(res.p[feature], ref["pval"], rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose([res.ci_low[feature], res.ci_high[feature]], ref["CI95"], rtol=1e-10, atol=1e-10)


def _exact_mean_squares(x: np.ndarray) -> tuple[Fraction, Fraction, Fraction, Fraction]:
    """MS_R, MS_C, MS_E, MS_W in exact rational arithmetic from the float ratings."""
    n, k = x.shape
    v = [[Fraction(float(a)) for a in row] for row in x]
    grand = sum(map(sum, v)) / (n * k)
    ss_r = k * sum((sum(row) / k - grand) ** 2 for row in v)
    ss_c = n * sum((sum(v[i][j] for i in range(n)) / n - grand) ** 2 for j in range(k))
    ss_t = sum((a - grand) ** 2 for row in v for a in row)
    ss_e = ss_t - ss_r - ss_c
    return ss_r / (n - 1), ss_c / (k - 1), ss_e / ((n - 1) * (k - 1)), (ss_c + ss_e) / (n * (k - 1))


@pytest.mark.parametrize("name,data", [d for d in awkward_datasets() if "offset" in d[0] or "near" in d[0]],
                         ids=lambda x: x if isinstance(x, str) else "")
def test_ill_conditioned_data_is_exact(name, data):
    """With offsets of 1e6 or near-constant features, F and ICC match exact arithmetic to 1e-13."""
    n, k = data.shape[:2]
    one_way, agreement = icc(data, "oneway"), icc(data, "twoway", "agreement")
    for feature in range(data.shape[2]):
        ms_r, ms_c, ms_e, ms_w = _exact_mean_squares(data[:, :, feature])
        np.testing.assert_allclose(one_way.f[feature], float(ms_r / ms_w), rtol=1e-13)
        np.testing.assert_allclose(agreement.f[feature], float(ms_r / ms_e), rtol=1e-13)
        exact = (ms_r - ms_e) / (ms_r + (k - 1) * ms_e + Fraction(k, n) * (ms_c - ms_e))
        np.testing.assert_allclose(agreement.value[feature], float(exact), rtol=1e-13, atol=1e-15)


def test_shrout_fleiss_textbook_values():
    # Shrout and Fleiss (1979), Table 2: ICC(1,1)=.17, ICC(2,1)=.29, ICC(3,1)=.71,
    # ICC(1,4)=.44, ICC(2,4)=.62, ICC(3,4)=.91.
    x = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)
    expected = [0.17, 0.29, 0.71, 0.44, 0.62, 0.91]
    got = [float(icc(x, *form).value) for form in FORMS]
    np.testing.assert_allclose(got, expected, atol=0.005)


def test_one_feature_gives_scalars_and_frame():
    x = np.random.default_rng(0).normal(size=(10, 2))
    res = icc(x)
    assert res.value.shape == () and res.form == "ICC(A,1)" and res.shrout_fleiss == "ICC(2,1)"
    frame = icc(np.stack([x, 2 * x], axis=-1)).to_frame(["a", "b"])
    assert list(frame.index) == ["a", "b"]
    assert {"value", "f", "df1", "df2", "p", "ci_low", "ci_high"} <= set(frame.columns)


def test_degenerate_feature_is_nan_and_flagged():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 3, 3))
    x[:, :, 1] = 7.25
    res = icc(x)
    assert res.degenerate.tolist() == [False, True, False]
    assert np.isnan(res.value[1]) and np.isnan(res.ci_low[1]) and np.isfinite(res.value[[0, 2]]).all()


def test_nan_policies():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(12, 2, 3))
    x[3, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"non-finite value.*index \(3, 1, 0\)"):
        icc(x)
    omit = icc(x, nan_policy="omit")
    dropped = icc(np.delete(x[:, :, 0], 3, axis=0))
    assert omit.n_targets.tolist() == [11, 12, 12]
    np.testing.assert_allclose(omit.value[0], dropped.value, rtol=1e-12)
    np.testing.assert_allclose(omit.value[1:], icc(x[:, :, 1:]).value, rtol=1e-12)
    prop = icc(x, nan_policy="propagate")
    assert np.isnan(prop.value[0]) and np.isfinite(prop.value[1:]).all()


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"ratings": np.zeros(5)}, "2-D .* or 3-D"),
        ({"ratings": np.zeros((2, 2, 2, 2))}, "got 4-D"),
        ({"ratings": np.ones((1, 3))}, "at least 2 targets and 2 raters"),
        ({"ratings": np.ones((5, 1))}, "at least 2 targets and 2 raters"),
        ({"ratings": np.ones((5, 2)), "model": "threeway"}, "unknown model 'threeway'"),
        ({"ratings": np.ones((5, 2)), "type": "absolute"}, "unknown type 'absolute'"),
        ({"ratings": np.ones((5, 2)), "unit": "mean"}, "unknown unit 'mean'"),
        ({"ratings": np.ones((5, 2)), "nan_policy": "drop"}, "unknown nan_policy 'drop'"),
        ({"ratings": [["a", "b"], ["c", "d"]]}, "ratings must be numeric"),
        ({"ratings": np.array([[1.0, np.inf], [2.0, 3.0]])}, "non-finite"),
    ],
)
def test_bad_input_names_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        icc(**kwargs)


ratings_3d = arrays(
    np.float64,
    st.tuples(st.integers(3, 8), st.integers(2, 4), st.integers(1, 3)),
    elements=st.floats(-100, 100, allow_nan=False, width=32),
)


@settings(max_examples=60, deadline=None)
@given(ratings_3d, st.randoms(use_true_random=False))
def test_invariant_to_permuting_targets(x, rnd):
    perm = list(range(x.shape[0]))
    rnd.shuffle(perm)
    for form in FORMS:
        a, b = icc(x, *form), icc(x[perm], *form)
        np.testing.assert_allclose(a.value, b.value, rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(a.degenerate, b.degenerate)


# Integer-valued ratings: x + offset is then exact, whereas a variation of 1e-38 (or 6e-5)
# vanishes when 1000 is added in floating point and the "same" data become constant.
integer_ratings_3d = arrays(
    np.float64,
    st.tuples(st.integers(3, 8), st.integers(2, 4), st.integers(1, 3)),
    elements=st.integers(-100, 100).map(float),
)


@settings(max_examples=60, deadline=None)
@given(integer_ratings_3d, st.integers(1000, 10000).map(float))
def test_consistency_ignores_rater_offsets_agreement_does_not(x, shift):
    # Offsets much larger than the data (|x| <= 100) so that they dominate the rater variance.
    offsets = shift * np.arange(x.shape[1])[None, :, None]
    for unit in ("single", "average"):
        c0, c1 = icc(x, "twoway", "consistency", unit), icc(x + offsets, "twoway", "consistency", unit)
        np.testing.assert_allclose(c0.value, c1.value, rtol=1e-7, atol=1e-7)
        a0, a1 = icc(x, "twoway", "agreement", unit), icc(x + offsets, "twoway", "agreement", unit)
        ok = ~a0.degenerate & ~a1.degenerate & (np.abs(c0.value) > 1e-6)
        assert np.all(np.abs(a1.value[ok] - a0.value[ok]) > 1e-9)
        if unit == "single":
            # MS_R and MS_E do not move and the denominator stays positive while MS_C grows:
            # ICC(A,1) is pulled towards 0 from either side.
            assert np.all(np.abs(a1.value[ok]) < np.abs(a0.value[ok]))
            assert np.all(np.sign(a1.value[ok]) == np.sign(a0.value[ok]))


@settings(max_examples=60, deadline=None)
@given(ratings_3d)
def test_average_is_spearman_brown_of_single(x):
    k = x.shape[1]
    for model, type_ in (("oneway", "agreement"), ("twoway", "consistency")):
        single = icc(x, model, type_, "single").value
        average = icc(x, model, type_, "average").value
        np.testing.assert_allclose(average, k * single / (1 + (k - 1) * single), rtol=1e-7, atol=1e-7)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_agreement_interval_near_zero_satterthwaite_df_reaches_its_limit():
    # ICC(A,1) = -1/7 (+ d) with n = 3, k = 2, MS_C / MS_E = 10 puts Satterthwaite's v near 0,
    # where the F quantile F_U overflows; both bounds tend to -n MS_E / (k MS_C + (kn-k-n) MS_E).
    from robustlab.common.stats.icc import _agreement_interval

    n, ms_r, ms_c, ms_e = np.array([3.0]), np.array([2.0]), np.array([10.0]), np.array([1.0])
    limit = -3.0 / (2 * 10.0 + (6 - 2 - 3) * 1.0)
    for d in (1e-6, 1e-12):
        lo, hi = _agreement_interval(np.array([-1 / 7 + d]), ms_r, ms_c, ms_e, n, 2, 0.05)
        np.testing.assert_allclose([lo[0], hi[0]], [limit, limit], rtol=1e-5)
