"""Inside a Swin Transformer (torchvision ``swin_t``/``swin_v2_t``...): the last block, its input
tokens, its keys and its window attention laid back on the token grid.

A Swin block attends within windows of ``window_size`` tokens of a feature map that is padded
to a multiple of the window and, in every other block, cyclically shifted by half a window
(Liu et al. 2021, 2022). There is no class token: the attention maps here are what each token
*receives*, averaged over the queries of its window, laid back on the (unshifted, unpadded) grid.

References:
    Z. Liu et al. "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows." ICCV 2021.
    Z. Liu et al. "Swin Transformer V2: Scaling Up Capacity and Resolution." CVPR 2022.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from unittest import mock

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from torchvision.models.swin_transformer import ShiftedWindowAttention, SwinTransformerBlock


def is_swin(model: nn.Module) -> bool:
    """Whether ``model`` is a torchvision Swin Transformer (V1 or V2)."""
    import torchvision

    return isinstance(model, torchvision.models.SwinTransformer)


def swin_last_block(model: nn.Module) -> SwinTransformerBlock:
    """The last block of the last stage (``features[-1][-1]``).

    Raises:
        ValueError: the model is not a torchvision Swin Transformer.
    """
    from torchvision.models.swin_transformer import SwinTransformerBlock

    if not is_swin(model):
        raise ValueError(f"{type(model).__name__} is not a torchvision Swin Transformer (features[-1][-1] with "
                         "attn): this method needs a Swin model (arch='swin')")
    return [m for m in model.modules() if isinstance(m, SwinTransformerBlock)][-1]


def _last_attention(model: nn.Module) -> ShiftedWindowAttention:
    """The window attention of the last block (V2's derives from V1's)."""
    from torchvision.models.swin_transformer import ShiftedWindowAttention

    attn = swin_last_block(model).attn
    assert isinstance(attn, ShiftedWindowAttention)  # what torchvision's blocks hold
    return attn


def swin_block_input(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, logits)``: the tokens entering the last block, ``(B, h, w, C)``, and the model's output."""
    store: dict[str, torch.Tensor] = {}
    handle = swin_last_block(model).register_forward_pre_hook(lambda m, args: store.__setitem__("x", args[0]))
    try:
        logits = model(images)
    finally:
        handle.remove()
    return store["x"], logits


def swin_keys(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Keys of the last block's attention for every token of ``x`` ``(B, h, w, C)``: ``(B, h w, C)``.

    ``k = W_k x + b_k`` (heads concatenated), with ``b_k = 0`` in a V2 block (its forward zeroes
    the key bias); the projection is per token, so windows do not change it.
    """
    attn = _last_attention(model)
    c = x.shape[-1]
    bias = None if attn.qkv.bias is None or getattr(attn, "logit_scale", None) is not None else attn.qkv.bias[c:2 * c]
    return F.linear(x.flatten(1, 2), attn.qkv.weight[c:2 * c], bias)


def _window_layout(attn: ShiftedWindowAttention, h: int, w: int) -> tuple[list[int], list[int], int, int]:
    """Window size, effective shift and padded size of a block on an ``h x w`` map (as its forward)."""
    ws = [int(v) for v in attn.window_size]
    pad_h, pad_w = h + (ws[0] - h % ws[0]) % ws[0], w + (ws[1] - w % ws[1]) % ws[1]
    shift = [int(v) for v in attn.shift_size]
    shift = [0 if ws[0] >= pad_h else shift[0], 0 if ws[1] >= pad_w else shift[1]]
    return ws, shift, pad_h, pad_w


def swin_received_attention(model: nn.Module, images: torch.Tensor, heads: str = "sum") -> torch.Tensor:
    r"""Attention each token of the last block receives, ``(B, h, w)``.

    ``a_j = mean_{i in window(j)} sum_heads softmax(...)_{ij}`` (``heads="mean"``: averaged over
    heads), from the block's own softmax (recorded during the forward pass), the windows undone:
    unshifted and cropped to the unpadded grid.
    """
    if heads not in ("mean", "sum"):
        raise ValueError(f"heads must be 'mean' or 'sum', got {heads!r}")
    attention = _last_attention(model)
    recorded: list[torch.Tensor] = []
    inside = [False]
    softmax = F.softmax

    def recording(*args: Any, **kwargs: Any) -> torch.Tensor:
        out = softmax(*args, **kwargs)
        if inside[0]:
            recorded.append(out)
        return out

    hooks = [attention.register_forward_pre_hook(lambda m, a: inside.__setitem__(0, True)),
             attention.register_forward_hook(lambda m, a, o: inside.__setitem__(0, False))]
    try:
        with torch.no_grad(), mock.patch.object(F, "softmax", recording):
            x, _ = swin_block_input(model, images)
    finally:
        for hook in hooks:
            hook.remove()
    b, h, w, _ = x.shape
    ws, shift, pad_h, pad_w = _window_layout(attention, h, w)
    attn = recorded[-1]  # (B * nW, heads, N, N)
    pooled = attn.sum(dim=1) if heads == "sum" else attn.mean(dim=1)
    received = pooled.mean(dim=1)  # (B * nW, N): mean over the queries of the window
    grid = received.reshape(b, pad_h // ws[0], pad_w // ws[1], ws[0], ws[1]).permute(0, 1, 3, 2, 4)
    grid = grid.reshape(b, pad_h, pad_w)
    if sum(shift):
        grid = torch.roll(grid, shifts=(shift[0], shift[1]), dims=(1, 2))
    return grid[:, :h, :w]
