"""Input checks shared by the statistics (scikit-learn style: say what was expected)."""

from __future__ import annotations

import numpy as np

NAN_POLICIES = ("raise", "omit", "propagate")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``; else a ValueError naming both."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(map(repr, choices))}")
    return value


def as_float_array(values: object, name: str) -> np.ndarray:
    """``values`` as a float64 array; a ValueError naming ``name`` if it is not numeric."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric: {err}") from None
    return arr


def check_finite(arr: np.ndarray, name: str, nan_policy: str) -> None:
    """Under ``nan_policy="raise"``, reject NaN and infinities, saying where the first one is."""
    check_choice("nan_policy", nan_policy, NAN_POLICIES)
    if nan_policy == "raise" and not np.all(np.isfinite(arr)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        n_bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(
            f"{name} has {n_bad} non-finite value(s), the first at index {where}; "
            "pass nan_policy='omit' to drop those targets or 'propagate' to return NaN"
        )
    if nan_policy != "propagate" and np.any(np.isinf(arr)):
        where = tuple(int(i) for i in np.argwhere(np.isinf(arr))[0])
        raise ValueError(f"{name} has an infinite value at index {where}")
