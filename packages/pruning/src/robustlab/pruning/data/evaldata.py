"""Evaluation data apart from the training data: what one suite measures on.

Each suite may name its own data (``eval.suites.<suite>.data``); without it the suite reads the
sweep's held-out split as before. The study (arXiv 2507.01722) trains on ImageNet and measures
attributions on Pascal VOC segmentations, object discovery on VOC boxes and alignment on
model-vs-human's stimuli; so the classes of an evaluation set need not be the model's.

A :class:`EvalSource` gives the suite's :class:`~robustlab.pruning.suites.EvalBatch` objects,
normalised as the model expects. VOC images keep their own size and are padded at the bottom
and right, after normalisation, with zeros to a multiple of the network's output stride (the
study's input); images of one padded size are batched together, so the padding of an image
never depends on its batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import nn

from robustlab.common.config import check_fields, from_dict
from robustlab.common.constraints import NonEmpty, NonNegativeInt, OneOf, PositiveInt, Unique
from robustlab.common.errors import ConfigError
from robustlab.pruning.data.sources import DataBundle, check_root, eval_batches, worker_loader
from robustlab.pruning.data.voc import GT_MASKS, VOCEvalData, padded_size
from robustlab.pruning.suites import EvalBatch

#: Bundled evaluation data (``conf/pruning/eval/suites/<suite>/data/<name>.yaml``).
EVAL_DATA = ("voc_segmentation", "voc_detection", "coco20k", "modelvshuman")
_VOC_TASKS = {"voc_segmentation": "segmentation", "voc_detection": "detection"}
MODELVSHUMAN_LAYOUT = "<root>/datasets/<dataset>/... (stimuli) and <root>/raw-data/<dataset>/*.csv (observers)"


@dataclass
class EvalDataSpec:
    """One suite's evaluation data.

    Attributes:
        name: one of :data:`EVAL_DATA`.
        root: the local copy (VOC: the folder holding ``VOCdevkit/`` or ``VOC<year>/``;
            model-vs-human: the folder holding its ``datasets/`` and ``raw-data/``).
        year, split: VOC year (``"2007"``, ``"2012"``) and image set (``val``, ``trainval``...).
        gt_mask: ``"classes"`` (object pixels from the class indices) or ``"red_channel"`` (the
            study's reading, a reproduction: :func:`~robustlab.pruning.data.voc.red_channel_mask`).
        resize: None: full resolution, padded to ``pad_multiple``; or a square side in pixels.
        pad_multiple: padding multiple (None: the network's output stride, 32 for a ResNet).
        num_workers: image-decoding workers.
        datasets: model-vs-human only: which of its 17 datasets (None: every one on disk).
        annotations, image_list: COCO20k only: the instances JSON and the list of file names
            (``root`` is then the folder of the train2014 JPEGs; :mod:`robustlab.pruning.data.coco`).
        no_hards: VOC detection: leave out truncated and difficult objects, and images left
            without objects (LOST's ``--no_hard``).
        paper_image_selection: VOC segmentation: the study's image set and mean divisor, a
            reproduction (:func:`~robustlab.pruning.data.voc.paper_image_ids`).
    """

    name: Annotated[str, OneOf(*EVAL_DATA)]
    root: str | None = None
    year: Annotated[str, NonEmpty()] = "2012"
    split: Annotated[str, NonEmpty()] = "val"
    gt_mask: Annotated[str, OneOf(*GT_MASKS)] = "classes"
    resize: PositiveInt | None = None
    pad_multiple: PositiveInt | None = None
    num_workers: NonNegativeInt = 0
    datasets: Annotated[list[str], NonEmpty(), Unique()] | None = None
    annotations: str | None = None
    image_list: str | None = None
    no_hards: bool = False
    paper_image_selection: bool = False

    def validate(self, where: str = "eval.suites.<suite>.data") -> None:
        """Clear errors on a bad option or a missing root, before any work (named under ``where``)."""
        check_fields(self, where)
        if not self.root:
            raise ConfigError(f"{where}.root: evaluation data {self.name!r} needs a root folder")
        check_root(self.root, f"{where}.root")
        if self.name == "coco20k" and not (self.annotations and self.image_list):
            raise ConfigError("evaluation data 'coco20k' needs annotations (the instances JSON) and image_list "
                              "(the file names, one per line): eval.suites.<suite>.data.annotations / .image_list")


@dataclass
class EvalSource:
    """Evaluation data ready for a suite.

    Attributes:
        name: the data's name in the tables (``training`` for the sweep's own held-out split).
        classes: its class names (labels index them).
        has_masks: whether batches carry object masks and boxes.
        batches: ``batches(max_images=None)`` -> iterator of :class:`EvalBatch`.
        extras: what a suite may read besides (e.g. the procedural generator).
    """

    name: str
    classes: list[str]
    has_masks: bool
    batches: Callable[..., Iterator[EvalBatch]]
    extras: dict[str, Any] = field(default_factory=dict)


def eval_data_spec(options: dict[str, Any] | EvalDataSpec, where: str = "eval.suites.<suite>.data") -> EvalDataSpec:
    """An :class:`EvalDataSpec` from a suite's ``data`` options (at config key ``where``),
    validated before any training: a bad key or value is a :class:`ConfigError` naming it, a
    missing folder or split file a ``FileNotFoundError`` naming it and the expected layout."""
    spec = options if isinstance(options, EvalDataSpec) else from_dict(EvalDataSpec, options, where)
    spec.validate(where)
    if spec.name == "modelvshuman":
        _modelvshuman_source(spec)
    else:
        _image_dataset(spec)
    return spec


def _image_dataset(spec: EvalDataSpec) -> Any:
    """The VOC or COCO20k dataset of ``spec`` (raises on a missing folder or file)."""
    if spec.name == "coco20k":
        from robustlab.pruning.data.coco import COCODetectionEvalData

        return COCODetectionEvalData(str(spec.root), str(spec.annotations), str(spec.image_list), resize=spec.resize)
    return VOCEvalData(str(spec.root), spec.year, spec.split, task=_VOC_TASKS[spec.name], gt_mask=spec.gt_mask,
                       resize=spec.resize, no_hards=spec.no_hards, paper_image_selection=spec.paper_image_selection)


def check_arch(suites: Mapping[str, Mapping[str, Any] | None], arch: str) -> None:
    """Refuse, before training, evaluation data at full resolution for a ViT (fixed input size)."""
    for name, options in suites.items():
        data = (options or {}).get("data") or {}
        if arch == "vit" and data and data.get("name") != "modelvshuman" and data.get("resize") is None:
            raise ConfigError(f"eval.suites.{name}.data: a ViT's position embeddings fix its input size; "
                              f"set eval.suites.{name}.data.resize to the model's img_size")


def training_source(bundle: DataBundle, batch_size: int, device: torch.device) -> EvalSource:
    """The sweep's held-out split, as every suite read it before evaluation data existed."""

    def batches(max_images: int | None = None) -> Iterator[EvalBatch]:
        return eval_batches(bundle, batch_size, device, max_images)

    return EvalSource("training", list(bundle.classes), bool(bundle.extras.get("has_masks", False)),
                      batches, dict(bundle.extras))


def output_stride(model: nn.Module, arch: str, img_size: int) -> int:
    """The pixels per cell of the last feature map: a ViT's patch side, a CNN's output stride."""
    from robustlab.pruning.interpret.layers import feature_grid, find_last_conv_block, model_device

    if arch == "swin":
        from robustlab.pruning.interpret.swin import swin_block_input

        with torch.no_grad():
            x, _ = swin_block_input(model, torch.zeros(1, 3, img_size, img_size, device=model_device(model)))
        return max(1, int(round(img_size / x.shape[1])))
    if arch == "vit":
        embed = getattr(model, "patch_embed", None)
        patch = getattr(model, "patch_size", None) or getattr(embed, "patch_size", None) or 16
        return int(patch[0] if isinstance(patch, (tuple, list)) else patch)
    probe = torch.zeros(1, 3, img_size, img_size, device=model_device(model))
    with torch.no_grad():
        name, _ = find_last_conv_block(model, probe)
        return max(1, int(round(feature_grid(model, name, probe).stride[0])))


def build_eval_source(spec: EvalDataSpec, *, mean: tuple[float, ...], std: tuple[float, ...],
                      batch_size: int, device: torch.device, multiple: int, arch: str) -> EvalSource:
    """The :class:`EvalSource` of ``spec`` (VOC segmentation or detection, or model-vs-human).

    Args:
        spec: the data.
        mean, std: the model's input normalisation.
        batch_size: images per batch (at most; a batch holds images of one padded size).
        device: where batches go.
        multiple: the padding multiple when ``spec.pad_multiple`` is None.
        arch: ``"cnn"``, ``"vit"`` (a ViT's position embeddings fix its input size) or ``"swin"``.

    Raises:
        ValueError: a bad spec, or full resolution asked of a ViT.
    """
    spec.validate()
    if spec.name == "modelvshuman":
        return _modelvshuman_source(spec)
    check_arch({"<suite>": {"data": {"name": spec.name, "resize": spec.resize}}}, arch)
    dataset = _image_dataset(spec)
    pad = int(spec.pad_multiple or multiple)

    def batches(max_images: int | None = None) -> Iterator[EvalBatch]:
        return voc_batches(dataset, mean, std, batch_size, device, pad, max_images, spec.num_workers)

    extras = {"voc": dataset, "mean_denominator": getattr(dataset, "mean_denominator", None)}
    return EvalSource(dataset.name, list(dataset.classes), True, batches, extras)


def _modelvshuman_source(spec: EvalDataSpec) -> EvalSource:
    """model-vs-human's stimuli and observers: the alignment suite runs its benchmark on them."""
    from pathlib import Path

    root = Path(str(spec.root)).expanduser()
    for folder in ("datasets", "raw-data"):
        if not (root / folder).is_dir():
            raise FileNotFoundError(f"model-vs-human: {root / folder} does not exist; expected {MODELVSHUMAN_LAYOUT}")
    options = {"datasets_root": root / "datasets", "raw_data": root / "raw-data",
               "datasets": list(spec.datasets) if spec.datasets else None}
    return EvalSource("modelvshuman", [], False, lambda max_images=None: iter(()), {"modelvshuman": options})


def _size_groups(dataset: Any, n: int, multiple: int, batch_size: int) -> list[list[int]]:
    """Index batches: images of one padded size together, in order of first appearance."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i in range(n):
        height, width = dataset.image_size(i)
        groups.setdefault(padded_size(height, width, multiple), []).append(i)
    return [idx[s:s + batch_size] for idx in groups.values() for s in range(0, len(idx), batch_size)]


def _collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"image": [it["image"] for it in items], "mask": [it["mask"] for it in items],
            "label": torch.tensor([int(it["label"]) for it in items]),
            "box": [it["box"].numpy() for it in items], "index": torch.tensor([int(it["index"]) for it in items])}


def _pad(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Zeros at the bottom and right of ``(..., H, W)`` up to ``size``."""
    return F.pad(x, (0, size[1] - x.shape[-1], 0, size[0] - x.shape[-2]))


def voc_batches(dataset: Any, mean: tuple[float, ...], std: tuple[float, ...], batch_size: int,
                device: torch.device, multiple: int, max_images: int | None = None,
                num_workers: int = 0) -> Iterator[EvalBatch]:
    """Normalised, zero-padded batches of the first ``max_images`` images (all when None).

    Every image is normalised, then padded at the bottom and right to a multiple of
    ``multiple``; masks are padded with background. Batches hold images of one padded size.
    """
    n = len(dataset) if max_images is None else min(int(max_images), len(dataset))
    m = torch.tensor(mean, dtype=torch.float32, device=device).view(-1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=device).view(-1, 1, 1)
    loader = worker_loader(dataset, batch_sampler=_size_groups(dataset, n, multiple, batch_size),
                           num_workers=num_workers, collate_fn=_collate)
    for batch in loader:
        height, width = batch["image"][0].shape[-2:]
        size = padded_size(height, width, multiple)
        images = torch.stack([_pad((img.to(device) - m) / s, size) for img in batch["image"]])
        masks = torch.stack([_pad(mk.to(device, torch.uint8), size) for mk in batch["mask"]]).bool()
        yield EvalBatch(images=images, labels=batch["label"].to(device), masks=masks,
                        boxes=batch["box"], index=batch["index"])
