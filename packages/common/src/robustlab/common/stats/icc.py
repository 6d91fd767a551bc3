"""Intraclass correlation coefficients, vectorized over features."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from robustlab.common.errors import DataError
from robustlab.common.stats._distributions import f_ppf, f_sf
from robustlab.common.stats._validation import (
    as_float_array,
    check_alpha,
    check_choice,
    check_finite,
    power_of_two_scale,
)

if TYPE_CHECKING:  # pandas and SciPy load when a function needs them: imports stay light
    import pandas as pd

MODELS = ("oneway", "twoway")
TYPES = ("agreement", "consistency")
UNITS = ("single", "average")


@dataclass(frozen=True)
class ICCResult:
    """One ICC form per feature. Array fields have one entry per feature (0-d for one feature).

    Attributes:
        form: McGraw-Wong name, e.g. ``"ICC(A,1)"``.
        shrout_fleiss: the Shrout-Fleiss name of the same form, e.g. ``"ICC(2,1)"``.
        value: the coefficient (NaN where ``degenerate``).
        f: the F statistic of the test against 0, :math:`MS_R / MS_W` in the one-way model and
            :math:`MS_R / MS_E` in the two-way models.
        df1: its numerator degrees of freedom, :math:`n - 1`.
        df2: its denominator degrees of freedom, :math:`n (k - 1)` (one-way) or
            :math:`(n - 1)(k - 1)` (two-way).
        p: the one-sided p-value of that test, :math:`P(F_{df_1, df_2} > f)`.
        ci_low: the lower bound of the ``1 - alpha`` confidence interval (McGraw and Wong's
            exact F interval; Satterthwaite's degrees of freedom for the agreement forms).
        ci_high: the upper bound of that interval.
        n_targets: targets used per feature (fewer than given under ``nan_policy="omit"``).
        degenerate: True where the feature is constant over every rating, is left with fewer
            than two targets, or its coefficient is undefined on these data (0/0); value is NaN.
        alpha: the interval's level is ``1 - alpha``.
    """

    form: str
    shrout_fleiss: str
    value: np.ndarray
    f: np.ndarray
    df1: np.ndarray
    df2: np.ndarray
    p: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_targets: np.ndarray
    degenerate: np.ndarray
    alpha: float = field(default=0.05)

    def to_frame(self, features: Iterable[Any] | None = None) -> pd.DataFrame:
        """A tidy table, one row per feature (``features`` names them; default 0..p-1)."""
        value = np.atleast_1d(self.value)
        import pandas as pd

        index = pd.Index(range(value.size) if features is None else list(features), name="feature")
        if len(index) != value.size:
            raise DataError(f"got {len(index)} feature names for {value.size} features")
        cols = {
            name: np.atleast_1d(getattr(self, name))
            for name in ("value", "f", "df1", "df2", "p", "ci_low", "ci_high", "n_targets", "degenerate")
        }
        df = pd.DataFrame(cols, index=index)
        df.insert(0, "form", self.form)
        return df


def icc(
    ratings: object,
    model: str = "twoway",
    type: str = "agreement",  # noqa: A002 - the name follows R's irr::icc
    unit: str = "single",
    alpha: float = 0.05,
    nan_policy: str = "raise",
) -> ICCResult:
    r"""Intraclass correlation coefficient of ``n`` targets rated by ``k`` raters, per feature.

    Argument names and values follow R's ``irr::icc``. The six forms of McGraw and Wong (1996)
    and their Shrout and Fleiss (1979) names:

    ========  =============  ===========  ==================  =================
    model     type           unit         McGraw-Wong         Shrout-Fleiss
    ========  =============  ===========  ==================  =================
    oneway    (any)          single       ICC(1)              ICC(1,1)
    twoway    agreement      single       ICC(A,1)            ICC(2,1)
    twoway    consistency    single       ICC(C,1)            ICC(3,1)
    oneway    (any)          average      ICC(1,k)            ICC(1,k)
    twoway    agreement      average      ICC(A,k)            ICC(2,k)
    twoway    consistency    average      ICC(C,k)            ICC(3,k)
    ========  =============  ===========  ==================  =================

    From the two-way ANOVA without replication, with mean squares for targets (rows)
    :math:`MS_R`, raters (columns) :math:`MS_C`, residual :math:`MS_E` and within targets
    :math:`MS_W = (SS_C + SS_E) / (n (k - 1))`:

    .. math::

        ICC(1) = \frac{MS_R - MS_W}{MS_R + (k-1) MS_W}, \qquad
        ICC(A,1) = \frac{MS_R - MS_E}{MS_R + (k-1) MS_E + \frac{k}{n}(MS_C - MS_E)}, \qquad
        ICC(C,1) = \frac{MS_R - MS_E}{MS_R + (k-1) MS_E},

        ICC(1,k) = \frac{MS_R - MS_W}{MS_R}, \qquad
        ICC(A,k) = \frac{MS_R - MS_E}{MS_R + \frac{MS_C - MS_E}{n}}, \qquad
        ICC(C,k) = \frac{MS_R - MS_E}{MS_R}.

    The F test against 0 is :math:`F = MS_R / MS_W` on :math:`(n-1, n(k-1))` degrees of
    freedom for the one-way model and :math:`F = MS_R / MS_E` on :math:`(n-1, (n-1)(k-1))`
    for the two-way models. Confidence intervals are McGraw and Wong's exact F intervals
    (Satterthwaite's approximate degrees of freedom for ICC(A,1), and its Spearman-Brown
    step-up for ICC(A,k)), as in ``irr::icc`` and ``pingouin.intraclass_corr``.

    Args:
        ratings: ``(n_targets, k_raters)`` or ``(n_targets, k_raters, n_features)``; the last
            axis is the feature axis.
        model: ``"oneway"`` or ``"twoway"``.
        type: ``"agreement"`` or ``"consistency"`` (ignored by the one-way model).
        unit: ``"single"`` or ``"average"`` (the mean of the ``k`` ratings).
        alpha: the confidence interval has level ``1 - alpha``.
        nan_policy: ``"raise"`` on a missing rating, ``"omit"`` to drop, per feature, the targets
            with any missing rating, or ``"propagate"`` to return NaN for that feature.

    Returns:
        :class:`ICCResult`. A feature constant over all ratings, or left with fewer than two
        targets after ``omit``, gives NaN and ``degenerate=True``; never an exception.

    References:
        McGraw KO, Wong SP (1996). Forming inferences about some intraclass correlation
        coefficients. Psychological Methods 1(1):30-46.
        Shrout PE, Fleiss JL (1979). Intraclass correlations: uses in assessing rater
        reliability. Psychological Bulletin 86(2):420-428.
        Koo TK, Li MY (2016). J Chiropr Med 15(2):155-163 (choice and reporting).

    Example:
        >>> import numpy as np
        >>> ratings = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6],
        ...                     [10, 5, 6, 9], [6, 2, 4, 7]], dtype=float)
        >>> round(float(icc(ratings, "twoway", "agreement").value), 4)  # Shrout-Fleiss data
        0.2898
    """
    check_choice("model", model, MODELS)
    check_choice("type", type, TYPES)
    check_choice("unit", unit, UNITS)
    check_alpha(alpha)
    x = as_float_array(ratings, "ratings")
    if x.ndim not in (2, 3):
        raise DataError(
            "ratings must be 2-D (n_targets, k_raters) or 3-D (n_targets, k_raters, n_features); "
            f"got {x.ndim}-D with shape {x.shape}"
        )
    single_feature = x.ndim == 2
    if single_feature:
        x = x[:, :, None]
    n_all, k, _ = x.shape
    if n_all < 2 or k < 2:
        raise DataError(f"ICC needs at least 2 targets and 2 raters; got shape {x.shape[:2]}")
    check_finite(x, "ratings", nan_policy)
    x = power_of_two_scale(x, axis=(0, 1))  # ICC is scale-invariant; the squares below are not

    # Targets usable per feature: every rating finite ("omit"); all targets otherwise.
    valid = np.all(np.isfinite(x), axis=1)  # (n, p)
    if nan_policy != "omit":
        valid = np.ones_like(valid)
    w = valid[:, None, :]
    n = valid.sum(axis=0).astype(np.float64)  # (p,)
    xz = np.where(w, x, 0.0)

    with np.errstate(divide="ignore", invalid="ignore"):
        grand = xz.sum(axis=(0, 1)) / (n * k)
        dev = np.where(w, x - grand, 0.0)  # centring first keeps offsets of 1e6 exact enough
        row_dev = dev.mean(axis=1)  # (n, p): target mean - grand mean
        col_dev = dev.sum(axis=0) / n  # (k, p): rater mean - grand mean
        resid = np.where(w, dev - row_dev[:, None, :] - col_dev[None, :, :], 0.0)
        ss_total = np.sum(dev**2, axis=(0, 1))
        ss_rows = k * np.sum(row_dev**2, axis=0)
        ss_cols = n * np.sum(col_dev**2, axis=0)
        ss_err = np.sum(resid**2, axis=(0, 1))  # summed directly, not SS_T - SS_R - SS_C
        # Sums of squares at the level of rounding error of SS_T are zero: without this, a
        # feature whose only variation is a rater offset would get an ICC out of rounding noise.
        noise = 64 * np.finfo(np.float64).eps * ss_total
        ss_rows, ss_cols, ss_err = (np.where(a <= noise, 0.0, a) for a in (ss_rows, ss_cols, ss_err))

        df_r, df_c, df_e, df_w = n - 1, k - 1.0, (n - 1) * (k - 1), n * (k - 1)
        ms_r, ms_c, ms_e = ss_rows / df_r, ss_cols / df_c, ss_err / df_e
        ms_w = (ss_cols + ss_err) / df_w

        if model == "oneway" or type == "consistency":
            # ICC(1), ICC(1,k), ICC(C,1), ICC(C,k): MS_R against one error mean square (MS_W in
            # the one-way model, MS_E for consistency) with the exact F interval.
            ms_x, df2 = (ms_w, df_w) if model == "oneway" else (ms_e, df_e)
            f_stat, df1 = ms_r / ms_x, df_r
            f_lo = f_stat / f_ppf(1 - alpha / 2, df1, df2)
            f_hi = f_stat * f_ppf(1 - alpha / 2, df2, df1)
            if unit == "single":
                value = (ms_r - ms_x) / (ms_r + (k - 1) * ms_x)
                lo, hi = (f_lo - 1) / (f_lo + k - 1), (f_hi - 1) / (f_hi + k - 1)
            else:
                value = (ms_r - ms_x) / ms_r
                lo, hi = 1 - 1 / f_lo, 1 - 1 / f_hi
        else:
            f_stat, df1, df2 = ms_r / ms_e, df_r, df_e
            icc_a1 = (ms_r - ms_e) / _denominator(ms_r + (k - 1) * ms_e + k * (ms_c - ms_e) / n,
                                                  ms_r + (k - 1) * ms_e + k * (ms_c + ms_e) / n)
            lo, hi = _agreement_interval(icc_a1, ms_r, ms_c, ms_e, n, k, alpha)
            if unit == "single":
                value = icc_a1
            else:
                value = (ms_r - ms_e) / _denominator(ms_r + (ms_c - ms_e) / n, ms_r + (ms_c + ms_e) / n)
                lo, hi = k * lo / (1 + (k - 1) * lo), k * hi / (1 + (k - 1) * hi)
        p = f_sf(f_stat, df1, df2)

        constant = np.max(np.where(w, x, -np.inf), axis=(0, 1)) == np.min(np.where(w, x, np.inf), axis=(0, 1))
        missing = ~np.all(np.isfinite(x), axis=(0, 1)) if nan_policy == "propagate" else np.zeros_like(n, bool)
        # Degenerate: constant, too few targets, or a coefficient undefined on these data (0/0).
        degenerate = (constant | (n < 2) | ~np.isfinite(value)) & ~missing
        arrays = [value, f_stat, df1, df2, p, lo, hi]
        arrays = [np.where(degenerate | missing, np.nan, a) for a in arrays]

    form, sf = _form_names(model, type, unit)
    squeeze = (lambda a: a[0]) if single_feature else (lambda a: a)
    value, f_stat, df1, df2, p, lo, hi = (squeeze(np.asarray(a, dtype=np.float64)) for a in arrays)
    return ICCResult(
        form, sf, value, f_stat, df1, df2, p, lo, hi,
        n_targets=squeeze(n.astype(np.int64)),
        degenerate=squeeze(degenerate),
        alpha=alpha,
    )


def _denominator(value: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """An agreement form's denominator, 0 where it is round-off of terms of size ``scale``.

    ``MS_R + (MS_C - MS_E)/n`` is exactly 0 on some data (e.g. ratings ``[[1, 0], [0, 1],
    [0, 0]]``); computed, it is 1e-17 or -1e-17 depending on the order of the sums, and
    ICC(A,k) came out as +-1e16 instead of undefined. Below ``64 eps`` of the sum of the
    terms' sizes the denominator is taken as 0, and the coefficient is undefined (NaN).
    """
    return np.where(np.abs(value) <= 64 * np.finfo(np.float64).eps * scale, 0.0, value)


def _agreement_interval(
    icc_a1: np.ndarray, ms_r: np.ndarray, ms_c: np.ndarray, ms_e: np.ndarray,
    n: np.ndarray, k: int, alpha: float,
) -> tuple[np.ndarray, np.ndarray]:
    """McGraw and Wong's (1996) interval for ICC(A,1), Satterthwaite degrees of freedom."""
    f_j = ms_c / ms_e
    v_num = (k - 1) * (n - 1) * (k * icc_a1 * f_j + n * (1 + (k - 1) * icc_a1) - k * icc_a1) ** 2
    v_den = (n - 1) * k**2 * icc_a1**2 * f_j**2 + (n * (1 + (k - 1) * icc_a1) - k * icc_a1) ** 2
    v = v_num / v_den
    f_u = f_ppf(1 - alpha / 2, n - 1, v)
    f_l = f_ppf(1 - alpha / 2, v, n - 1)
    # McGraw and Wong's lower bound n (MS_R - F_U MS_E) / (F_U (k MS_C + (kn - k - n) MS_E) + n MS_R),
    # divided through by F_U: with few Satterthwaite degrees of freedom F_U reaches 1e300 and
    # F_U MS_C overflows, where this form tends to its limit -n MS_E / (k MS_C + (kn - k - n) MS_E).
    lo = n * (ms_r / f_u - ms_e) / (k * ms_c + (k * n - k - n) * ms_e + n * ms_r / f_u)
    hi = n * (f_l * ms_r - ms_e) / (k * ms_c + (k * n - k - n) * ms_e + n * f_l * ms_r)
    return lo, hi


def _form_names(model: str, type_: str, unit: str) -> tuple[str, str]:
    one = unit == "single"
    if model == "oneway":
        return ("ICC(1)", "ICC(1,1)") if one else ("ICC(1,k)", "ICC(1,k)")
    if type_ == "agreement":
        return ("ICC(A,1)", "ICC(2,1)") if one else ("ICC(A,k)", "ICC(2,k)")
    return ("ICC(C,1)", "ICC(3,1)") if one else ("ICC(C,k)", "ICC(3,k)")
