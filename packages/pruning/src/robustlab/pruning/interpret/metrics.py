"""Localisation and faithfulness metrics of attribution maps, one value per image.

Inputs: ``attributions`` shaped ``(N, H, W)`` or ``(N, C, H, W)`` (NumPy or torch, any
device) and ``masks`` boolean ``(N, H, W)``, the ground-truth object pixels.

Preprocessing, the same for every localisation metric and stated here once:

1. ``(N, C, H, W)`` attributions are pooled over channels by ``channel_pool``: ``"sum"``
   (default, signed), ``"abs_sum"``, ``"max_abs"`` or ``"l2"``.
2. With ``positive=True`` (default) negative relevance is set to zero: Arras et al. (2022)
   evaluate the positive relevance only, since a negative value is evidence against the class.
3. No rescaling: every metric here is invariant to multiplying a map by a positive constant,
   so Quantus' default ``normalise_by_max`` changes nothing.

With these steps, :func:`relevance_mass_accuracy`, :func:`relevance_rank_accuracy` and
:func:`pointing_game` equal Quantus' ``RelevanceMassAccuracy``, ``RelevanceRankAccuracy`` and
``PointingGame`` (``abs=False``) applied to the preprocessed maps (tested to 1e-6).

References:
    L. Arras, A. Osman, W. Samek. "CLEVR-XAI: A benchmark dataset for the ground truth
    evaluation of neural network explanations." Information Fusion 81 (2022) 14-40.
    J. Zhang et al. "Top-down neural attention by excitation backprop." IJCV 126 (2018).
    H. Wang et al. "Score-CAM: score-weighted visual explanations for CNNs." CVPR-W 2020.
    V. Petsiuk, A. Das, K. Saenko. "RISE: randomized input sampling for explanation of
    black-box models." BMVC 2018.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

CHANNEL_POOLS = ("sum", "abs_sum", "max_abs", "l2", "l2_squared")
#: How an all-zero map scores: ``nan`` (dropped), ``zero`` (RMA 0, RRA 0) or ``last_pixels``
#: (a reproduction of the study's code: RMA 0, RRA the share of object pixels among the last
#: ``K`` pixels in row-major order, which its reversed ``argsort`` ranks first).
ZERO_MAPS = ("nan", "zero", "last_pixels")


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    try:
        return torch.from_numpy(np.asarray(x))
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array or tensor, got {type(x).__name__}") from err


def pool_channels(attributions: Any, channel_pool: str = "sum") -> torch.Tensor:
    """``(N, C, H, W)`` -> ``(N, H, W)`` by ``channel_pool``; ``(N, H, W)`` passes through.

    Args:
        attributions: the maps.
        channel_pool: ``"sum"`` (``sum_c a_c``), ``"abs_sum"`` (``sum_c |a_c|``),
            ``"max_abs"`` (``max_c |a_c|``), ``"l2"`` (``sqrt(sum_c a_c^2)``) or
            ``"l2_squared"`` (``sum_c a_c^2``, the pooling arXiv 2507.01722 applies to
            Integrated Gradients: ``l2-norm,sq`` of Osman et al.'s evaluation code).

    Returns:
        A float64 tensor ``(N, H, W)``.
    """
    a = _as_tensor(attributions, "attributions").to(torch.float64)
    if a.ndim == 3:
        return a
    if a.ndim != 4:
        raise ValueError(f"attributions must be (N, H, W) or (N, C, H, W), got shape {tuple(a.shape)}")
    if channel_pool == "sum":
        return a.sum(dim=1)
    if channel_pool == "abs_sum":
        return a.abs().sum(dim=1)
    if channel_pool == "max_abs":
        return a.abs().amax(dim=1)
    if channel_pool == "l2":
        return a.pow(2).sum(dim=1).sqrt()
    if channel_pool == "l2_squared":
        return a.pow(2).sum(dim=1)
    raise ValueError(f"channel_pool must be one of {CHANNEL_POOLS}, got {channel_pool!r}")


def minmax_scale(maps: torch.Tensor, eps: float = 2.220446049250313e-16) -> torch.Tensor:
    """Each map scaled to [0, 1]: ``(R - min R) / (max R - min R + eps)`` over its pixels.

    The study's scaling of Grad-CAM and attention maps (arXiv 2507.01722; pytorch-grad-cam
    scales its CAMs so, and the authors' evaluation scales again with ``eps`` = machine
    epsilon); a constant map becomes all zeros.
    """
    flat = maps.reshape(maps.shape[0], -1)
    low = flat.amin(dim=1, keepdim=True)
    high = flat.amax(dim=1, keepdim=True)
    return ((flat - low) / (high - low + eps)).reshape(maps.shape)


def _prepare(attributions: Any, masks: Any, channel_pool: str, positive: bool,
             allow_empty: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated ``(N, H*W)`` float64 maps and bool masks on the attributions' device."""
    a = pool_channels(attributions, channel_pool)
    m = _as_tensor(masks, "masks")
    if m.ndim != 3:
        raise ValueError(f"masks must be boolean (N, H, W), got shape {tuple(m.shape)}")
    if tuple(a.shape) != tuple(m.shape):
        raise ValueError(f"attributions and masks differ in shape: attributions {tuple(a.shape)} "
                         f"(after channel pooling) vs masks {tuple(m.shape)}; expected the same (N, H, W)")
    if m.dtype != torch.bool:
        if m.numel() and not bool(((m == 0) | (m == 1)).all()):
            raise ValueError(f"masks must be boolean (or 0/1), got dtype {m.dtype} with other values")
        m = m.to(torch.bool)
    if not bool(torch.isfinite(a).all()):
        bad = torch.nonzero(~torch.isfinite(a).flatten(1).all(dim=1)).flatten().tolist()
        raise ValueError(f"attributions contain NaN or infinite values (images {bad[:10]})")
    m = m.to(a.device)
    n = a.shape[0]
    a, m = a.reshape(n, -1), m.reshape(n, -1)
    empty = ~m.any(dim=1)
    if bool(empty.any()) and not allow_empty:
        idx = torch.nonzero(empty).flatten().tolist()
        raise ValueError(f"empty ground-truth mask for image(s) {idx[:10]}: localisation is undefined "
                         "without object pixels")
    if positive:
        a = a.clamp(min=0.0)
    return a, m


def _to_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy().astype(np.float64)


def _check_zero_map(zero_map: str) -> None:
    if zero_map not in ZERO_MAPS:
        raise ValueError(f"zero_map must be one of {ZERO_MAPS}, got {zero_map!r}")


def relevance_mass_accuracy(attributions: Any, masks: Any, *, channel_pool: str = "sum",
                            positive: bool = True, zero_map: str = "nan") -> np.ndarray:
    """Relevance Mass Accuracy (Arras et al. 2022): the share of relevance inside the mask.

    ``RMA = sum_{p in GT} R_p / sum_p R_p``. A map with no relevance (all zero after
    preprocessing) has no mass to place: its RMA is NaN (``zero_map="nan"``), or 0
    (``zero_map="zero"``: the study's ``inside / (total + eps)``, arXiv 2507.01722, which
    counts a model that stopped attributing anything as a miss rather than dropping it).

    Args:
        attributions: ``(N, H, W)`` or ``(N, C, H, W)`` maps.
        masks: boolean ``(N, H, W)`` object masks, none empty.
        channel_pool, positive: preprocessing (module docstring).
        zero_map: ``"nan"``, or ``"zero"`` / ``"last_pixels"`` (0), the value of an all-zero map.

    Returns:
        ``(N,)`` float64 values in [0, 1] (with ``positive=True``).

    Example:
        >>> m = np.zeros((1, 4, 4), bool); m[0, :2] = True
        >>> float(relevance_mass_accuracy(np.ones((1, 4, 4)), m)[0])
        0.5
    """
    _check_zero_map(zero_map)
    a, m = _prepare(attributions, masks, channel_pool, positive)
    total = a.sum(dim=1)
    inside = (a * m).sum(dim=1)
    empty = torch.nan if zero_map == "nan" else 0.0
    rma = torch.where(total != 0, inside / torch.where(total != 0, total, 1.0), empty)
    return _to_numpy(rma)


def relevance_rank_accuracy(attributions: Any, masks: Any, *, channel_pool: str = "sum",
                            positive: bool = True, zero_map: str = "nan") -> np.ndarray:
    """Relevance Rank Accuracy (Arras et al. 2022): the share of the top-K pixels inside the mask.

    With ``K = |GT|`` and ``P_top`` the ``K`` pixels of highest relevance,
    ``RRA = |P_top intersect GT| / |GT|``. Ties are broken by pixel order (row-major), a
    stable sort; so an all-zero map ranks the first ``K`` pixels on top
    (``zero_map="nan"``, the default), unless ``zero_map="zero"`` scores it 0 (the paper
    profile: a map without relevance ranks nothing). ``zero_map="last_pixels"`` reproduces the
    study's code (``explainations_evaluation_metrics.py``, ``evaluate_single``:
    ``np.argsort(np.ravel(pooled_heatmap))[::-1]``): an all-zero map ranks the *last* ``K``
    pixels first, so its RRA is the share of object pixels among the last ``K`` in row-major
    order (1.0 for an object filling the bottom of the image). A reproduction, not a method.

    Args:
        attributions, masks, channel_pool, positive: as :func:`relevance_mass_accuracy`.
        zero_map: ``"nan"`` (ties by pixel order), ``"zero"`` or ``"last_pixels"``.

    Returns:
        ``(N,)`` float64 values in [0, 1].
    """
    _check_zero_map(zero_map)
    a, m = _prepare(attributions, masks, channel_pool, positive)
    order = torch.sort(-a, dim=1, stable=True).indices
    k = m.sum(dim=1)
    ranked_in_mask = m.gather(1, order)
    in_top = torch.arange(a.shape[1], device=a.device)[None] < k[:, None]
    rra = (ranked_in_mask & in_top).sum(dim=1) / k
    if zero_map == "zero":
        rra = torch.where(a.sum(dim=1) != 0, rra, 0.0)
    elif zero_map == "last_pixels":
        last = torch.arange(a.shape[1], device=a.device)[None] >= a.shape[1] - k[:, None]
        rra = torch.where(a.sum(dim=1) != 0, rra, (m & last).sum(dim=1) / k)
    return _to_numpy(rra)


def pointing_game(attributions: Any, masks: Any, *, channel_pool: str = "sum",
                  positive: bool = True) -> np.ndarray:
    """Pointing game (Zhang et al. 2018): 1 if the maximum of the map lies on the object.

    A hit when any pixel attaining the maximum relevance is inside the mask (Quantus'
    definition, no tolerance margin). A constant map points nowhere: NaN (Quantus would
    count it a hit).

    Args:
        attributions, masks, channel_pool, positive: as :func:`relevance_mass_accuracy`.

    Returns:
        ``(N,)`` float64 values in {0, 1} (NaN for constant maps).
    """
    a, m = _prepare(attributions, masks, channel_pool, positive)
    top = a == a.amax(dim=1, keepdim=True)
    hit = (top & m).any(dim=1).to(torch.float64)
    constant = a.amax(dim=1) == a.amin(dim=1)
    return _to_numpy(torch.where(constant, torch.nan, hit))


def _mask_boxes(m: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Bool ``(N, H*W)`` masks -> bool ``(N, H*W)`` filled tight bounding boxes."""
    n = m.shape[0]
    grid = m.reshape(n, *shape)
    rows, cols = grid.any(dim=2), grid.any(dim=1)
    ys = torch.arange(shape[0], device=m.device)
    xs = torch.arange(shape[1], device=m.device)
    big = max(shape) + 1
    y0 = torch.where(rows, ys, big).amin(dim=1)
    y1 = torch.where(rows, ys, -1).amax(dim=1)
    x0 = torch.where(cols, xs, big).amin(dim=1)
    x1 = torch.where(cols, xs, -1).amax(dim=1)
    in_y = (ys[None] >= y0[:, None]) & (ys[None] <= y1[:, None])
    in_x = (xs[None] >= x0[:, None]) & (xs[None] <= x1[:, None])
    return (in_y[:, :, None] & in_x[:, None, :]).reshape(n, -1)


def energy_pointing_game(attributions: Any, masks: Any, *, channel_pool: str = "sum") -> np.ndarray:
    """Energy-based pointing game (Wang et al. 2020, Score-CAM): positive energy in the box.

    ``E = sum_{p in B} R+_p / sum_p R+_p`` with ``R+ = max(R, 0)`` and ``B`` the tight
    bounding box of the mask (the paper scores boxes, not segmentations). NaN when the map has
    no positive relevance.

    Args:
        attributions, masks, channel_pool: as :func:`relevance_mass_accuracy`.

    Returns:
        ``(N,)`` float64 values in [0, 1].
    """
    a, m = _prepare(attributions, masks, channel_pool, positive=True)
    height, width = _as_tensor(masks, "masks").shape[-2:]
    box = _mask_boxes(m, (height, width))
    total = a.sum(dim=1)
    inside = (a * box).sum(dim=1)
    return _to_numpy(torch.where(total > 0, inside / torch.where(total > 0, total, 1.0), torch.nan))


def _perturbation_curve(model: nn.Module, images: torch.Tensor, attributions: Any, targets: Any,
                        start: torch.Tensor, end: torch.Tensor, n_steps: int, batch_size: int,
                        channel_pool: str) -> np.ndarray:
    """Class probability while moving pixels, most relevant first, from ``start`` to ``end``.

    Returns the trapezoidal area under ``p_t(x_s)`` over the fraction ``s / n_steps`` of moved
    pixels, ``(N,)``.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    device = images.device
    a = pool_channels(attributions, channel_pool).to(device)
    n, _, h, w = images.shape
    if tuple(a.shape) != (n, h, w):
        raise ValueError(f"attributions {tuple(a.shape)} do not match images {tuple(images.shape)}: "
                         "expected (N, H, W) at the images' resolution")
    targets = torch.as_tensor(targets, dtype=torch.long, device=device).reshape(-1)
    order = torch.sort(-a.reshape(n, -1), dim=1, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(h * w, device=device).expand(n, -1))
    rank = rank.reshape(n, 1, h, w)
    probs = torch.empty(n_steps + 1, n, dtype=torch.float64, device=device)
    with torch.no_grad():
        for s in range(n_steps + 1):
            k = round(s * h * w / n_steps)
            x = torch.where(rank < k, end, start)
            for i in range(0, n, batch_size):
                logits = model(x[i:i + batch_size])
                p = torch.softmax(logits.double(), dim=1)
                probs[s, i:i + batch_size] = p.gather(1, targets[i:i + batch_size, None])[:, 0]
    dx = 1.0 / n_steps
    auc = dx * (probs[1:] + probs[:-1]).sum(dim=0) / 2.0
    return _to_numpy(auc)


def deletion_auc(model: nn.Module, images: torch.Tensor, attributions: Any, targets: Any, *,
                 n_steps: int = 16, baseline: float = 0.0, batch_size: int = 64,
                 channel_pool: str = "sum") -> np.ndarray:
    """Deletion metric (Petsiuk et al. 2018): area under the class probability while the most
    relevant pixels are removed (set to ``baseline`` in all channels). Lower is better.

    Args:
        model: the classifier (eval mode); ``images`` on its device.
        images: ``(N, C, H, W)`` normalised inputs.
        attributions: ``(N, H, W)`` (or ``(N, C, H, W)``, pooled) maps.
        targets: ``(N,)`` explained classes.
        n_steps: the curve is sampled at fractions ``0, 1/n_steps, ..., 1`` of pixels removed.
        baseline: value of removed pixels (0 = the dataset mean in normalised inputs).
        batch_size: images per forward pass.
        channel_pool: pooling of 4-D attributions.

    Returns:
        ``(N,)`` areas in [0, 1].
    """
    end = torch.full_like(images, baseline)
    return _perturbation_curve(model, images, attributions, targets, images, end, n_steps,
                               batch_size, channel_pool)


def insertion_auc(model: nn.Module, images: torch.Tensor, attributions: Any, targets: Any, *,
                  n_steps: int = 16, blur_sigma: float = 5.0, batch_size: int = 64,
                  channel_pool: str = "sum") -> np.ndarray:
    """Insertion metric (Petsiuk et al. 2018): area under the class probability while the most
    relevant pixels are copied, first to last, onto a blurred copy of the image (Gaussian,
    ``blur_sigma`` pixels, kernel ``2 * ceil(2 sigma) + 1``; RISE uses 11 px / sigma 5).
    Higher is better.

    Args:
        model, images, attributions, targets, n_steps, batch_size, channel_pool: as
            :func:`deletion_auc`.
        blur_sigma: standard deviation of the blur of the starting canvas, in pixels.

    Returns:
        ``(N,)`` areas in [0, 1].
    """
    from torchvision.transforms.functional import gaussian_blur

    radius = int(np.ceil(2 * blur_sigma))
    blurred = gaussian_blur(images, kernel_size=2 * radius + 1, sigma=blur_sigma)
    return _perturbation_curve(model, images, attributions, targets, blurred, images, n_steps,
                               batch_size, channel_pool)


def spearman_rows(a: Any, b: Any) -> np.ndarray:
    """Spearman rank correlation of each pair of rows of ``a`` and ``b`` (flattened per image).

    ``rho = pearson(rank(a_i), rank(b_i))`` with average ranks for ties (as
    ``scipy.stats.spearmanr``), vectorized over images. NaN for a constant row.
    """
    from scipy.stats import rankdata

    x = _as_tensor(a, "a").cpu().numpy().reshape(len(a), -1).astype(np.float64)
    y = _as_tensor(b, "b").cpu().numpy().reshape(len(b), -1).astype(np.float64)
    if x.shape != y.shape:
        raise ValueError(f"cannot correlate maps of different shapes {x.shape} and {y.shape}")
    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=1) / den, np.nan)


__all__ = [
    "CHANNEL_POOLS", "ZERO_MAPS", "pool_channels", "minmax_scale", "relevance_mass_accuracy", "relevance_rank_accuracy",
    "pointing_game", "energy_pointing_game", "deletion_auc", "insertion_auc", "spearman_rows",
]
