"""An attribution method: Input x Gradient (Shrikumar et al. 2016, Captum ``InputXGradient``)."""

import torch

from robustlab.pruning.interpret import ATTRIBUTIONS


@ATTRIBUTIONS.register("input_x_gradient", archs=("cnn", "vit"))
def input_x_gradient(model: torch.nn.Module, images: torch.Tensor, targets: torch.Tensor, *,
                     arch: str) -> torch.Tensor:
    """``|sum_c x_c * d y_t / d x_c|`` per pixel: one ``(N, H, W)`` map per image."""
    from captum.attr import InputXGradient

    return InputXGradient(model).attribute(images, target=targets).sum(dim=1).abs()
