"""Lin's concordance correlation coefficient, vectorized over features."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from robustlab.common.errors import DataError
from robustlab.common.stats._distributions import norm_ppf
from robustlab.common.stats._tables import per_feature_frame
from robustlab.common.stats._validation import (
    as_float_array,
    check_alpha,
    check_finite,
    power_of_two_scale,
)

if TYPE_CHECKING:  # pandas and SciPy load when a function needs them: imports stay light
    import pandas as pd


@dataclass(frozen=True)
class CCCResult:
    """Lin's CCC per feature (0-d arrays for one feature).

    Attributes:
        value: the coefficient :math:`\\rho_c`.
        ci_low, ci_high: the ``1 - alpha`` interval (z-transform, as DescTools::CCC).
        pearson: Pearson's r, the precision component; ``value / pearson`` is the accuracy C_b.
        n: pairs used per feature.
        degenerate: True where either variable is constant (value NaN).
    """

    value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    pearson: np.ndarray
    n: np.ndarray
    degenerate: np.ndarray
    alpha: float = 0.05

    def to_frame(self, features: Iterable[Any] | None = None) -> pd.DataFrame:
        """A tidy table, one row per feature."""
        return per_feature_frame(self, ("value", "ci_low", "ci_high", "pearson", "n", "degenerate"), features)


def ccc(x: object, y: object, alpha: float = 0.05, nan_policy: str = "raise") -> CCCResult:
    r"""Lin's concordance correlation coefficient between paired measurements, per feature.

    .. math::

        \rho_c = \frac{2 s_{xy}}{s_x^2 + s_y^2 + (\bar x - \bar y)^2}

    with variances and covariance taken with divisor :math:`n` (Lin 1989). The interval is
    the one of ``DescTools::CCC(ci = "z-transform")`` (Lin 1989; corrected in Lin 2000): with
    Pearson's :math:`r` and the location shift :math:`u = (\bar y - \bar x)/\sqrt{s_x s_y}`,

    .. math::

        \sigma^2_{\rho_c} = \frac{1}{n-2}\left[\frac{(1-r^2)\rho_c^2(1-\rho_c^2)}{r^2}
            + \frac{2\rho_c^3(1-\rho_c)u^2}{r} - \frac{\rho_c^4 u^4}{2 r^2}\right],

    :math:`z = \operatorname{artanh}\rho_c`, :math:`\sigma_z = \sigma_{\rho_c} / (1-\rho_c^2)`,
    and the interval is :math:`\tanh(z \pm z_{1-\alpha/2}\,\sigma_z)`.

    Args:
        x: ``(n,)`` or ``(n, n_features)``; rows are targets.
        y: the same shape as ``x``; row ``i`` is paired with row ``i`` of ``x``.
        alpha: the interval has level ``1 - alpha``.
        nan_policy: ``"raise"``, ``"omit"`` (drop pairs with a missing value, per feature) or
            ``"propagate"``.

    Returns:
        :class:`CCCResult`; a constant variable gives NaN and ``degenerate=True``.

    References:
        Lin LI-K (1989). A concordance correlation coefficient to evaluate reproducibility.
        Biometrics 45:255-268. Lin LI-K (2000). A note on the concordance correlation
        coefficient. Biometrics 56:324-325.

    Example:
        >>> import numpy as np
        >>> round(float(ccc([1.0, 2.0, 3.0, 4.0], [1.1, 2.0, 2.9, 4.2]).value), 4)
        0.9918
    """
    check_alpha(alpha)
    xa, ya = as_float_array(x, "x"), as_float_array(y, "y")
    if xa.ndim not in (1, 2) or ya.ndim not in (1, 2):
        raise DataError(f"x and y must be 1-D or 2-D (n, n_features); got {xa.ndim}-D and {ya.ndim}-D")
    if xa.shape != ya.shape:
        raise DataError(f"x and y must have the same shape (paired values); got {xa.shape} and {ya.shape}")
    single = xa.ndim == 1
    if single:
        xa, ya = xa[:, None], ya[:, None]
    if xa.shape[0] < 3:
        raise DataError(f"CCC needs at least 3 pairs for its interval; got {xa.shape[0]}")
    check_finite(xa, "x", nan_policy)
    check_finite(ya, "y", nan_policy)
    # CCC is invariant to one scale for both variables (not to a scale for each): x and y
    # share their power of two, so the squares below neither overflow nor underflow.
    both = power_of_two_scale(np.stack([xa, ya]), axis=(0, 1))
    xa, ya = both[0], both[1]

    valid = np.isfinite(xa) & np.isfinite(ya)
    if nan_policy != "omit":
        valid = np.ones_like(valid)
    n = valid.sum(axis=0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mx = np.where(valid, xa, 0).sum(0) / n
        my = np.where(valid, ya, 0).sum(0) / n
        dx = np.where(valid, xa - mx, 0.0)
        dy = np.where(valid, ya - my, 0.0)
        sx2, sy2, sxy = (dx**2).sum(0) / n, (dy**2).sum(0) / n, (dx * dy).sum(0) / n
        r = sxy / np.sqrt(sx2 * sy2)
        rho = 2 * sxy / (sx2 + sy2 + (mx - my) ** 2)
        u = (my - mx) / (sx2 * sy2) ** 0.25
        var = (
            (1 - r**2) * rho**2 * (1 - rho**2) / r**2
            + 2 * rho**3 * (1 - rho) * u**2 / r
            - 0.5 * rho**4 * u**4 / r**2
        ) / (n - 2)
        se_z = np.sqrt(var) / (1 - rho**2)
        z = np.arctanh(rho)
        q = norm_ppf(1 - alpha / 2)
        lo, hi = np.tanh(z - q * se_z), np.tanh(z + q * se_z)

    degenerate = (np.where(valid, xa, np.inf).min(0) == np.where(valid, xa, -np.inf).max(0)) | (
        np.where(valid, ya, np.inf).min(0) == np.where(valid, ya, -np.inf).max(0)
    ) | (n < 3)
    out = [np.where(degenerate, np.nan, a) for a in (rho, lo, hi, r)]
    if nan_policy == "propagate":
        missing = ~np.all(np.isfinite(xa) & np.isfinite(ya), axis=0)
        out = [np.where(missing, np.nan, a) for a in out]
        degenerate &= ~missing
    squeeze = (lambda a: a[0]) if single else (lambda a: a)
    value, low, high, pearson = (squeeze(a) for a in out)
    return CCCResult(value, low, high, pearson, n=squeeze(n.astype(np.int64)),
                     degenerate=squeeze(degenerate), alpha=alpha)
