"""Attention-map baseline of object discovery for ViTs (the "DINO-seg" baseline of LOST)."""

from __future__ import annotations

import numpy as np
import torch

from robustlab.pruning.discovery.boxes import seed_component_boxes


def attention_box(cls_attention: torch.Tensor, grid: tuple[int, int], image_size: tuple[int, int],
                  mass: float = 0.6) -> tuple[np.ndarray, torch.Tensor]:
    """Box of the CLS attention map: the patches holding ``mass`` of the attention.

    As DINO's visualisation (Caron et al. 2021), used as a baseline by LOST (Simeoni et al.
    2021): sort the patches by attention, keep the smallest set whose attention sums to at
    least ``mass`` of the total, and box the 4-connected component of that set containing the
    most attended patch.

    Args:
        cls_attention: ``(B, N)`` attention of the CLS token to the patches (mean over heads).
        grid, image_size: as :func:`~robustlab.pruning.discovery.lost.lost`.
        mass: the share of attention kept.

    Returns:
        ``(boxes, seeds)``: ``(B, 4)`` float64 pixel boxes and ``(B,)`` most attended patches.
    """
    if not 0.0 < mass <= 1.0:
        raise ValueError(f"mass must be in (0, 1], got {mass}")
    att = cls_attention.double()
    sorted_att, order = torch.sort(att, dim=1, descending=True, stable=True)
    cum = sorted_att.cumsum(dim=1) / sorted_att.sum(dim=1, keepdim=True)
    # A patch is kept when the mass before it is still below ``mass``.
    keep_sorted = (cum - sorted_att / sorted_att.sum(dim=1, keepdim=True)) < mass
    keep = torch.zeros_like(keep_sorted).scatter_(1, order, keep_sorted)
    seeds = order[:, 0]
    return seed_component_boxes(keep, seeds, grid, image_size), seeds
