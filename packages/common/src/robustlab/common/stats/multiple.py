"""Multiple-comparison adjustment."""

from __future__ import annotations

import numpy as np

from robustlab.common.errors import DataError


def holm(p_values: object) -> np.ndarray:
    r"""Holm's (1979) step-down adjusted p-values (family-wise error control).

    With the :math:`m` finite p-values sorted, :math:`p_{(1)} \le \dots \le p_{(m)}`:
    :math:`\tilde p_{(i)} = \min\big(1, \max_{j \le i} (m - j + 1) p_{(j)}\big)`.
    NaN entries stay NaN and do not count in :math:`m`. Reject at level :math:`\alpha` where
    :math:`\tilde p \le \alpha`.

    Reference:
        Holm S (1979). A simple sequentially rejective multiple test procedure.
        Scand J Stat 6(2):65-70.

    Example:
        >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
        [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    flat, res = p.reshape(-1), out.reshape(-1)
    ok = np.flatnonzero(np.isfinite(flat))
    if ok.size == 0:
        return out
    if np.any((flat[ok] < 0) | (flat[ok] > 1)):
        raise DataError("p-values must lie in [0, 1]")
    order = ok[np.argsort(flat[ok], kind="stable")]
    m = order.size
    adj = np.maximum.accumulate((m - np.arange(m)) * flat[order])
    res[order] = np.minimum(adj, 1.0)
    return out
