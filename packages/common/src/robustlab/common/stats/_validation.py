"""Input checks shared by the statistics (scikit-learn style: say what was expected)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from robustlab.common.errors import ConfigError, DataError

NAN_POLICIES = ("raise", "omit", "propagate")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``; else a ConfigError (a ValueError) naming both."""
    if value not in choices:
        raise ConfigError(f"unknown {name} {value!r}; expected one of {', '.join(map(repr, choices))}")
    return value


def check_alpha(alpha: object, name: str = "alpha") -> float:
    """``alpha`` as a float if it is a number in (0, 1) (the level of a test, or of a ``1 - alpha``
    interval); else a ConfigError (a ValueError) naming ``name``."""
    value = float(alpha) if isinstance(alpha, numbers.Real) and not isinstance(alpha, bool) else math.nan
    if not 0 < value < 1:
        raise ConfigError(f"{name}: must be a number in (0, 1); got {alpha!r}")
    return value


def as_float_array(values: object, name: str) -> np.ndarray:
    """``values`` as a float64 array; a DataError (a ValueError) naming ``name`` if it is not
    numeric, or complex (casting would drop the imaginary part without a word)."""
    try:
        arr = np.asarray(values)
        if np.iscomplexobj(arr):
            raise DataError(f"{name} must be real numbers; got complex values (dtype {arr.dtype})")
        arr = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"{name} must be numeric: {err}") from None
    return arr


def check_finite(arr: np.ndarray, name: str, nan_policy: str) -> None:
    """Under ``nan_policy="raise"``, reject NaN and infinities, saying where the first one is."""
    check_choice("nan_policy", nan_policy, NAN_POLICIES)
    if nan_policy == "raise" and not np.all(np.isfinite(arr)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        n_bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise DataError(
            f"{name} has {n_bad} non-finite value(s), the first at index {where}; "
            "pass nan_policy='omit' to drop those targets or 'propagate' to return NaN"
        )
    if nan_policy != "propagate" and np.any(np.isinf(arr)):
        where = tuple(int(i) for i in np.argwhere(np.isinf(arr))[0])
        raise DataError(f"{name} has an infinite value at index {where}")


def power_of_two_scale(arr: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    r"""``arr`` divided, per slice along the axes kept, by the power of two nearest its largest |value|.

    Sums of squares of values near 1e160 overflow and of values near 1e-200 underflow; after
    this scaling every finite value lies in :math:`[-2, 2]` with the largest above 1/2. A power
    of two scales exactly (every sum, product and ratio of the scaled data is the exact scaled
    result, barring subnormals), so a statistic that is invariant to scale gives bit for bit the
    same value for data in the ordinary range, and the same value for data of any magnitude.
    Non-finite values and all-zero slices are left as they are.
    """
    with np.errstate(invalid="ignore"):
        big = np.max(np.where(np.isfinite(arr), np.abs(arr), 0.0), axis=axis, keepdims=True)
    _, exponent = np.frexp(big)  # big = m * 2**exponent, 0.5 <= m < 1 (exponent 0 for 0)
    return np.ldexp(arr, -exponent)
