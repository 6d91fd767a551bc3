"""Error consistency: do two observers make their errors on the same trials? (Geirhos et al. 2020)."""

from __future__ import annotations

import numpy as np


def _as_correct(values: object, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype != bool:
        if not np.all(np.isin(arr, (0, 1))):
            raise ValueError(f"{name} must be trial-wise correctness (bool or 0/1); got values {np.unique(arr)[:5]}")
        arr = arr.astype(bool)
    return arr


def error_consistency(correct_a: object, correct_b: object, *, undefined: float = float("nan")) -> np.ndarray:
    r"""Cohen's kappa of trial-wise correctness of two observers, over the last axis.

    With observed agreement :math:`c_{obs}` (share of trials both got right or both got wrong)
    and the agreement expected from the two accuracies :math:`p_a, p_b` alone,
    :math:`c_{exp} = p_a p_b + (1 - p_a)(1 - p_b)`:

    .. math:: \kappa = \frac{c_{obs} - c_{exp}}{1 - c_{exp}}

    1 for identical correctness patterns, about 0 for independent observers of any accuracies,
    negative for opposite patterns. Under independence its sampling variance is about
    :math:`[c_{exp} + c_{exp}^2 - \sum_i a_i b_i (a_i + b_i)] / (n (1 - c_{exp})^2)`, with
    :math:`a = (p_a, 1 - p_a)`, :math:`b = (p_b, 1 - p_b)` (Fleiss, Cohen and Everitt 1969).

    Where :math:`c_{exp} = 1` (both observers always right, or both always wrong) the formula is
    0/0: there is no error to be consistent on, and kappa is ``undefined`` (NaN by default, so
    that such a comparison does not count as perfect agreement). model-vs-human (Geirhos et al.
    2021) returns 1 whenever :math:`c_{obs} = 1` (``ErrorConsistency.error_consistency`` in
    ``modelvshuman/plotting/analyses.py``), which equals the formula everywhere but there:
    ``undefined=1.0`` gives its values (its benchmark:
    :func:`robustlab.pruning.alignment.modelvshuman.metrics.error_consistency`).
    An observer always right (or always wrong) against one who is not gives
    :math:`c_{obs} = c_{exp}` and kappa 0.

    Args:
        correct_a, correct_b: ``(..., n_trials)`` booleans (or 0/1), the same shape; leading
            axes are independent comparisons (vectorized).
        undefined: kappa where :math:`c_{exp} = 1`.

    Returns:
        ``(...)`` kappa.

    Reference:
        Geirhos R, Meding K, Wichmann FA (2020). Beyond accuracy: quantifying trial-by-trial
        behaviour of CNNs and humans by measuring error consistency. NeurIPS.
        Geirhos R, Narayanappa K, Mitzkus B, Thieringer T, Bethge M, Wichmann FA, Brendel W
        (2021). Partial success in closing the gap between human and machine vision. NeurIPS.
        Cohen J (1960). A coefficient of agreement for nominal scales. Educ Psychol Meas 20:37-46.
        Fleiss JL, Cohen J, Everitt BS (1969). Large sample standard errors of kappa and
        weighted kappa. Psychol Bull 72(5):323-327.

    Example:
        >>> float(error_consistency([1, 1, 0, 0], [1, 1, 0, 0]))
        1.0
    """
    a = _as_correct(correct_a, "correct_a")
    b = _as_correct(correct_b, "correct_b")
    if a.shape != b.shape:
        raise ValueError(f"correct_a and correct_b must have the same shape (paired trials); "
                         f"got {a.shape} and {b.shape}")
    if a.ndim == 0 or a.shape[-1] == 0:
        raise ValueError("error consistency needs at least one trial")
    c_obs = np.mean(a == b, axis=-1)
    pa, pb = a.mean(axis=-1), b.mean(axis=-1)
    c_exp = pa * pb + (1 - pa) * (1 - pb)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (c_obs - c_exp) / (1 - c_exp)
    return np.where(c_exp >= 1, undefined, kappa)
