r"""The model-vs-human metrics of one observer, or of a model and a human observer, on paired trials.

Source: bethgelab/model-vs-human, ``modelvshuman/plotting/analyses.py`` (``SixteenClassAccuracy``,
``SixteenClassAccuracyDifference`` with ``norm=np.square``, ``ErrorConsistency``, ``ShapeBias``).

Reference:
    Geirhos R, Narayanappa K, Mitzkus B, Thieringer T, Bethge M, Wichmann FA, Brendel W (2021).
    Partial success in closing the gap between human and machine vision. NeurIPS.
    Geirhos R, Meding K, Wichmann FA (2020). Beyond accuracy: quantifying trial-by-trial
    behaviour of CNNs and humans by measuring error consistency. NeurIPS.
    Geirhos R, Rubisch P, Michaelis C, Bethge M, Wichmann FA, Brendel W (2019). ImageNet-trained
    CNNs are biased towards texture; increasing shape bias improves accuracy and robustness. ICLR.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from robustlab.pruning.alignment.consistency import error_consistency as kappa
from robustlab.pruning.alignment.modelvshuman.raw_data import texture_category
from robustlab.pruning.alignment.shape_bias import shape_bias as cue_conflict_shape_bias
from robustlab.pruning.alignment.shape_bias import shape_decisions


def paired_correctness(ids_a: np.ndarray, correct_a: np.ndarray, ids_b: np.ndarray, correct_b: np.ndarray,
                       what: str) -> tuple[np.ndarray, np.ndarray]:
    """Correctness of two observers on the same images, each sorted by image id.

    model-vs-human sorts both observers' trials by ``image_id`` and requires the two id lists
    to be equal (``ErrorConsistency.analysis``): trials are paired by image, not by order.

    Raises:
        ValueError: the two observers did not see the same images (``what`` names the pair).
    """
    order_a = np.argsort(ids_a, kind="stable")
    order_b = np.argsort(ids_b, kind="stable")
    if len(ids_a) != len(ids_b) or not np.array_equal(ids_a[order_a], ids_b[order_b]):
        only = sorted(set(ids_a).symmetric_difference(ids_b))[:3]
        raise ValueError(f"{what}: the two observers did not see the same images ({len(ids_a)} and {len(ids_b)} "
                         f"trials; e.g. {only}); model-vs-human pairs trials by image")
    return correct_a[order_a], correct_b[order_b]


def accuracy_difference(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    r"""Squared difference of the two 16-class accuracies, :math:`(p_a - p_b)^2`."""
    return float((np.mean(correct_a) - np.mean(correct_b)) ** 2)


def observed_consistency(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    r"""Share of paired trials both observers got right or both got wrong, :math:`c_{obs}`."""
    return float(np.mean(np.asarray(correct_a) == np.asarray(correct_b)))


def error_consistency(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    r"""Cohen's kappa of trial-wise correctness, as model-vs-human computes it: 1 when the
    observers agree on every trial (``ErrorConsistency.error_consistency``), also when both are
    always right or always wrong, where the formula is 0/0 and
    :func:`robustlab.pruning.alignment.consistency.error_consistency` (which this calls with
    ``undefined=1.0``) leaves NaN by default. A pair without trials (a condition neither
    observer has) is NaN, as are the other pair metrics.

    Example:
        >>> error_consistency(np.array([1, 1, 1, 1]), np.array([1, 1, 1, 1]))
        1.0
        >>> error_consistency(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]))
        0.0
    """
    if len(correct_a) == 0 and len(correct_b) == 0:
        return float("nan")
    return float(kappa(correct_a, correct_b, undefined=1.0))


def _labels(trials: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(answers, shape categories, texture categories)`` of the trials, as strings; the texture
    category is read from the image name
    (:func:`~robustlab.pruning.alignment.modelvshuman.raw_data.texture_category`)."""
    texture = trials["imagename"].astype(str).map(texture_category)
    return (trials["object_response"].astype(str).to_numpy(dtype=str),
            trials["category"].astype(str).to_numpy(dtype=str), texture.to_numpy(dtype=str))


def shape_bias(trials: pd.DataFrame) -> float:
    r"""Shape bias of the trials of one observer (or several, pooled) on cue-conflict stimuli.

    .. math:: \text{shape bias} = \frac{n_\text{shape}}{n_\text{shape} + n_\text{texture}}

    :math:`n_\text{shape}` counts answers equal to the shape category (``category``),
    :math:`n_\text{texture}` answers equal to the texture category (from the image name);
    trials whose texture category equals their shape category (no cue conflict) are left out of
    both counts (``ShapeBias.analysis``), and only of the shape bias: they still count for
    accuracy. Computed by :func:`robustlab.pruning.alignment.shape_bias.shape_bias`.

    Args:
        trials: columns ``object_response``, ``category``, ``imagename``.

    Returns:
        The shape bias; NaN when no answer is a shape or texture decision.
    """
    return cue_conflict_shape_bias(*_labels(trials))


def shape_bias_per_category(trials: pd.DataFrame) -> pd.DataFrame:
    """:func:`shape_bias` per shape category (model-vs-human's shape-bias plots group by ``category``).

    Returns:
        Columns ``category, n_trials, n_shape, n_texture, shape_bias``, one row per category.
    """
    rows = []
    for category, group in trials.groupby("category", sort=True):
        labels = _labels(group)
        decisions = shape_decisions(*labels)
        rows.append({"category": category, "n_trials": len(group), "n_shape": int(np.sum(decisions == 1)),
                     "n_texture": int(np.sum(decisions == 0)), "shape_bias": cue_conflict_shape_bias(*labels)})
    return pd.DataFrame(rows, columns=["category", "n_trials", "n_shape", "n_texture", "shape_bias"])
