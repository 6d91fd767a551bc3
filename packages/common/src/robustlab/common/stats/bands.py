"""Qualitative bands of reliability coefficients."""

from __future__ import annotations

import numpy as np

from robustlab.common.errors import ConfigError

BAND_NAMES = ("poor", "moderate", "good", "excellent")


def agreement_band(
    values: object, thresholds: tuple[float, float, float] = (0.5, 0.75, 0.9)
) -> np.ndarray:
    """Band of each value (Koo and Li 2016), with the boundaries of the phantom study.

    With cut points ``(t1, t2, t3)`` (default ``(0.5, 0.75, 0.9)``): poor ``v < t1``, moderate
    ``t1 <= v <= t2``, good ``t2 < v <= t3``, excellent ``v > t3``; NaN gives ``"undefined"``.
    The boundaries are those of the study's CCC script (ReliabilityRadiomicsIEOFC/PhantomStudy,
    RScripts/CCC_reproducibility_diff_vendors_same_field.R, lines 42-49: excellent ``> 0.9``,
    good ``> 0.75 & <= 0.9``, moderate ``>= 0.5 & <= 0.75``, poor ``< 0.5``), so that the band
    ``excellent`` is exactly the verdict "statistic > 0.9" of the same study: one rule, a value
    of exactly 0.9 is good in both.

    Args:
        values: any array of coefficients.
        thresholds: the three increasing cut points.

    Returns:
        An array of strings of the same shape.

    Reference:
        Koo TK, Li MY (2016). A guideline of selecting and reporting intraclass correlation
        coefficients for reliability research. J Chiropr Med 15(2):155-163.

    Example:
        >>> agreement_band([0.2, 0.5, 0.75, 0.9, 0.95, float("nan")]).tolist()
        ['poor', 'moderate', 'moderate', 'good', 'excellent', 'undefined']
    """
    t = np.asarray(thresholds, dtype=np.float64)
    if t.shape != (3,) or not np.all(np.diff(t) > 0):
        raise ConfigError(f"thresholds must be three increasing numbers; got {thresholds!r}")
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        idx = (v >= t[0]).astype(np.intp) + (v > t[1]) + (v > t[2])
    out = np.asarray(BAND_NAMES, dtype=object)[idx]
    out = np.where(np.isnan(v), "undefined", out)
    return out.astype(str)
