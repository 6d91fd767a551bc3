"""Quantiles and tail probabilities of the F and normal distributions, from ``scipy.special``.

The values of ``scipy.stats.f.ppf``, ``scipy.stats.f.sf`` and ``scipy.stats.norm.ppf``, which
call these same functions, without importing ``scipy.stats`` (about a second of a command-line
run, more on a loaded machine). Outside the support ``scipy.stats`` answers as these do.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def f_ppf(q: Any, dfn: Any, dfd: Any) -> np.ndarray:
    """Quantile ``q`` of the F distribution with ``(dfn, dfd)`` degrees of freedom (``fdtri``)."""
    from scipy import special

    return np.asarray(special.fdtri(dfn, dfd, q), dtype=np.float64)


def f_sf(x: Any, dfn: Any, dfd: Any) -> np.ndarray:
    """``P(F > x)`` for F with ``(dfn, dfd)`` degrees of freedom (``fdtrc``); 1 below the support."""
    from scipy import special

    x, dfn, dfd = (np.asarray(a, dtype=np.float64) for a in (x, dfn, dfd))
    below = (x < 0) & (dfn > 0) & (dfd > 0)
    return np.asarray(np.where(below, 1.0, special.fdtrc(dfn, dfd, x)), dtype=np.float64)


def norm_ppf(q: Any) -> np.ndarray:
    """Quantile ``q`` of the standard normal distribution (``ndtri``)."""
    from scipy import special

    return np.asarray(special.ndtri(q), dtype=np.float64)
