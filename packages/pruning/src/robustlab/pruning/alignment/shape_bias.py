"""Cue-conflict shape bias (Geirhos et al. 2019)."""

from __future__ import annotations

import numpy as np

#: Shape bias of human observers on the cue-conflict stimuli of Geirhos et al. (2019), about
#: 0.96 (their Fig. 4); drawn as the human reference line.
HUMAN_SHAPE_BIAS = 0.96


def _as_labels(values: object, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class indices or names; got shape {arr.shape}")
    if arr.size and not (np.issubdtype(arr.dtype, np.integer) or arr.dtype.kind == "U"):
        raise ValueError(f"{name} must hold integer class indices or class names (str); got dtype {arr.dtype}")
    return arr


def shape_decisions(predictions: object, shape_labels: object, texture_labels: object) -> np.ndarray:
    """Per-trial decision on cue-conflict stimuli: 1 shape, 0 texture, NaN neither.

    A trial answered with neither class is neither, and so is a stimulus whose texture class is
    its shape class (no cue conflict: left out, as model-vs-human's ``ShapeBias.analysis``
    leaves it out).

    Args:
        predictions: ``(n,)`` predicted class indices (or class names).
        shape_labels: ``(n,)`` class of each stimulus' shape.
        texture_labels: ``(n,)`` class of each stimulus' texture.

    Returns:
        ``(n,)`` float array; its NaN-mean is the shape bias (see :func:`shape_bias`).
    """
    pred = _as_labels(predictions, "predictions")
    shape = _as_labels(shape_labels, "shape_labels")
    texture = _as_labels(texture_labels, "texture_labels")
    if not pred.shape == shape.shape == texture.shape:
        raise ValueError(
            "predictions, shape_labels and texture_labels must have the same length; got "
            f"{pred.shape[0]}, {shape.shape[0]} and {texture.shape[0]}"
        )
    kinds = {a.dtype.kind == "U" for a in (pred, shape, texture) if a.size}
    if len(kinds) > 1:
        raise ValueError("predictions, shape_labels and texture_labels must all be class indices or all "
                         f"class names; got dtypes {pred.dtype}, {shape.dtype} and {texture.dtype}")
    out = np.full(pred.shape, np.nan)
    out[pred == shape] = 1.0
    out[pred == texture] = 0.0
    out[shape == texture] = np.nan
    return out


def shape_bias(predictions: object, shape_labels: object, texture_labels: object) -> float:
    r"""Fraction of shape decisions among the shape or texture decisions on cue-conflict stimuli.

    .. math:: \text{shape bias} = \frac{\#\{\hat y = y_\text{shape}\}}
        {\#\{\hat y = y_\text{shape}\} + \#\{\hat y = y_\text{texture}\}}

    Trials answered with neither class do not count (Geirhos et al. 2019), nor do stimuli
    without a cue conflict (texture class = shape class; model-vs-human's
    ``ShapeBias.analysis``); human observers score about 0.96 (:data:`HUMAN_SHAPE_BIAS`),
    ImageNet CNNs about 0.2-0.4.

    Args:
        predictions: ``(n,)`` predicted class indices (or class names).
        shape_labels: ``(n,)`` class of each stimulus' shape.
        texture_labels: ``(n,)`` class of each stimulus' texture.

    Returns:
        The shape bias in [0, 1]; NaN when no trial is a shape or texture decision.

    Reference:
        Geirhos R, Rubisch P, Michaelis C, Bethge M, Wichmann FA, Brendel W (2019).
        ImageNet-trained CNNs are biased towards texture; increasing shape bias improves
        accuracy and robustness. ICLR.

    Example:
        >>> shape_bias([0, 1, 2, 3], [0, 1, 0, 0], [1, 2, 2, 1])
        0.6666666666666666
    """
    decisions = shape_decisions(predictions, shape_labels, texture_labels)
    if not np.any(np.isfinite(decisions)):
        return float("nan")
    return float(np.nanmean(decisions))
