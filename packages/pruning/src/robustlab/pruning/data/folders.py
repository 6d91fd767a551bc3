"""Datasets on disk: ImageFolder (ImageNet layout) and Pascal VOC 2007/2012 (no download).

Both return the same item dicts as the procedural dataset (``image`` float ``(3, H, W)`` in
[0, 1] resized to ``img_size``, ``label``, ``mask``, ``box``, ``index``), so the sweep and the
suites treat every source alike. Every image is decoded once before training
(:mod:`robustlab.pruning.data.verify`): a file that does not decode is named, or left out with
``skip_bad_images``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from robustlab.common.errors import DataError
from robustlab.pruning.data.verify import check_images, open_rgb, refuse_or_skip
from robustlab.pruning.data.voc import VOC_CLASSES, read_annotation

#: Pascal VOC's 20 object classes, in the order of the segmentation palette indices 1..20.
IMAGEFOLDER_LAYOUT = "<root>/<split>/<class name>/<image files> (ImageNet layout)"
VOC_LAYOUT = ("<root>/VOCdevkit/VOC<year>/{JPEGImages, Annotations, SegmentationClass, "
              "ImageSets/Segmentation/<split>.txt}")


def _transform(img_size: int, train: bool) -> Any:
    from torchvision import transforms as T

    if train:
        return T.Compose([T.RandomResizedCrop(img_size), T.RandomHorizontalFlip(), T.ToTensor()])
    return T.Compose([T.Resize(int(round(img_size / 0.875))), T.CenterCrop(img_size), T.ToTensor()])


def visible_file(path: str) -> bool:
    """Whether ImageFolder lists ``path``: every file whose name does not start with a dot."""
    return not Path(path).name.startswith(".")


class ImageFolderData(Dataset):
    """An ImageFolder split (``<root>/<split>/<class>/<image>``) as sweep items.

    Training items are random-resized crops with flips; evaluation items are resized and
    centre-cropped (the ImageNet protocol, crop ratio 0.875). There are no object masks: ``mask``
    is all False and ``box`` is the whole image.

    Args:
        check: decode every image once now (see :mod:`robustlab.pruning.data.verify`).
        skip_bad: leave out the images that do not decode (listed in ``report_dir``'s
            ``bad_images.csv``) instead of stopping.

    Raises:
        FileNotFoundError: the split folder is missing (names it and the expected layout).
        DataError: an image does not decode (names it), unless ``skip_bad``.
    """

    def __init__(self, root: str | Path, split: str, img_size: int, train: bool, check: bool = False,
                 skip_bad: bool = False, report_dir: Path | None = None, progress: bool = True):
        from torchvision.datasets import ImageFolder

        folder = Path(root).expanduser() / split
        if not folder.is_dir():
            raise FileNotFoundError(f"ImageFolder split {folder} does not exist; expected {IMAGEFOLDER_LAYOUT}")
        # Every file but hidden ones (not only torchvision's list of extensions, which leaves
        # out .gif and others silently): what Pillow cannot decode is named by the check.
        self.folder = ImageFolder(str(folder), transform=_transform(img_size, train), loader=open_rgb,
                                  is_valid_file=visible_file)
        self.classes = list(self.folder.classes)
        self.img_size = img_size
        if check:
            what = f"ImageFolder {split!r} split"
            bad = check_images([p for p, _ in self.folder.samples], what, progress=progress)
            refuse_or_skip(bad, what, skip_bad, report_dir)
            self.folder.samples = [(p, t) for p, t in self.folder.samples if p not in bad]
            self.folder.imgs = self.folder.samples
            self.folder.targets = [t for _, t in self.folder.samples]

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image, label = self.folder[index]
        s = self.img_size
        return {"image": image, "label": int(label), "mask": torch.zeros(s, s, dtype=torch.bool),
                "box": torch.tensor([0.0, 0.0, float(s), float(s)]), "index": int(index)}


class VOCData(Dataset):
    """Pascal VOC segmentation split with boxes and class masks, resized to a square.

    The label is the class of the largest annotated object (VOC is multi-label; a single label
    lets accuracy be measured); the mask is the union of object pixels (palette index not in
    {0, 255}: 0 is background, 255 the void border); the boxes are every annotated object's.

    Args:
        check, skip_bad, report_dir, progress: as for :class:`ImageFolderData` (images and
            segmentation masks are decoded).

    Raises:
        FileNotFoundError: a missing folder or split file (names it and the expected layout).
        DataError: an image or mask does not decode (names it), unless ``skip_bad``.
    """

    def __init__(self, root: str | Path, year: str, split: str, img_size: int, check: bool = False,
                 skip_bad: bool = False, report_dir: Path | None = None, progress: bool = True):
        from torchvision.datasets import VOCSegmentation

        base = Path(root).expanduser() / "VOCdevkit" / f"VOC{year}"
        for needed in ("JPEGImages", "Annotations", "SegmentationClass", f"ImageSets/Segmentation/{split}.txt"):
            if not (base / needed).exists():
                raise FileNotFoundError(f"Pascal VOC {year}: {base / needed} does not exist; expected {VOC_LAYOUT}")
        self.seg = VOCSegmentation(str(Path(root).expanduser()), year=str(year), image_set=split, download=False)
        self.annotations = base / "Annotations"
        self.classes = list(VOC_CLASSES)
        self.img_size = img_size
        if check:
            what = f"Pascal VOC {year} {split}"
            bad = check_images([*self.seg.images, *self.seg.masks], what, progress=progress)
            refuse_or_skip(bad, what, skip_bad, report_dir)
            keep = [i for i, (a, b) in enumerate(zip(self.seg.images, self.seg.masks, strict=True))
                    if a not in bad and b not in bad]
            self.seg.images = [self.seg.images[i] for i in keep]
            self.seg.targets = [self.seg.targets[i] for i in keep]  # `masks` reads `targets`

    def __len__(self) -> int:
        return len(self.seg)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms.functional import pil_to_tensor, resize

        try:
            image, target = self.seg[index]
        except (OSError, SyntaxError, ValueError) as exc:
            raise DataError(f"{self.seg.images[index]} or {self.seg.masks[index]}: cannot decode "
                            f"({exc}); fix or remove it, or set data.skip_bad_images=true") from exc
        w, h = image.size
        s = self.img_size
        pixels = resize(pil_to_tensor(image), [s, s], antialias=True).float() / 255.0
        palette = resize(pil_to_tensor(target), [s, s], interpolation=InterpolationMode.NEAREST)[0]
        mask = (palette != 0) & (palette != 255)

        # VOC boxes are 1-based and inclusive; read as 0-based with exclusive ends, then resized.
        _, objects = read_annotation(self.annotations / f"{Path(self.seg.images[index]).stem}.xml")
        scale = (s / w, s / h, s / w, s / h)
        boxes = [[c * f for c, f in zip(o.box, scale, strict=True)] for o in objects]
        names = [o.name for o in objects]
        box_array = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        areas = (box_array[:, 2] - box_array[:, 0]) * (box_array[:, 3] - box_array[:, 1])
        label = VOC_CLASSES.index(names[int(np.argmax(areas))]) if names else 0
        return {"image": pixels, "label": label, "mask": mask, "box": torch.from_numpy(box_array),
                "index": int(index)}
