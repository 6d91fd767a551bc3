"""ResNet dilation for LOST: the last stages' strides traded for dilated convolutions, in place.

LOST (Simeoni et al. 2021) runs its ResNet-50 baselines with ``replace_stride_with_dilation``
(torchvision), which keeps the weights and doubles the resolution of the last feature map per
dilated stage: ``dilation=2`` dilates ``layer4`` (stride 16), ``dilation=4`` also ``layer3``
(stride 8). Done here on a trained (and pruned) model by changing the convolutions' ``stride``,
``dilation`` and ``padding`` as torchvision's ``_make_layer(..., dilate=True)`` builds them: in a
dilated stage the first block's 3x3 convolution and its shortcut lose their stride and keep the
dilation carried in, the other blocks' 3x3 convolutions take the stage's dilation (its padding
equal to it). torchvision allows it for Bottleneck blocks only (ResNet-50 and larger).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn

DILATIONS = {1: (), 2: ("layer4",), 4: ("layer3", "layer4")}


def _settings(dilation: int) -> list[tuple[str, int, int]]:
    """``(stage, dilation carried in, stage dilation)`` of each dilated stage."""
    out, current = [], 1
    for stage in DILATIONS[dilation]:
        out.append((stage, current, current * 2))
        current *= 2
    return out


@contextlib.contextmanager
def dilated_resnet(model: nn.Module, dilation: int = 1) -> Iterator[nn.Module]:
    """``model`` with its last stages dilated (``dilation`` 1, 2 or 4) inside the block; restored after.

    Raises:
        ValueError: a dilation other than 1, 2, 4, or a model without Bottleneck ``layer3``/``layer4``.
    """
    if dilation not in DILATIONS:
        raise ValueError(f"LOST's ResNet dilation must be 1, 2 or 4; got {dilation!r}")
    saved: list[tuple[nn.Conv2d, tuple[int, ...], tuple[int, ...], str | tuple[int, ...]]] = []

    def change(conv: nn.Conv2d, stride: int, dil: int | None) -> None:
        saved.append((conv, conv.stride, conv.dilation, conv.padding))
        conv.stride = (stride, stride)
        if dil is not None:
            conv.dilation, conv.padding = (dil, dil), (dil, dil)

    try:
        for stage, carried, own in _settings(dilation):
            blocks = getattr(model, stage, None)
            if blocks is None or not all(hasattr(b, "conv3") for b in blocks):
                raise ValueError(f"{type(model).__name__}: ResNet dilation needs Bottleneck blocks in {stage} "
                                 "(torchvision's ResNet-50 and larger)")
            for i, block in enumerate(blocks):
                change(block.conv2, 1, carried if i == 0 else own)
                if i == 0 and block.downsample is not None:
                    change(block.downsample[0], 1, None)
        yield model
    finally:
        for conv, stride, dil, pad in saved:
            conv.stride, conv.dilation, conv.padding = stride, dil, pad
