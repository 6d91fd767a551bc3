"""LOST: localising objects with self-supervised transformers and no labels.

Reference:
    O. Simeoni, G. Puy, H. V. Vo, S. Roburin, S. Gidaris, A. Bursuc, P. Perez, R. Marlet,
    J. Ponce. "Localizing objects with self-supervised transformers and no labels." BMVC 2021.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from robustlab.pruning.discovery.boxes import seed_component_boxes

SEED_ORDERS = ("stable", "authors")


def lost(features: torch.Tensor, grid: tuple[int, int], image_size: tuple[int, int],
         k_patches: int = 100, center: bool = False, layernorm: bool = False,
         seed_order: str = "stable") -> tuple[np.ndarray, torch.Tensor]:
    """LOST boxes for a batch of patch features, every step batched over images.

    With patch similarities ``A = F F^T`` (``F`` the ``(N, D)`` patch features):

    1. degree ``d_i = |{j : A_ij > 0}|``; the seed is the patch of lowest degree (an object
       patch correlates with few others, the background with many);
    2. among the ``k_patches`` patches of lowest degree, those positively correlated with the
       seed (``A_seed,j > 0``) form the set ``S``;
    3. seed expansion: ``m_j = sum_{s in S} A_sj``; the object is the 4-connected component of
       ``{j : m_j > 0}`` that contains the seed, and its box is the prediction.

    Ties in degree go to the lowest patch index (a stable sort), so batched and per-image
    calls agree exactly. ``seed_order="authors"`` orders the patches as LOST's and the study's
    ``object_discovery.py`` (``patch_scoring``) do: the negated degree of each image, the
    diagonal left out, through ``torch.argsort(..., descending=True)``, an unstable sort whose
    order among equal degrees is torch's on the device that runs it; the seed and the candidate
    set may then differ from the stable order's where degrees tie.

    ``center=True`` first subtracts each image's mean patch feature. LOST needs signed
    similarities (ViT keys are signed); the post-ReLU features of a CNN stage are non-negative,
    so every ``A_ij >= 0``, every degree is ``N`` and the reference algorithm returns the whole
    image. Centring restores the sign (the features' correlation, not their raw product).

    Args:
        features: ``(B, N, D)`` patch features, ``N = gh * gw`` row-major.
        grid: ``(gh, gw)``.
        image_size: ``(H, W)`` in pixels.
        k_patches: size of the low-degree candidate set (100 in the paper; capped at ``N``).
        center: subtract each image's mean patch feature first.
        layernorm: normalise each image's feature map as a whole first (before any centring).
        seed_order: ``"stable"`` or ``"authors"`` (above).

    Returns:
        ``(boxes, seeds)``: ``(B, 4)`` float64 pixel boxes ``(x0, y0, x1, y1)`` and ``(B,)`` seeds.
    """
    if features.ndim != 3:
        raise ValueError(f"features must be (B, N, D), got shape {tuple(features.shape)}")
    b, n, _ = features.shape
    if seed_order not in SEED_ORDERS:
        raise ValueError(f"seed_order must be one of {SEED_ORDERS}, got {seed_order!r}")
    if n != grid[0] * grid[1]:
        raise ValueError(f"features have {n} patches, the grid {grid} has {grid[0] * grid[1]}")
    f = features.float()
    if layernorm:
        f = F.layer_norm(f, tuple(f.shape[1:]))
    if center:
        f = f - f.mean(dim=1, keepdim=True)
    a = f @ f.transpose(1, 2)
    degree = (a > 0).sum(dim=-1)
    if seed_order == "stable":
        order = torch.sort(degree, dim=1, stable=True).indices
    else:
        off_diagonal = degree - (torch.diagonal(a, dim1=1, dim2=2) > 0).to(degree.dtype)
        order = torch.stack([torch.argsort(-row.float(), descending=True) for row in off_diagonal])
    seeds = order[:, 0]
    k = min(int(k_patches), n)
    potential = torch.zeros(b, n, dtype=torch.bool, device=f.device)
    potential.scatter_(1, order[:, :k], True)
    seed_rows = a[torch.arange(b, device=f.device), seeds]
    similar = potential & (seed_rows > 0)
    expansion = (similar.to(a.dtype)[:, None, :] @ a)[:, 0]
    boxes = seed_component_boxes(expansion > 0, seeds, grid, image_size)
    return boxes, seeds
