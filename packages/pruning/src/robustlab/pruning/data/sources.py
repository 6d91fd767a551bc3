"""One entry point for the sweep's data: build a source, iterate evaluation batches.

Evaluation batches are :class:`~robustlab.pruning.suites.EvalBatch` objects in a fixed order,
normalised on the device (the procedural dataset is rendered directly there). Training batches
come from :mod:`robustlab.pruning.data.loader`.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypedDict

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from robustlab.common.config import Seed, check_fields
from robustlab.common.constraints import (
    Increasing,
    Interval,
    NonEmpty,
    NonNegativeInt,
    OneOf,
    PositiveInt,
)
from robustlab.common.errors import ConfigError, DataError
from robustlab.common.threads import loader_worker_init
from robustlab.pruning.data.folders import ImageFolderData, VOCData
from robustlab.pruning.data.shapes import SHAPES, ShapesOnTextures
from robustlab.pruning.models import IMAGENET_MEAN, IMAGENET_STD
from robustlab.pruning.suites import EvalBatch

SOURCES = ("shapes", "imagefolder", "voc")
#: The smallest image side a sweep accepts (the procedural shapes need it).
MIN_IMG_SIZE = 8
#: A procedural shape's radius, as a fraction of the image side.
ShapeScale = Annotated[float, Interval(0.05, 0.5)]
#: One split of a source.
Split = ShapesOnTextures | ImageFolderData | VOCData


@dataclass
class DataSpec:
    """What data a sweep uses.

    Attributes:
        name: ``"shapes"`` (procedural), ``"imagefolder"`` or ``"voc"``.
        img_size: image side in pixels.
        root: the folder of an on-disk source.
        num_classes: procedural classes (folders have their own).
        train_size, val_size: procedural split sizes (0 on folders: all images).
        texture_correlation: procedural class-texture correlation.
        fresh_train: procedural only: epoch ``e > 0`` trains on draw ``e`` of the train split
            (:meth:`ShapesOnTextures.redrawn`), ``train_size`` images never seen before, so a
            long schedule does not overfit a fixed set; epoch 0 (and so every one-epoch
            retraining step) uses the split itself.
        scale: procedural shape radius range, fraction of the image side.
        seed: the procedural data seed (the same images for every sweep seed by default).
        cache: keep the rendered procedural splits in memory (uint8).
        cache_dir: also keep them in this folder, shared between runs (None: memory only).
        train_split, val_split: split names (folders: sub-folders / VOC image sets).
        year: Pascal VOC year.
        check_images: on-disk sources: decode every image of both splits once before
            training (in threads, with a progress bar); a file that does not decode is named.
        skip_bad_images: leave such files out (listed in the run's ``bad_images.csv``)
            instead of stopping.
    """

    name: Annotated[str, OneOf(*SOURCES)] = "shapes"
    img_size: Annotated[int, Interval(MIN_IMG_SIZE, None)] = 64
    root: str | None = None
    num_classes: PositiveInt = 6
    train_size: NonNegativeInt = 4000
    val_size: NonNegativeInt = 1000
    texture_correlation: Annotated[float, Interval(0, 1)] = 0.5
    fresh_train: bool = False
    scale: Annotated[tuple[ShapeScale, ShapeScale], Increasing(strict=False)] = (0.2, 0.38)
    seed: Seed = 0
    cache: bool = True
    cache_dir: str | None = None
    train_split: Annotated[str, NonEmpty()] = "train"
    val_split: Annotated[str, NonEmpty()] = "val"
    year: Annotated[str, NonEmpty()] = "2012"
    check_images: bool = True
    skip_bad_images: bool = False

    def validate(self) -> None:
        """Every field against its declared constraint, then the sizes procedural data needs,
        before any work (a :class:`ConfigError` naming the key).

        Procedural splits need at least one image and two classes (with one class every
        prediction is right: top-1 1.0 says nothing); on-disk sources ignore these keys.
        """
        check_fields(self, "data")
        if self.name != "shapes":
            return
        for key in ("train_size", "val_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"data.{key}: procedural data (data.name=shapes) needs at least 1 image; "
                                  f"got {getattr(self, key)!r}")
        if not 2 <= self.num_classes <= len(SHAPES):
            raise ConfigError(f"data.num_classes: procedural data has 2 to {len(SHAPES)} classes (one per shape; "
                              f"with one class, top-1 is 1.0 by construction); got {self.num_classes!r}")


@dataclass
class DataBundle:
    """Built data: the splits, the class names, normalisation and extras for the suites."""

    spec: DataSpec
    train: Split
    val: Split
    classes: list[str]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def procedural(self) -> bool:
        return isinstance(self.train, ShapesOnTextures)


def build_data(spec: DataSpec, device: str | torch.device = "cpu", report_dir: Path | None = None,
               progress: bool = True) -> DataBundle:
    """Build the data of ``spec`` (procedural splits are rendered on ``device``).

    Args:
        report_dir: where ``bad_images.csv`` goes when ``spec.skip_bad_images`` leaves files out.
        progress: show the image check's progress bars.

    Raises:
        ValueError: an unknown source name, a missing root, ``fresh_train`` on on-disk data.
        FileNotFoundError: an on-disk source whose folder is missing (names the expected layout).
        DataError: an on-disk image that does not decode (unless ``skip_bad_images``).
    """
    spec.validate()
    if spec.fresh_train and spec.name != "shapes":
        raise ConfigError(f"data.fresh_train=true needs procedural data (data.name=shapes); "
                         f"data.name={spec.name!r} has a fixed training set")
    if spec.name == "shapes":
        shapes = functools.partial(
            ShapesOnTextures, num_classes=spec.num_classes, img_size=spec.img_size, seed=spec.seed,
            texture_correlation=spec.texture_correlation, scale=(spec.scale[0], spec.scale[1]),
            device=device, cache=spec.cache, cache_dir=spec.cache_dir)
        train = shapes(size=spec.train_size, split=spec.train_split)
        val = shapes(size=spec.val_size, split=spec.val_split)
        return DataBundle(spec, train, val, list(train.classes),
                          extras={"shapes": val, "has_masks": True})
    if not spec.root:
        raise ConfigError(f"data.root is required for data source {spec.name!r}")
    check_root(spec.root, "data.root")
    check = _ImageCheck(check=spec.check_images, skip_bad=spec.skip_bad_images, report_dir=report_dir,
                        progress=progress)
    if spec.name == "imagefolder":
        folders = ImageFolderData(spec.root, spec.train_split, spec.img_size, train=True, **check)
        folders_val = ImageFolderData(spec.root, spec.val_split, spec.img_size, train=False, **check)
        check_classes(spec, folders.classes, folders_val.classes)
        return DataBundle(spec, folders, folders_val, folders.classes, extras={"has_masks": False})
    voc = VOCData(spec.root, spec.year, spec.train_split, spec.img_size, **check)
    voc_val = VOCData(spec.root, spec.year, spec.val_split, spec.img_size, **check)
    return DataBundle(spec, voc, voc_val, voc.classes, extras={"has_masks": True})


class _ImageCheck(TypedDict):
    """How an on-disk source checks its images (the keywords of its constructor)."""

    check: bool
    skip_bad: bool
    report_dir: Path | None
    progress: bool


def check_root(root: str, key: str) -> None:
    """A root folder that does not resolve because of a symbolic-link loop is named as such.

    Raises:
        ConfigError: naming ``key``, the path and the loop (a missing folder is left to the
            source, whose message shows the expected layout).
    """
    try:
        Path(root).expanduser().resolve(strict=True)
    except FileNotFoundError:
        return
    except (OSError, RuntimeError) as exc:  # ELOOP; Python < 3.13 raises RuntimeError("Symlink loop ...")
        if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP:
            raise ConfigError(f"{key}: {root} cannot be resolved: a symbolic-link loop ({exc}); "
                              f"point {key} at the real folder") from exc
        raise


def check_classes(spec: DataSpec, train: list[str], val: list[str]) -> None:
    """The two splits of an ImageFolder have the same class folders, and at least two.

    Raises:
        DataError: naming the classes found in one split only, or the single class.
    """
    if train != val:
        only = [f"only in {split} ({', '.join(sorted(set(a) - set(b)))})"
                for split, a, b in ((spec.train_split, train, val), (spec.val_split, val, train)) if set(a) - set(b)]
        raise DataError(f"ImageFolder {spec.root}: the {spec.train_split} and {spec.val_split} splits have "
                        f"different class folders: {'; '.join(only)}; give both splits the same classes")
    if len(train) < 2:
        raise DataError(f"ImageFolder {spec.root}: one class folder ({', '.join(train)}); a classifier needs at "
                        "least 2 (with one, top-1 is 1.0 by construction)")


def worker_loader(dataset: Dataset, **kwargs: Any) -> DataLoader:
    """A ``DataLoader`` whose worker processes run one thread in each pool (BLAS, OpenMP, torch).

    Every loader of the project is made here: ``num_workers`` workers beside the training or
    evaluating process never start a thread per core each (:mod:`robustlab.common.threads`).
    """
    return DataLoader(dataset, worker_init_fn=loader_worker_init, **kwargs)


def _normalize(images: torch.Tensor, bundle: DataBundle) -> torch.Tensor:
    mean = torch.tensor(bundle.mean, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(bundle.std, device=images.device).view(1, -1, 1, 1)
    return (images - mean) / std


def _collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "image": torch.stack([it["image"] for it in items]),
        "label": torch.tensor([int(it["label"]) for it in items]),
        "mask": torch.stack([it["mask"] for it in items]),
        "box": [np.asarray(it["box"], dtype=np.float32).reshape(-1, 4) for it in items],
        "index": torch.tensor([int(it["index"]) for it in items]),
    }


def eval_batches(bundle: DataBundle, batch_size: int, device: torch.device,
                 max_images: int | None = None, num_workers: int = 0, *, rank: int = 0,
                 world_size: int = 1) -> Iterator[EvalBatch]:
    """The held-out split as :class:`EvalBatch` objects, in index order.

    Args:
        bundle: the data.
        batch_size: images per batch.
        device: where images, labels and masks go.
        max_images: stop after this many images (the first ones, always the same).
        num_workers: loader workers for on-disk sources.
        rank, world_size: evaluate only block ``rank`` of ``world_size`` contiguous blocks of
            those images (sharded evaluation; the per-image values do not depend on the split).
    """
    n = len(bundle.val) if max_images is None else min(int(max_images), len(bundle.val))
    first, n = n * rank // world_size, n * (rank + 1) // world_size
    if isinstance(ds := bundle.val, ShapesOnTextures):
        for i in range(first, n, batch_size):
            idx = torch.arange(i, min(i + batch_size, n))
            images, masks, boxes = ds.render_indices(idx)
            yield EvalBatch(images=_normalize(images.to(device), bundle),
                            labels=ds.labels[idx].to(device), masks=masks.to(device),
                            boxes=[b.reshape(1, 4).cpu().numpy() for b in boxes], index=idx)
        return
    subset = torch.utils.data.Subset(bundle.val, range(first, n))
    loader = worker_loader(subset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                           collate_fn=_collate)
    for batch in loader:
        yield EvalBatch(images=_normalize(batch["image"].to(device), bundle),
                        labels=batch["label"].to(device), masks=batch["mask"].to(device),
                        boxes=batch["box"], index=batch["index"])
