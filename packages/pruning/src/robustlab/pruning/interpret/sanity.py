"""Sanity check of attribution methods: model-parameter randomisation (Adebayo et al. 2018).

An attribution that explains the model must change when the model's weights are replaced by
random ones. The check compares each image's map before and after randomising every learned
parameter; a rank correlation near 1 means the method ignores the model (e.g. it is an edge
detector).

Reference:
    J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim. "Sanity checks for
    saliency maps." NeurIPS 2018.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from robustlab.pruning.interpret.methods import attribute
from robustlab.pruning.interpret.metrics import spearman_rows


def randomize_parameters(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` with every parameter redrawn, scale preserved.

    Each parameter tensor ``W`` becomes ``N(0, std(W)^2)`` noise (a constant tensor, such as a
    fresh bias, becomes ``N(0, 1e-2^2)``): the "full randomisation" of Adebayo et al. Drawing at
    each tensor's own scale keeps activations in range, and redrawing tensors (rather than
    calling ``reset_parameters``) also works for pruned models whose weights are masked
    re-parametrisations. Buffers (BatchNorm statistics, pruning masks) are kept, so pruned
    weights stay pruned.

    Args:
        model: the model; not modified.
        seed: seed of the redraw.

    Returns:
        The randomised copy, on the same device, in eval mode.
    """
    clone = copy.deepcopy(model).eval()
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    with torch.no_grad():
        for p in clone.parameters():
            std = float(p.detach().float().std()) if p.numel() > 1 else 0.0
            std = std if std > 0 else 1e-2
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32) * std
            p.copy_(noise.to(p.device, p.dtype))
    return clone


def parameter_randomization_check(method: str, model: nn.Module, images: torch.Tensor,
                                  targets: torch.Tensor, *, arch: str, seed: int = 0,
                                  absolute: bool = True, **options: object) -> np.ndarray:
    """Spearman rank correlation of each image's map before and after randomising the model.

    ``rho_i = spearman(A(x_i; theta), A(x_i; theta_random))`` over the pixels of image ``i``;
    with ``absolute=True`` the maps' absolute values are ranked, as Adebayo et al. report.
    Lower is better (the method depends on the weights).

    Args:
        method: a registered attribution method.
        model, images, targets, arch: as :func:`~robustlab.pruning.interpret.methods.attribute`.
        seed: seed of the randomisation.
        absolute: rank ``|A|`` rather than ``A``.
        **options: options of the method.

    Returns:
        ``(N,)`` correlations in [-1, 1] (NaN where a map is constant).
    """
    before = attribute(method, model, images, targets, arch=arch, **options)
    after = attribute(method, randomize_parameters(model, seed), images, targets, arch=arch, **options)
    if absolute:
        before, after = before.abs(), after.abs()
    return spearman_rows(before, after)
