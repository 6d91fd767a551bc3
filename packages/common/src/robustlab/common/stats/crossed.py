"""The mean of a crossed array (rows x columns, e.g. seeds x images) with a two-way variance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robustlab.common.errors import DataError
from robustlab.common.stats._validation import as_float_array, check_alpha, check_choice


@dataclass(frozen=True)
class CrossedMeanResult:
    """Per entry of the trailing axes: the mean of the finite cells and its inference.

    ``var_rows`` and ``var_cols`` are the two terms of the variance (``standard_error**2`` is
    their sum); ``n_rows`` and ``n_cols`` count the rows and columns holding a finite cell.
    """

    estimate: np.ndarray
    standard_error: np.ndarray
    df: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_cells: np.ndarray
    n_rows: np.ndarray
    n_cols: np.ndarray
    var_rows: np.ndarray
    var_cols: np.ndarray
    alpha: float

    def interval(self, alpha: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The two-sided interval of level ``1 - alpha`` (``alpha`` broadcast over the entries)."""
        from scipy import stats

        half = stats.t.ppf(1 - np.asarray(alpha, dtype=np.float64) / 2, self.df) * self.standard_error
        return self.estimate - half, self.estimate + half

    def lower_bound(self, alpha: float | np.ndarray) -> np.ndarray:
        """The one-sided lower confidence bound of level ``1 - alpha`` (``alpha`` broadcast over
        the entries, e.g. the Holm level of each hypothesis)."""
        from scipy import stats

        return self.estimate - stats.t.ppf(1 - np.asarray(alpha, dtype=np.float64), self.df) * self.standard_error


def crossed_mean(values: object, alpha: float = 0.05, null: float | np.ndarray = 0.0,
                 alternative: str = "two-sided") -> CrossedMeanResult:
    r"""Mean of a rows x columns crossed array with a variance that counts both factors.

    ``values[r, c]`` is one observation of row ``r`` (a training seed) and column ``c`` (an
    image): every row scores the same columns, so rows and columns are *crossed* random factors,
    and the mean varies with the draw of either (treating columns as fixed is Clark's 1973
    "language-as-fixed-effect fallacy"; nesting columns in rows, as a hierarchical bootstrap does,
    drops the column term that every row shares). NaN marks a missing cell.

    With :math:`F` finite cells, :math:`\bar y` their mean, residuals :math:`e_{rc} = y_{rc} -
    \bar y` (0 where missing), row sums :math:`R_r = \sum_c e_{rc}`, column sums :math:`C_c =
    \sum_r e_{rc}`, and :math:`R', C'` the rows and columns holding a finite cell:

    .. math::

        \widehat{\mathrm{Var}}(\bar y) = \underbrace{\frac{R'}{R'-1}\frac{\sum_r R_r^2}{F^2}}_{\text{rows}}
        + \underbrace{\frac{C'}{C'-1}\frac{\sum_c C_c^2}{F^2}}_{\text{columns}},

    the sum of the two one-way cluster-robust variances (Liang and Zeger 1986; Cameron, Gelbach
    and Miller 2011 subtract the cell term as well, which can make the sum negative). For a
    complete array under the crossed random-effects model :math:`y_{rc} = \mu + a_r + b_c +
    e_{rc}` the two terms are the ANOVA mean squares, :math:`\mathrm{MS}_{rows}/(RC)` and
    :math:`\mathrm{MS}_{cols}/(RC)`, so (Searle, Casella and McCulloch 1992, ch. 4)

    .. math::

        E[\widehat{\mathrm{Var}}] = \frac{\sigma_a^2}{R} + \frac{\sigma_b^2}{C} + \frac{2\sigma_e^2}{RC}
        \quad\text{against}\quad \mathrm{Var}(\bar y) = \frac{\sigma_a^2}{R} + \frac{\sigma_b^2}{C}
        + \frac{\sigma_e^2}{RC}:

    the cell term is counted twice. That surplus is deliberate: with few rows (3 seeds) the row
    term rests on :math:`R-1` degrees of freedom, and the surplus holds the level for row effects
    up to the size ``bench/bench_sweetspot_level.py`` measures (beyond it, more rows are the
    remedy), where the unbiased :math:`(\mathrm{MS}_{rows} + \mathrm{MS}_{cols} -
    \mathrm{MS}_e)/(RC)`, whose row term is as noisy with half the cushion, does not. The
    pigeonhole bootstrap (Owen 2007: rows and columns resampled independently) has
    :math:`E[V^*] = (1-\tfrac1R)\tfrac{\sigma_a^2}{R} + (1-\tfrac1C)\tfrac{\sigma_b^2}{C} +
    [(1-\tfrac1R) + (1-\tfrac1C) + (1-\tfrac1R)(1-\tfrac1C)]\tfrac{\sigma_e^2}{RC}`: it counts
    the cell term almost three times, which costs power where rows differ little, and the row
    term short by a factor :math:`1 - 1/R`. With one row the variance is the column term alone,
    :math:`s^2/F`, and the inference is conditional on that row (for seeds: on that trained
    model).

    The statistic :math:`t = (\bar y - \text{null}) / \widehat{\mathrm{se}}` is referred to
    Student's t with :math:`C' - 1` degrees of freedom (the paired t-test when there is one
    row), two-sided or, with ``alternative="greater"``, for :math:`H_0: \mu \le \text{null}`;
    the interval is :math:`\bar y \pm t_{C'-1,\,1-\alpha/2}\,\widehat{\mathrm{se}}`. An
    entry with fewer than 2 columns has no variance: NaN. A zero variance gives p = 0 where the
    mean lies beyond ``null`` (on the tested side) and 1 where it does not.

    When to use: the mean of cells crossed by two random factors, each with at least 2 levels
    or exactly one row (then the inference is over columns only); for one factor,
    :func:`bootstrap_ci` or a t interval serve.

    Args:
        values: ``(n_rows, n_cols, ...)``; trailing axes are independent entries (curves, steps).
        alpha: the interval has level ``1 - alpha``.
        null: the value the p-value tests (broadcast over the trailing axes).
        alternative: ``"two-sided"`` or ``"greater"`` (one-sided, the mean above ``null``).

    Returns:
        :class:`CrossedMeanResult`, each field of the trailing shape.

    Raises:
        DataError: ``values`` has fewer than 2 axes or is not numeric.
        ConfigError: ``alpha`` is outside (0, 1), or ``alternative`` is not one of the two.

    References:
        Clark HH (1973). The language-as-fixed-effect fallacy. J Verbal Learn Verbal Behav
        12(4):335-359.
        Owen AB (2007). The pigeonhole bootstrap. Ann Appl Stat 1(2):386-411.
        Cameron AC, Gelbach JB, Miller DL (2011). Robust inference with multiway clustering.
        J Bus Econ Stat 29(2):238-249.
        Liang KY, Zeger SL (1986). Longitudinal data analysis using generalized linear models.
        Biometrika 73(1):13-22.
        Searle SR, Casella G, McCulloch CE (1992). Variance Components. Wiley.

    Validated against: ``statsmodels`` ``anova_lm`` of the additive two-way model (the two
    terms equal its mean squares over :math:`RC`) and ``scipy.stats.ttest_1samp`` for one row
    (``tests/common/test_crossed.py``).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> seeds, images = rng.normal(size=(3, 1)), rng.normal(size=(1, 200))
        >>> gain = 0.3 + 0.05 * seeds + images + rng.normal(size=(3, 200))  # 3 seeds x 200 images
        >>> res = crossed_mean(gain)
        >>> bool(res.ci_low < 0.3 < res.ci_high), int(res.df)
        (True, 199)
    """
    from scipy import stats  # imported here: importing the statistics stays light

    alpha = check_alpha(alpha)
    check_choice("alternative", alternative, ("two-sided", "greater"))
    y = as_float_array(values, "values")
    if y.ndim < 2:
        raise DataError(f"values must be (n_rows, n_cols, ...); got shape {y.shape}")
    finite = np.isfinite(y)
    n_cells = finite.sum(axis=(0, 1))
    n_rows = finite.any(axis=1).sum(axis=0)
    n_cols = finite.any(axis=0).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(finite, y, 0.0).sum(axis=(0, 1)) / n_cells
        resid = np.where(finite, y - mean, 0.0)
        var_rows = np.where(n_rows > 1, n_rows / (n_rows - 1) * (resid.sum(axis=1) ** 2).sum(axis=0)
                            / n_cells.astype(np.float64) ** 2, 0.0)
        var_cols = np.where(n_cols > 1, n_cols / (n_cols - 1) * (resid.sum(axis=0) ** 2).sum(axis=0)
                            / n_cells.astype(np.float64) ** 2, np.nan)
        se = np.sqrt(var_rows + var_cols)
        df = np.where(n_cols > 1, n_cols - 1, np.nan).astype(np.float64)
        if alternative == "greater":
            p = np.where(se > 0, stats.t.sf((mean - null) / se, df), np.where(mean > null, 0.0, 1.0))
        else:
            p = np.where(se > 0, 2 * stats.t.sf(np.abs(mean - null) / se, df), np.where(mean != null, 0.0, 1.0))
        half = stats.t.ppf(1 - alpha / 2, df) * se
    p = np.where(np.isfinite(se), p, np.nan)
    return CrossedMeanResult(estimate=mean, standard_error=se, df=df, p_value=p, ci_low=mean - half,
                             ci_high=mean + half, n_cells=n_cells, n_rows=n_rows, n_cols=n_cols,
                             var_rows=var_rows, var_cols=var_cols, alpha=float(alpha))
