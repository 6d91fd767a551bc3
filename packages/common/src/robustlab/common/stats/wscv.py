"""Within-subject coefficient of variation, vectorized over features (``agRee::agree.wscv``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from robustlab.common.stats._distributions import norm_ppf
from robustlab.common.stats._tables import per_feature_frame
from robustlab.common.stats._validation import (
    as_float_array,
    check_alpha,
    check_choice,
    check_finite,
)

if TYPE_CHECKING:  # pandas and SciPy load when a function needs them: imports stay light
    import pandas as pd

WSCV_METHODS = ("vst", "delta")


@dataclass(frozen=True)
class WSCVResult:
    """wCV per feature (0-d arrays for one feature).

    Attributes:
        value: the within-subject coefficient of variation :math:`\\hat\\theta` (a fraction:
            0.05 is 5 %).
        ci_low, ci_high: the ``1 - alpha`` interval (``method``).
        rho: the one-way intraclass correlation used by the interval.
        n, k: subjects and repeated measurements per subject used.
        method: ``"vst"`` or ``"delta"``.
    """

    value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    rho: np.ndarray
    n: int
    k: int
    method: str = "vst"
    alpha: float = 0.05

    def to_frame(self, features: Iterable[Any] | None = None) -> pd.DataFrame:
        """A tidy table, one row per feature."""
        return per_feature_frame(self, ("value", "ci_low", "ci_high", "rho"), features)


def wscv(ratings: object, alpha: float = 0.05, method: str = "vst",
         nan_policy: str = "raise") -> WSCVResult:
    r"""Within-subject coefficient of variation of repeated measurements, per feature.

    As ``agRee::agree.wscv`` (Feng 2020, after Shoukri, Elkum and Walter 2006). With :math:`n`
    subjects, :math:`k` measurements each, subject means :math:`\bar x_i` and grand mean
    :math:`\hat\mu = \frac1n\sum_i \bar x_i`:

    .. math::

        \mathrm{MSW} = \frac{\sum_{i,j}(x_{ij} - \bar x_i)^2}{n(k-1)}, \quad
        \mathrm{MSB} = \frac{k\sum_i(\bar x_i - \hat\mu)^2}{n-1}, \quad
        \hat\theta = \frac{\sqrt{\mathrm{MSW}}}{\hat\mu},

    and the one-way intraclass correlation
    :math:`\hat\rho = \frac{(n-1)\mathrm{MSB} - n\,\mathrm{MSW}}{(n-1)\mathrm{MSB} + n(k-1)\mathrm{MSW}}`.
    Intervals (:math:`z = z_{1-\alpha/2}`):

    - ``"delta"``: :math:`\hat\theta \pm z\sqrt{\frac{\hat\theta^4}{kn}(1 + \frac{k\hat\rho}{1-\hat\rho})
      + \frac{\hat\theta^2}{2n(k-1)}}`;
    - ``"vst"`` (variance-stabilising transform, agRee's default): with :math:`c = 2(1-1/k)(1 + k\rho^*)`,
      :math:`\rho^* = \hat\rho/(1-\hat\rho)`,
      :math:`f = \sqrt{(k-1)/2}\,\log\frac{\sqrt{1+c\hat\theta^2}-1}{\sqrt{1+c\hat\theta^2}+1}` and
      :math:`\xi_\pm = f \pm z/\sqrt n`, the bounds are
      :math:`\frac{2\exp(\xi/\sqrt{2(k-1)})}{\sqrt c\,(1 - \exp(\xi\sqrt{2/(k-1)}))}` at
      :math:`\xi_-` (lower) and :math:`\xi_+` (upper).

    The value is negative when the grand mean is (agRee does not guard against it either);
    a feature with a zero grand mean gives NaN.

    Args:
        ratings: ``(n_subjects, k)`` or ``(n_subjects, k, n_features)``; ``k >= 2``, ``n >= 2``.
        alpha: the interval has level ``1 - alpha``.
        method: ``"vst"`` or ``"delta"``.
        nan_policy: ``"raise"`` or ``"propagate"`` (a feature with a missing value gives NaN);
            agRee's ``NAaction = "omit"`` drops whole subjects: drop them before the call.

    Returns:
        :class:`WSCVResult`.

    References:
        Shoukri MM, Elkum N, Walter SD (2006). Interval estimation and optimal design for the
        within-subject coefficient of variation for continuous and binary variables. BMC Med
        Res Methodol 6:24. Feng D (2020). agRee: Various Methods for Measuring Agreement, R
        package version 0.5-3 (``agree.wscv``).

    Example:
        >>> round(float(wscv([[10.0, 11.0], [20.0, 19.0], [30.0, 33.0]]).value), 4)
        0.066
    """
    check_alpha(alpha)
    check_choice("method", method, WSCV_METHODS)
    check_choice("nan_policy", nan_policy, ("raise", "propagate"))
    x = as_float_array(ratings, "ratings")
    if x.ndim not in (2, 3):
        raise ValueError(f"ratings must be (n, k) or (n, k, n_features); got {x.ndim}-D")
    single = x.ndim == 2
    if single:
        x = x[..., None]
    n, k = x.shape[:2]
    if n < 2 or k < 2:
        raise ValueError(f"wCV needs at least 2 subjects and 2 measurements each; got {n} x {k}")
    check_finite(x, "ratings", nan_policy)
    with np.errstate(divide="ignore", invalid="ignore"):
        subject = x.mean(axis=1)
        mu = subject.mean(axis=0)
        msw = ((x - subject[:, None, :]) ** 2).sum(axis=(0, 1)) / (n * (k - 1))
        msb = k * ((subject - mu) ** 2).sum(axis=0) / (n - 1)
        theta = np.sqrt(msw) / mu
        rho = ((n - 1) * msb - n * msw) / ((n - 1) * msb + n * (k - 1) * msw)
        low, high = _interval(theta, rho, n, k, alpha, method)
    out = [np.where(mu == 0, np.nan, a) for a in (theta, low, high, rho)]
    squeeze = (lambda a: a[0]) if single else (lambda a: a)
    value, low, high, rho = (squeeze(a) for a in out)
    return WSCVResult(value, low, high, rho, n=n, k=k, method=method, alpha=alpha)


def _interval(theta: np.ndarray, rho: np.ndarray, n: int, k: int, alpha: float,
              method: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``1 - alpha`` bounds of agRee's ``wscv.delta`` or ``wscv.vst``."""
    z = norm_ppf(1 - alpha / 2)
    if method == "delta":
        sd = np.sqrt(theta**4 / (k * n) * (1 + k * rho / (1 - rho)) + theta**2 / (2 * n * (k - 1)))
        return theta - z * sd, theta + z * sd
    c = 2 * (1 - 1 / k) * (1 + k * rho / (1 - rho))
    root = np.sqrt(1 + c * theta**2)
    f = np.sqrt((k - 1) / 2) * np.log((root - 1) / (root + 1))

    def back(xi: np.ndarray) -> np.ndarray:
        return 2 * np.exp(xi * (2 * (k - 1)) ** -0.5) / (np.sqrt(c) * (1 - np.exp(xi * np.sqrt(2 / (k - 1)))))

    return back(f - z / np.sqrt(n)), back(f + z / np.sqrt(n))
