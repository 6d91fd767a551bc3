"""Models of the sweep: any timm model by name, and the paper's torchvision networks.

The study (arXiv 2507.01722) prunes torchvision ResNet-18, ResNet-50 and ViT-B/32; those are
``torchvision.resnet18``, ``torchvision.resnet50`` and ``torchvision.vit_b_32`` here. Any other
name is a timm model (``timm.create_model``), with extra keyword arguments passed through (so a
config can shrink a ResNet's channels or a ViT's depth).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import torch
from torch import nn
from torch.nn.utils.prune import BasePruningMethod

from robustlab.common.config import check_fields
from robustlab.common.constraints import Exists, NonEmpty, PositiveInt
from robustlab.common.errors import CheckpointError, ConfigError, RobustlabError, UnknownNameError

#: The paper's torchvision networks, by the name a config uses.
TORCHVISION_MODELS = ("torchvision.resnet18", "torchvision.resnet50", "torchvision.vit_b_32", "torchvision.swin_v2_t")

#: Normalisation of every model here (ImageNet statistics, as torchvision and timm use).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ModelSpec:
    """What builds a model.

    Attributes:
        name: a timm model name or one of :data:`TORCHVISION_MODELS`.
        num_classes, img_size, in_chans: the task's.
        pretrained: load timm's (or torchvision's) pretrained weights; needs them cached offline.
        checkpoint: a local state-dict file to start from (a sweep checkpoint or a plain one).
        kwargs: extra keyword arguments of the model's constructor.
    """

    name: Annotated[str, NonEmpty()]
    num_classes: PositiveInt = 1000
    img_size: PositiveInt = 224
    in_chans: PositiveInt = 3
    pretrained: bool = False
    checkpoint: Annotated[str, Exists("file")] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


def known_models() -> list[str]:
    """Every model name :func:`create_model` accepts (timm's and the torchvision ones)."""
    import timm

    return [*TORCHVISION_MODELS, *timm.list_models()]


def create_model(spec: ModelSpec) -> nn.Module:
    """Build the model of ``spec``; clear errors for unknown names and impossible sizes.

    Args:
        spec: the model's description.

    Returns:
        The model, on CPU, in train mode.

    Raises:
        KeyError: unknown name (with close matches).
        ValueError: ``img_size`` not divisible by a ViT's patch size, a bad class count.
        RuntimeError: pretrained weights not available offline; a checkpoint that does not fit.
    """
    import timm

    check_fields(spec, "model")
    if spec.name in TORCHVISION_MODELS:
        model = _torchvision_model(spec)
    else:
        if not timm.is_model(spec.name):
            close = difflib.get_close_matches(spec.name, known_models(), n=5, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownNameError(f"unknown model {spec.name!r}{hint} (timm.list_models() lists timm's; "
                           f"the paper's are {', '.join(TORCHVISION_MODELS)})")
        kwargs = dict(spec.kwargs)
        if "patch_size" in kwargs:
            _check_patch(spec.name, spec.img_size, kwargs["patch_size"])
        if _is_vit_name(spec.name):
            kwargs.setdefault("img_size", spec.img_size)
        if spec.pretrained:
            _ensure_offline()
            if not _timm_weights_cached(spec.name):
                raise ConfigError(f"pretrained weights of {spec.name!r} are not available offline "
                                   "(not in the Hugging Face or torch hub cache; no download is "
                                   "attempted); set model.pretrained=false or give "
                                   "model.checkpoint=<local file>")
        try:
            model = timm.create_model(spec.name, pretrained=spec.pretrained,
                                      num_classes=spec.num_classes, in_chans=spec.in_chans, **kwargs)
        except (OSError, RuntimeError, ValueError) as err:
            if spec.pretrained:
                raise ConfigError(f"pretrained weights of {spec.name!r} are not available offline "
                                   f"({type(err).__name__}: {err}); set model.pretrained=false or "
                                   "give model.checkpoint=<local file>") from err
            raise
        patch_embed = getattr(model, "patch_embed", None)
        if patch_embed is not None and hasattr(patch_embed, "patch_size"):
            _check_patch(spec.name, spec.img_size, patch_embed.patch_size)
    if spec.checkpoint:
        load_weights(model, spec.checkpoint)
    return keep_functional_weights_masked(model)


def check_model_kwargs(spec: ModelSpec) -> None:
    """Refuse, naming them all, the ``model.kwargs`` that the model's constructor does not take.

    The model is built on PyTorch's ``meta`` device (shapes without memory or values: a few
    milliseconds), so that keywords meant for another model (an experiment's ``channels`` of
    a ResNet under ``model=timm model.name=convnext_atto``) are named before any data or
    training, not met as a ``TypeError`` from inside the model's constructor. A build that fails
    on ``meta`` for another reason is left to the real one.

    Raises:
        ConfigError: names the keywords and how to leave them out.
    """
    kwargs, refused = dict(spec.kwargs), []
    while (name := _refused_keyword(spec, kwargs)) is not None:
        refused.append(name)
        kwargs.pop(name)
    if refused:
        raise ConfigError(f"model.kwargs: {spec.name!r} takes no keyword {', '.join(refused)} (set for another "
                          f"model?); leave them out with {' '.join(f'~model.kwargs.{k}' for k in refused)}")


def _refused_keyword(spec: ModelSpec, kwargs: dict[str, Any]) -> str | None:
    """The keyword of ``kwargs`` that ``spec``'s constructor refuses first, built on ``meta``."""
    try:
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            create_model(dataclasses.replace(spec, kwargs=kwargs, pretrained=False, checkpoint=None))
    except RobustlabError:
        raise
    except TypeError as err:
        match = re.search(r"unexpected keyword argument '(\w+)'", str(err))
        return match.group(1) if match is not None and match.group(1) in kwargs else None
    except Exception:  # noqa: BLE001 - what meta tensors cannot do is the real build's to report
        return None
    return None


def _functional_children(module: nn.Module) -> tuple[nn.Module, ...]:
    """Children whose weight their parent reads directly, never calling their forward."""
    if isinstance(module, nn.MultiheadAttention):
        return (module.out_proj,)
    if type(module).__name__.startswith("ShiftedWindowAttention"):  # torchvision Swin
        return (module.get_submodule("qkv"), module.get_submodule("proj"))
    return ()


def keep_functional_weights_masked(model: nn.Module) -> nn.Module:
    """Make masks hold on weights that a parent reads without calling the child's forward.

    ``torch.nn.utils.prune`` recomputes ``weight = weight_orig * weight_mask`` in the pruned
    module's forward pre-hook; ``nn.MultiheadAttention`` reads ``out_proj.weight`` and torchvision's
    Swin attention reads ``qkv.weight`` and ``proj.weight`` inside their own forward, so the
    pre-hook never runs: the masked weight would stay the tensor of the first forward (its graph
    freed after the first backward) and miss every update of ``weight_orig``. A pre-hook on the
    parent recomputes its children's masked weights before each of its forward passes.
    """
    for module in model.modules():
        if _functional_children(module):
            module.register_forward_pre_hook(_remask)
    return model


def _remask(module: nn.Module, args: object) -> None:
    """Forward pre-hook: recompute the masked weights of ``module``'s functional children (a
    module-level function, so that copies and pickles of the model keep working on themselves)."""
    for child in _functional_children(module):
        for hook in list(child._forward_pre_hooks.values()):
            if isinstance(hook, BasePruningMethod):
                hook(child, args)


def _is_vit_name(name: str) -> bool:
    """Whether a timm model name is a patch-embedding transformer that takes ``img_size``."""
    return any(key in name for key in ("vit", "deit", "beit", "eva", "cait", "xcit", "swin"))


def _check_patch(name: str, img_size: int, patch: int | tuple[int, int]) -> None:
    p = patch[0] if isinstance(patch, (tuple, list)) else int(patch)
    if img_size % p != 0:
        raise ConfigError(f"model.img_size={img_size} is not divisible by the patch size {p} of "
                         f"{name!r}; use a multiple of {p} (e.g. {max(p, img_size // p * p)})")


def _ensure_offline() -> None:
    # Fail fast rather than hang when the hub is unreachable: huggingface_hub then uses only
    # its local cache (its constants are read at import, so they are set there too).
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import huggingface_hub.constants as hf_constants
    except ImportError:
        return
    hf_constants.HF_HUB_OFFLINE = True


def _timm_weights_cached(name: str) -> bool:
    """Whether timm's pretrained weights of ``name`` are already on this machine."""
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        return False
    if cfg.file and Path(cfg.file).is_file():
        return True
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        for filename in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
            if isinstance(try_to_load_from_cache(cfg.hf_hub_id, filename), str):
                return True
    if isinstance(cfg.url, str) and cfg.url:
        return (Path(torch.hub.get_dir()) / "checkpoints" / Path(cfg.url).name).is_file()
    return False


def _torchvision_model(spec: ModelSpec) -> nn.Module:
    import torchvision

    arch = spec.name.split(".", 1)[1]
    if spec.in_chans != 3:
        raise ConfigError(f"{spec.name} takes 3 input channels; got model.in_chans={spec.in_chans}")
    kwargs = dict(spec.kwargs)
    if arch.startswith("vit"):
        _check_patch(spec.name, spec.img_size, 32)
        kwargs.setdefault("image_size", spec.img_size)
    if spec.pretrained:
        weights = torchvision.models.get_model_weights(arch).DEFAULT
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        if not cache.exists():
            raise ConfigError(f"pretrained weights of {spec.name} are not cached at {cache} and no "
                               "download is attempted; set model.pretrained=false or give "
                               "model.checkpoint=<local file>")
        model = torchvision.models.get_model(arch, weights=weights, **kwargs)
        if spec.num_classes != 1000:
            _replace_head(model, spec.num_classes)
        return model
    return torchvision.models.get_model(arch, weights=None, num_classes=spec.num_classes, **kwargs)


def _replace_head(model: nn.Module, num_classes: int) -> None:
    # torchvision's classifier: ``fc`` (ResNet and kin), ``heads.head`` (ViT), ``head`` (Swin)
    path = "fc" if hasattr(model, "fc") else "heads.head" if hasattr(model, "heads") else "head"
    owner, _, name = path.rpartition(".")
    old = model.get_submodule(path)
    if not isinstance(old, nn.Linear):
        raise ConfigError(f"{type(model).__name__}: its classifier {path} is not a linear layer, so "
                          f"it cannot be resized to model.num_classes={num_classes}")
    setattr(model.get_submodule(owner), name, nn.Linear(old.in_features, num_classes))


def load_weights(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load a state dict (or a sweep checkpoint holding one under ``"model"``) into ``model``.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is damaged or holds more than tensors and plain containers.
        RuntimeError: the checkpoint does not fit the model (names the missing, unexpected and
            mis-shaped keys).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model checkpoint {path} does not exist")
    from robustlab.pruning.checkpoints import load_checkpoint

    state: Mapping[str, Any] = load_checkpoint(path)
    if isinstance(state, Mapping) and "model" in state and isinstance(state["model"], Mapping):
        state = state["model"]
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {_head(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_head(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches {_head(shapes)}")
        raise CheckpointError(f"checkpoint {path} does not fit the model: {'; '.join(parts)}")
    model.load_state_dict(state)


def _head(items: list[str], n: int = 4) -> str:
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def model_arch(model: nn.Module) -> str:
    """``"vit"`` for transformers with patch embeddings, ``"swin"`` for torchvision's Swin, else ``"cnn"``."""
    import torchvision

    if isinstance(model, torchvision.models.SwinTransformer):
        return "swin"
    if isinstance(model, torchvision.models.VisionTransformer) or hasattr(model, "patch_embed"):
        return "vit"
    return "cnn"


def classifier_head(model: nn.Module) -> nn.Module | None:
    """The final classification layer (timm's ``get_classifier``, torchvision's ``fc``/``heads``)."""
    get_classifier = getattr(model, "get_classifier", None)
    if callable(get_classifier):
        head = get_classifier()
        return head if isinstance(head, nn.Module) and not isinstance(head, nn.Identity) else None
    if hasattr(model, "fc"):
        return model.get_submodule("fc")
    if hasattr(model, "heads"):
        return model.get_submodule("heads.head")
    head = getattr(model, "head", None)
    return head if isinstance(head, nn.Linear) else None
