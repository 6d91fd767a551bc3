"""Sweep checkpoints: tensors and plain containers only, read back without running any code.

A checkpoint is a ``torch.save`` file of a dict of tensors, numbers, strings, lists and dicts,
and is read with ``torch.load(..., weights_only=True)``: PyTorch's restricted unpickler, which
builds tensors and containers and refuses every other object. A planted or damaged file is
refused with a :class:`~robustlab.common.errors.CheckpointError` naming it; none of its code
runs. A sweep folder is often shared, so nothing read back from it is trusted further.

A structurally pruned network (Torch-Pruning removes channels) is stored as its plain state
dict: :func:`resize_to_state` gives a freshly built model the stored tensor shapes and updates
the size attributes of the standard layers (convolutions, linear layers, norms, attention), so
the state dict loads. Torch-Pruning's own ``tp.state_dict`` copies every module's ``__dict__``
and needs a full unpickler to be read back; it is not used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robustlab.common.errors import CheckpointError
from robustlab.common.io import atomic_path


def save_checkpoint(path: str | os.PathLike[str], state: Mapping[str, Any]) -> Path:
    """Write ``state`` (tensors and plain containers) atomically to ``path``; return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(dict(state), tmp)
    return path


def load_checkpoint(path: str | os.PathLike[str],
                    advice: str = "delete it and that step runs again") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; ``advice`` ends the error message.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is damaged, not a checkpoint, or holds anything but tensors
            and plain containers (a pickle planted to run code is refused here, unexecuted).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types for a bad file
        raise CheckpointError(f"checkpoint {path} cannot be read as tensors and plain containers "
                              f"({_reason(exc)}); it is damaged or was not written by this "
                              f"project: {advice}") from exc
    if not isinstance(state, Mapping):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a dict; {advice}")
    return dict(state)


def _reason(exc: Exception) -> str:
    """The cause in ``torch.load``'s message, without its advice to load with ``weights_only=False``."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if lines and lines[0].startswith("Weights only load failed"):
        lines = [line for line in lines[1:] if not line.startswith(("Please file an issue", "Check the "))]
    return f"{type(exc).__name__}: {(lines or ['no detail'])[0][:200]}"


def resize_to_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> list[str]:
    """Give ``model``'s parameters and buffers the shapes they have in ``state``.

    The values are left for ``load_state_dict``; only shapes and the layers' size attributes
    (``in_channels``, ``out_features``, ``num_features``, ``normalized_shape``, ``embed_dim``,
    ``head_dim``, ...) change. Returns the names of the resized modules.
    """
    resized = []
    for name, module in model.named_modules():
        changed = False
        for store in (module._parameters, module._buffers):
            for key, tensor in list(store.items()):
                full = f"{name}.{key}" if name else key
                if tensor is None or full not in state or state[full].shape == tensor.shape:
                    continue
                new = torch.empty(state[full].shape, dtype=tensor.dtype, device=tensor.device)
                store[key] = (nn.Parameter(new, requires_grad=tensor.requires_grad)
                              if isinstance(tensor, nn.Parameter) else new)
                changed = True
        if changed:
            _fix_sizes(module)
            resized.append(name)
    from robustlab.pruning.methods.structured import sync_attention_sizes

    sync_attention_sizes(model)  # timm attention keeps its sizes beside its qkv layer
    return resized


def _fix_sizes(module: nn.Module) -> None:
    """Set a resized layer's size attributes from its tensors (as Torch-Pruning's pruners do)."""
    if isinstance(module, nn.modules.conv._ConvNd) and not module.transposed:
        out, per_group = module.weight.shape[:2]
        if module.groups > 1 and module.groups == module.in_channels:  # depthwise
            multiplier = module.out_channels // module.groups
            module.groups = out // multiplier
        module.out_channels, module.in_channels = out, per_group * module.groups
    elif isinstance(module, nn.Linear):
        module.out_features, module.in_features = module.weight.shape
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        module.num_features = (module.weight if module.weight is not None else module.running_mean).shape[0]
    elif isinstance(module, nn.LayerNorm):
        module.normalized_shape = tuple(module.weight.shape)
    elif isinstance(module, nn.GroupNorm):
        module.num_channels = module.weight.shape[0]
    elif isinstance(module, nn.MultiheadAttention) and module.in_proj_weight is not None:
        module.embed_dim = module.kdim = module.vdim = module.in_proj_weight.shape[1]
        module.head_dim = module.embed_dim // module.num_heads
