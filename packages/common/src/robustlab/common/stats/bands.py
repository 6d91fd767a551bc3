"""Qualitative bands of reliability coefficients."""

from __future__ import annotations

import numpy as np

from robustlab.common.errors import ConfigError

BAND_NAMES = ("poor", "moderate", "good", "excellent")


def agreement_band(
    values: object, thresholds: tuple[float, float, float] = (0.5, 0.75, 0.9)
) -> np.ndarray:
    """Band of each value after Koo and Li (2016).

    ``poor < 0.5 <= moderate < 0.75 <= good < 0.9 <= excellent``; a boundary value belongs to
    the band above it, NaN gives ``"undefined"``.

    Args:
        values: any array of coefficients.
        thresholds: the three increasing cut points.

    Returns:
        An array of strings of the same shape.

    Reference:
        Koo TK, Li MY (2016). A guideline of selecting and reporting intraclass correlation
        coefficients for reliability research. J Chiropr Med 15(2):155-163.

    Example:
        >>> agreement_band([0.2, 0.5, 0.8, 0.95, float("nan")]).tolist()
        ['poor', 'moderate', 'good', 'excellent', 'undefined']
    """
    t = np.asarray(thresholds, dtype=np.float64)
    if t.shape != (3,) or not np.all(np.diff(t) > 0):
        raise ConfigError(f"thresholds must be three increasing numbers; got {thresholds!r}")
    v = np.asarray(values, dtype=np.float64)
    idx = np.searchsorted(t, v, side="right")
    out = np.asarray(BAND_NAMES, dtype=object)[np.minimum(idx, 3)]
    out = np.where(np.isnan(v), "undefined", out)
    return out.astype(str)
