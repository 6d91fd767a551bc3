"""Datasets on disk: ImageFolder (ImageNet layout) and Pascal VOC 2007/2012 (no download).

Both return the same item dicts as the procedural dataset (``image`` float ``(3, H, W)`` in
[0, 1] resized to ``img_size``, ``label``, ``mask``, ``box``, ``index``), so the sweep and the
suites treat every source alike.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

#: Pascal VOC's 20 object classes, in the order of the segmentation palette indices 1..20.
VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)

IMAGEFOLDER_LAYOUT = "<root>/<split>/<class name>/<image files> (ImageNet layout)"
VOC_LAYOUT = ("<root>/VOCdevkit/VOC<year>/{JPEGImages, Annotations, SegmentationClass, "
              "ImageSets/Segmentation/<split>.txt}")


def _transform(img_size: int, train: bool) -> Any:
    from torchvision import transforms as T

    if train:
        return T.Compose([T.RandomResizedCrop(img_size), T.RandomHorizontalFlip(), T.ToTensor()])
    return T.Compose([T.Resize(int(round(img_size / 0.875))), T.CenterCrop(img_size), T.ToTensor()])


class ImageFolderData(Dataset):
    """An ImageFolder split (``<root>/<split>/<class>/<image>``) as sweep items.

    Training items are random-resized crops with flips; evaluation items are resized and
    centre-cropped (the ImageNet protocol, crop ratio 0.875). There are no object masks: ``mask``
    is all False and ``box`` is the whole image.

    Raises:
        FileNotFoundError: the split folder is missing (names it and the expected layout).
    """

    def __init__(self, root: str | Path, split: str, img_size: int, train: bool):
        from torchvision.datasets import ImageFolder

        folder = Path(root).expanduser() / split
        if not folder.is_dir():
            raise FileNotFoundError(f"ImageFolder split {folder} does not exist; expected {IMAGEFOLDER_LAYOUT}")
        self.folder = ImageFolder(str(folder), transform=_transform(img_size, train))
        self.classes = list(self.folder.classes)
        self.img_size = img_size

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

    Raises:
        FileNotFoundError: a missing folder or split file (names it and the expected layout).
    """

    def __init__(self, root: str | Path, year: str, split: str, img_size: int):
        from torchvision.datasets import VOCSegmentation

        base = Path(root).expanduser() / "VOCdevkit" / f"VOC{year}"
        for needed in ("JPEGImages", "Annotations", "SegmentationClass", f"ImageSets/Segmentation/{split}.txt"):
            if not (base / needed).exists():
                raise FileNotFoundError(f"Pascal VOC {year}: {base / needed} does not exist; expected {VOC_LAYOUT}")
        self.seg = VOCSegmentation(str(Path(root).expanduser()), year=str(year), image_set=split, download=False)
        self.annotations = base / "Annotations"
        self.classes = list(VOC_CLASSES)
        self.img_size = img_size

    def __len__(self) -> int:
        return len(self.seg)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms.functional import pil_to_tensor, resize

        image, target = self.seg[index]
        w, h = image.size
        s = self.img_size
        pixels = resize(pil_to_tensor(image), [s, s], antialias=True).float() / 255.0
        palette = resize(pil_to_tensor(target), [s, s], interpolation=InterpolationMode.NEAREST)[0]
        mask = (palette != 0) & (palette != 255)
        xml = self.annotations / f"{Path(self.seg.images[index]).stem}.xml"
        boxes, names = [], []
        for obj in ET.parse(xml).getroot().iter("object"):
            b = obj.find("bndbox")
            if b is None:
                raise ValueError(f"{xml}: an <object> has no <bndbox>")
            # VOC boxes are 1-based and inclusive; to 0-based, exclusive ends, then resized.
            x0, y0, x1, y1 = (float(b.findtext(k, "nan")) for k in ("xmin", "ymin", "xmax", "ymax"))
            boxes.append([(x0 - 1) * s / w, (y0 - 1) * s / h, x1 * s / w, y1 * s / h])
            names.append(obj.findtext("name", ""))
        box_array = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        areas = (box_array[:, 2] - box_array[:, 0]) * (box_array[:, 3] - box_array[:, 1])
        label = VOC_CLASSES.index(names[int(np.argmax(areas))]) if names else 0
        return {"image": pixels, "label": label, "mask": mask, "box": torch.from_numpy(box_array),
                "index": int(index)}
