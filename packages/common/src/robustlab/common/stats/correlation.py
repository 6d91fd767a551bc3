"""Pearson and Spearman correlation between every column of one set and every column of another."""

from __future__ import annotations

import numpy as np

from robustlab.common.errors import DataError
from robustlab.common.stats._validation import (
    as_float_array,
    check_choice,
    check_finite,
    power_of_two_scale,
)


def _as_columns(a: object, name: str) -> np.ndarray:
    arr = as_float_array(a, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"{name} must be 1-D or 2-D (n_samples, n_features); got {arr.ndim}-D")
    return arr


def pearson_matrix(a: object, b: object | None = None, nan_policy: str = "raise") -> np.ndarray:
    r"""Pearson's r of every column of ``a`` against every column of ``b``.

    .. math:: r_{ij} = \frac{\sum_t (a_{ti}-\bar a_i)(b_{tj}-\bar b_j)}
                           {\sqrt{\sum_t (a_{ti}-\bar a_i)^2 \sum_t (b_{tj}-\bar b_j)^2}}

    Args:
        a: ``(n, p)`` (or ``(n,)``); rows are samples, columns features.
        b: ``(n, q)``; default ``a`` itself.
        nan_policy: ``"raise"`` or ``"propagate"`` (a column with a NaN gives NaN rows).

    Returns:
        ``(p, q)`` array; a constant column gives NaN (never 0).

    Reference:
        Pearson K (1895). Proc R Soc Lond 58:240-242.

    Example:
        >>> import numpy as np
        >>> pearson_matrix(np.array([[1., 2.], [2., 4.], [3., 7.]]), np.array([1., 2., 3.])).round(3)
        array([[1.   ],
               [0.993]])
    """
    check_choice("nan_policy", nan_policy, ("raise", "propagate"))
    x = _as_columns(a, "a")
    y = x if b is None else _as_columns(b, "b")
    if x.shape[0] != y.shape[0]:
        raise DataError(f"a and b must have the same number of rows; got {x.shape[0]} and {y.shape[0]}")
    if x.shape[0] < 2:
        raise DataError(f"correlation needs at least 2 samples; got {x.shape[0]}")
    check_finite(x, "a", nan_policy)
    check_finite(y, "b", nan_policy)
    # r is invariant to the scale of each column; scaled, the squares neither overflow nor underflow.
    x, y = power_of_two_scale(x, axis=0), power_of_two_scale(y, axis=0)
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        xs, ys = np.sqrt((xc**2).sum(0)), np.sqrt((yc**2).sum(0))
        r = (xc.T @ yc) / np.outer(xs, ys)
        const_x = np.ptp(x, axis=0) == 0
        const_y = np.ptp(y, axis=0) == 0
    r[const_x, :] = np.nan
    r[:, const_y] = np.nan
    return np.clip(r, -1.0, 1.0)


def spearman_matrix(a: object, b: object | None = None, nan_policy: str = "raise") -> np.ndarray:
    r"""Spearman's rho of every column of ``a`` against every column of ``b``.

    Pearson's r of the ranks (ties get their average rank), so equal to
    ``scipy.stats.spearmanr`` column by column.

    .. math:: \rho_{ij} = r\big(\operatorname{rank}(a_{\cdot i}), \operatorname{rank}(b_{\cdot j})\big)

    Reference:
        Spearman C (1904). Am J Psychol 15(1):72-101.

    Example:
        >>> import numpy as np
        >>> spearman_matrix(np.array([1., 2., 3., 4.]), np.array([1., 4., 9., 16.]))
        array([[1.]])
    """
    check_choice("nan_policy", nan_policy, ("raise", "propagate"))
    x = _as_columns(a, "a")
    y = x if b is None else _as_columns(b, "b")
    check_finite(x, "a", nan_policy)
    check_finite(y, "b", nan_policy)
    rx = _ranks(x)
    ry = rx if b is None else _ranks(y)
    return pearson_matrix(rx, ry, nan_policy="propagate")


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks of each column (ties share their mean rank); a column with a NaN is all NaN.

    The values of ``scipy.stats.rankdata(x, axis=0, nan_policy="propagate")``, computed by
    pandas' ranking (importing ``scipy.stats`` costs a command-line run about a second).
    """
    import pandas as pd

    ranks = pd.DataFrame(x).rank(axis=0, method="average").to_numpy(dtype=np.float64, copy=True)
    ranks[:, np.isnan(x).any(axis=0)] = np.nan
    return ranks
