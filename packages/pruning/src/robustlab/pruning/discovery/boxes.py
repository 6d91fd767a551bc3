"""Boxes of object discovery: seed components, IoU, CorLoc."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy import ndimage

# 4-connectivity inside each image, none across the batch axis: one ``ndimage.label`` call
# labels a whole batch of grids.
_BATCH_CROSS = np.zeros((3, 3, 3), dtype=bool)
_BATCH_CROSS[1] = ndimage.generate_binary_structure(2, 1)


def seed_component_boxes(foreground: torch.Tensor, seeds: torch.Tensor, grid: tuple[int, int],
                         image_size: tuple[int, int]) -> np.ndarray:
    """Pixel box of the 4-connected foreground component containing each seed patch.

    As LOST's and TokenCut's ``detect_box``: label the patch grid's connected components,
    keep the seed's, take its bounding box in patches ``[r0, r1] x [c0, c1]`` and scale it to
    pixels ``(c0 * sx, r0 * sy, (c1 + 1) * sx, (r1 + 1) * sy)`` with ``sx = W / gw``,
    ``sy = H / gh``, clipped to the image.

    A seed outside the foreground has no component: its box is NaN, no box, which
    :func:`best_iou` scores 0 (a missed object, counted in CorLoc as a miss). LOST's
    ``detect_box`` raises there ("The seed is in the background component", commented "Should
    not happen with LOST"; valeoai/LOST, object_discovery.py), which ends the evaluation of
    every image: it happens when the seed's features are all zero, so that no patch is
    similar to it (a pruned model whose key projection lost every weight).

    Args:
        foreground: ``(B, N)`` bool, ``N = gh * gw`` patches in row-major order.
        seeds: ``(B,)`` seed patch indices.
        grid: ``(gh, gw)``.
        image_size: ``(H, W)``.

    Returns:
        ``(B, 4)`` float64 boxes ``(x0, y0, x1, y1)``; NaN rows for seeds outside the foreground.
    """
    gh, gw = grid
    fg = foreground.detach().cpu().numpy().reshape(-1, gh, gw)
    seeds_np = seeds.detach().cpu().numpy().astype(np.int64)
    labels, _ = ndimage.label(fg, structure=_BATCH_CROSS)
    b = np.arange(fg.shape[0])
    cc = labels[b, seeds_np // gw, seeds_np % gw]
    comp = (labels == cc[:, None, None]) & (cc[:, None, None] > 0)
    rows, cols = comp.any(axis=2), comp.any(axis=1)
    r0, r1 = rows.argmax(axis=1), gh - 1 - rows[:, ::-1].argmax(axis=1)
    c0, c1 = cols.argmax(axis=1), gw - 1 - cols[:, ::-1].argmax(axis=1)
    h, w = image_size
    sy, sx = h / gh, w / gw
    boxes = np.stack([c0 * sx, r0 * sy, (c1 + 1) * sx, (r1 + 1) * sy], axis=1).astype(np.float64)
    boxes[:, 2] = np.minimum(boxes[:, 2], w)
    boxes[:, 3] = np.minimum(boxes[:, 3], h)
    boxes[cc == 0] = np.nan
    return boxes


def box_iou(a: Any, b: Any) -> np.ndarray:
    """IoU of every box of ``a`` ``(n, 4)`` with every box of ``b`` ``(m, 4)`` -> ``(n, m)``.

    Continuous coordinates ``(x0, y0, x1, y1)``: area ``(x1 - x0) * (y1 - y0)``, as LOST's
    ``bbox_iou``.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def best_iou(pred_boxes: Any, gt_boxes: list[Any]) -> np.ndarray:
    """Per image, the highest IoU of its predicted box with any of its ground-truth boxes.

    Args:
        pred_boxes: ``(N, 4)`` one ``(x0, y0, x1, y1)`` box per image; a row with NaN is no
            box (:func:`seed_component_boxes`), IoU 0.
        gt_boxes: ``N`` arrays of boxes ``(m_i, 4)`` (``m_i >= 1``).

    Returns:
        ``(N,)`` float64 IoUs, computed for all boxes of all images at once.
    """
    pred = np.asarray(pred_boxes, dtype=np.float64)
    if pred.ndim != 2 or pred.shape[1] != 4:
        raise ValueError(f"pred_boxes must be (N, 4), one (x0, y0, x1, y1) per image; got shape {pred.shape}")
    if len(gt_boxes) != len(pred):
        raise ValueError(f"{len(pred)} predicted boxes but ground truth for {len(gt_boxes)} images")
    gts = [np.asarray(g, dtype=np.float64).reshape(-1, 4) for g in gt_boxes]
    empty = [i for i, g in enumerate(gts) if len(g) == 0]
    if empty:
        raise ValueError(f"image(s) {empty[:10]} have no ground-truth box")
    best = np.zeros(len(gts), dtype=np.float64)
    if not gts:
        return best
    owner = np.repeat(np.arange(len(gts)), [len(g) for g in gts])
    flat = np.concatenate(gts)
    p = pred[owner]
    iw = np.clip(np.minimum(p[:, 2], flat[:, 2]) - np.maximum(p[:, 0], flat[:, 0]), 0, None)
    ih = np.clip(np.minimum(p[:, 3], flat[:, 3]) - np.maximum(p[:, 1], flat[:, 1]), 0, None)
    inter = iw * ih
    union = ((p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])
             + (flat[:, 2] - flat[:, 0]) * (flat[:, 3] - flat[:, 1]) - inter)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    iou[np.isnan(p).any(axis=1)] = 0.0  # no box: a miss
    np.maximum.at(best, owner, iou)
    return best


#: What an IoU equal to the threshold is: ``"hit"`` (``IoU >= threshold``, as LOST's and the study's
#: code write the comparison) or ``"miss"`` (``IoU > threshold``: what their IoU's epsilon makes of
#: it, and PASCAL VOC's criterion, an overlap that "must exceed 50 %").
AT_THRESHOLD = ("hit", "miss")


def corloc_hits(iou: Any, threshold: float = 0.5, at_threshold: str = "hit") -> np.ndarray:
    """Hits of best IoUs: ``iou >= threshold`` (``at_threshold="hit"``) or ``iou > threshold``."""
    if at_threshold not in AT_THRESHOLD:
        raise ValueError(f"at_threshold must be one of {AT_THRESHOLD}, got {at_threshold!r}")
    iou = np.asarray(iou, dtype=np.float64)
    return iou >= threshold if at_threshold == "hit" else iou > threshold


def corloc(pred_boxes: Any, gt_boxes: list[Any], threshold: float = 0.5,
           at_threshold: str = "hit") -> tuple[float, np.ndarray]:
    """Correct localisation (CorLoc): the fraction of images whose predicted box has
    ``IoU >= threshold`` with at least one ground-truth box (Deselaers et al. 2012; the metric of
    LOST and TokenCut); ``at_threshold="miss"`` asks ``IoU > threshold``
    (:func:`corloc_hits`).

    Args:
        pred_boxes: ``(N, 4)`` one ``(x0, y0, x1, y1)`` box per image.
        gt_boxes: ``N`` arrays of boxes ``(m_i, 4)`` (``m_i >= 1``).
        threshold: IoU needed for a hit.
        at_threshold: ``"hit"`` or ``"miss"``: an IoU equal to ``threshold``.

    Returns:
        ``(corloc, hits)``: the fraction in [0, 1] (NaN for no images) and the ``(N,)`` bool hits.

    Example:
        >>> corloc([[0, 0, 10, 10]], [np.array([[0, 0, 10, 20]])])
        (1.0, array([ True]))
    """
    hits = corloc_hits(best_iou(pred_boxes, gt_boxes), threshold, at_threshold)
    return (float(hits.mean()) if len(hits) else float("nan")), hits
