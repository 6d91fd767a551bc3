"""TokenCut: a normalised cut on the graph of patch similarities.

Reference:
    Y. Wang, X. Shen, S. X. Hu, Y. Yuan, J. L. Crowley, D. Vaufreydaz. "Self-supervised
    transformers for unsupervised object discovery using normalized cut." CVPR 2022.
"""

from __future__ import annotations

import numpy as np
import torch

from robustlab.pruning.discovery.boxes import seed_component_boxes


def tokencut(features: torch.Tensor, grid: tuple[int, int], image_size: tuple[int, int],
             tau: float = 0.2, eps: float = 1e-5) -> tuple[np.ndarray, torch.Tensor]:
    """TokenCut boxes for a batch of patch features, with one batched eigendecomposition.

    Graph: ``W_ij = 1`` if ``cos(f_i, f_j) > tau`` else ``eps``; degrees ``D = diag(W 1)``.
    The normalised cut (Shi & Malik 2000) bipartitions the patches by the second smallest
    generalised eigenvector ``x`` of ``(D - W) x = lambda D x``, computed here as
    ``x = D^{-1/2} y`` with ``y`` the eigenvector of ``I - D^{-1/2} W D^{-1/2}`` (the same
    problem, but ``torch.linalg.eigh`` solves it for the whole batch). Foreground: ``x >
    mean(x)``, flipped so that it holds the patch of largest ``|x|`` (the seed); the box is the
    seed's 4-connected component, as in the paper.

    Args:
        features: ``(B, N, D)`` patch features, ``N = gh * gw`` row-major.
        grid: ``(gh, gw)``.
        image_size: ``(H, W)`` in pixels.
        tau: similarity threshold (0.2 in the paper).
        eps: weight of non-edges, keeps the graph connected (1e-5 in the paper).

    Returns:
        ``(boxes, seeds)``: ``(B, 4)`` float64 pixel boxes and ``(B,)`` seed patches.
    """
    if features.ndim != 3:
        raise ValueError(f"features must be (B, N, D), got shape {tuple(features.shape)}")
    b, n, _ = features.shape
    if n != grid[0] * grid[1]:
        raise ValueError(f"features have {n} patches, the grid {grid} has {grid[0] * grid[1]}")
    if n < 2:
        raise ValueError("TokenCut needs at least two patches")
    f = torch.nn.functional.normalize(features.double(), dim=-1)
    w = torch.where(f @ f.transpose(1, 2) > tau, 1.0, eps).to(torch.float64)
    d_isqrt = w.sum(dim=-1).rsqrt()
    lap = torch.eye(n, dtype=w.dtype, device=w.device) - d_isqrt[:, :, None] * w * d_isqrt[:, None, :]
    _, vecs = torch.linalg.eigh(lap)
    x = d_isqrt * vecs[:, :, 1]
    seeds = x.abs().argmax(dim=1)
    fg = x > x.mean(dim=1, keepdim=True)
    flip = ~fg[torch.arange(b, device=x.device), seeds]
    fg = torch.where(flip[:, None], ~fg, fg)
    boxes = seed_component_boxes(fg, seeds, grid, image_size)
    return boxes, seeds
