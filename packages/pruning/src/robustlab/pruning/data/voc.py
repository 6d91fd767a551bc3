"""Pascal VOC 2007 / 2012 read for evaluation: class masks, every object box, full resolution.

A local copy in the devkit layout (no download)::

    <root>/VOCdevkit/VOC<year>/JPEGImages/<id>.jpg
    <root>/VOCdevkit/VOC<year>/SegmentationClass/<id>.png     palette PNG: class index per pixel
    <root>/VOCdevkit/VOC<year>/Annotations/<id>.xml            every object's box and flags
    <root>/VOCdevkit/VOC<year>/ImageSets/{Segmentation,Main}/<split>.txt

``root`` may also be the ``VOCdevkit`` folder or the ``VOC<year>`` folder itself.

Segmentation masks are palette PNGs whose pixel values are class indices: 0 background,
1..20 the classes of :data:`VOC_CLASSES`, 255 the "void" band drawn around objects (neither
object nor background). :func:`object_mask` is the object pixels (index in 1..20).
:func:`red_channel_mask` reproduces how arXiv 2507.01722 read the masks: the PNG converted to
RGB, its red channel min-max scaled and thresholded at 0.5, so that a class whose palette colour
has little red counts as background and the void band (colour (224, 224, 192)) as object.

Boxes follow the devkit: 1-based inclusive pixel indices, returned here as 0-based
``(x0, y0, x1, y1)`` with exclusive ends (``(xmin - 1, ymin - 1, xmax, ymax)``), as LOST's
evaluation code reads them.

References:
    M. Everingham, L. Van Gool, C. K. I. Williams, J. Winn, A. Zisserman. "The PASCAL Visual
    Object Classes (VOC) Challenge." IJCV 88 (2010) 303-338.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from robustlab.common.errors import ConfigError, DataError

#: The 20 Pascal VOC classes, in the order of the labels 1..20 of its segmentation masks.
VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)

#: The palette index of VOC's void band.
VOID = 255
GT_MASKS = ("classes", "red_channel")
#: The study's image set (``explainations_evaluation_metrics.py``, ``main``): the first 581 JPEGs
#: in ``glob`` order (``if index == 580: break``), of which the first 101 with a mask are scored
#: (``if id == 101: break``).
PAPER_FILES, PAPER_SCORED = 581, 101
VOC_LAYOUT = ("<root>/VOCdevkit/VOC<year>/{JPEGImages, SegmentationClass, Annotations, "
              "ImageSets/{Segmentation,Main}/<split>.txt}")


def voc_palette() -> np.ndarray:
    """The devkit's ``(256, 3)`` uint8 colour map: class ``i``'s colour interleaves the bits of ``i``.

    Bit ``j`` of ``i``'s groups of three (``i = sum_j (r_j + 2 g_j + 4 b_j) 8^j``) sets bit
    ``7 - j`` of red, green and blue: class 1 is (128, 0, 0), class 15 (person) (192, 128, 128),
    255 (void) is (224, 224, 192).
    """
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        c, rgb = index, [0, 0, 0]
        for bit in range(8):
            for channel in range(3):
                rgb[channel] |= ((c >> channel) & 1) << (7 - bit)
            c >>= 3
        palette[index] = rgb
    return palette


def voc_folder(root: str | Path, year: str | int) -> Path:
    """The ``VOC<year>`` folder under ``root`` (``root`` itself, its ``VOCdevkit/`` or above).

    Raises:
        FileNotFoundError: none of the three places exists (names them and the layout).
    """
    root = Path(root).expanduser()
    name = f"VOC{year}"
    for candidate in (root / "VOCdevkit" / name, root / name, root):
        if candidate.name == name and candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"Pascal VOC {year}: no {name} folder at {root}, {root / name} or "
                            f"{root / 'VOCdevkit' / name}; expected {VOC_LAYOUT}")


def read_split(base: Path, kind: str, split: str) -> list[str]:
    """Image ids of ``ImageSets/<kind>/<split>.txt`` (``kind``: ``Segmentation`` or ``Main``)."""
    path = base / "ImageSets" / kind / f"{split}.txt"
    if not path.exists():
        raise FileNotFoundError(f"Pascal VOC split file {path} does not exist; expected {VOC_LAYOUT}")
    ids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise DataError(f"Pascal VOC split file {path} lists no image")
    return ids


def read_class_indices(path: str | Path) -> np.ndarray:
    """``(H, W)`` uint8 class indices of a ``SegmentationClass`` palette PNG.

    Raises:
        ValueError: the PNG is not a palette (``P``) or grey (``L``) image, i.e. holds colours
            rather than class indices (names the file).
    """
    from PIL import Image

    with Image.open(path) as img:
        if img.mode not in ("P", "L"):
            raise DataError(f"{path}: mode {img.mode!r}; a VOC segmentation PNG holds class indices "
                             "(palette mode 'P')")
        return np.asarray(img, dtype=np.uint8).copy()


def object_mask(indices: np.ndarray) -> np.ndarray:
    """Object pixels of a class-index map: index in 1..20 (not background 0, not void 255)."""
    return (indices != 0) & (indices != VOID)


def red_channel_mask(path: str | Path) -> np.ndarray:
    """The study's reading of a VOC mask (a reproduction of arXiv 2507.01722, not a method).

    ``r`` = red channel of the PNG converted to RGB; ``gt = (r - min r) / (max r - min r) >= 0.5``
    (the authors' ``evaluate_single``: their loader also normalises the channel with ImageNet's
    mean and standard deviation, an affine map that min-max scaling cancels). A mask of one
    colour has no range: every pixel is background, as their division by zero leaves it.
    """
    from PIL import Image

    with Image.open(path) as img:
        red = np.asarray(img.convert("RGB"), dtype=np.float64)[..., 0]
    span = red.max() - red.min()
    if span == 0:
        return np.zeros(red.shape, dtype=bool)
    return (red - red.min()) / span >= 0.5


def paper_image_ids(base: Path) -> tuple[list[str], int]:
    """The study's attribution images, a reproduction: ``(ids, masked)``.

    The first :data:`PAPER_FILES` JPEGs of ``JPEGImages`` in ``glob`` order (the file system's
    order, as the study's ``glob(os.path.join(args.data_path + '*.jpg'))`` lists them), those
    with a ``SegmentationClass`` PNG kept, the first :data:`PAPER_SCORED` of them scored;
    ``masked`` is how many of the files had a mask, the study's divisor of every mean
    (``sum(ranks) / (index - skipped + 1)``).
    """
    import glob

    files = glob.glob(str(base / "JPEGImages" / "*.jpg"))[:PAPER_FILES]
    masked = [Path(f).stem for f in files if (base / "SegmentationClass" / f"{Path(f).stem}.png").exists()]
    if not masked:
        raise DataError(f"Pascal VOC: none of the first {len(files)} images of {base / 'JPEGImages'} has a "
                        f"SegmentationClass mask; expected {VOC_LAYOUT}")
    return masked[:PAPER_SCORED], len(masked)


@dataclass(frozen=True)
class VOCObject:
    """One annotated object: class name, 0-based ``(x0, y0, x1, y1)`` box and the devkit flags."""

    name: str
    box: tuple[float, float, float, float]
    difficult: bool
    truncated: bool


def read_annotation(path: str | Path) -> tuple[tuple[int, int], list[VOCObject]]:
    """``((width, height), objects)`` of an ``Annotations/<id>.xml`` file, every object kept.

    Raises:
        ValueError: an object without ``<bndbox>`` or a coordinate that is not a number.
    """
    root = ET.parse(path).getroot()
    size = (int(float(root.findtext("size/width", "0"))), int(float(root.findtext("size/height", "0"))))
    objects = []
    for obj in root.iter("object"):
        b = obj.find("bndbox")
        if b is None:
            raise DataError(f"{path}: an <object> has no <bndbox>")
        try:
            x0, y0, x1, y1 = (float(b.findtext(k, "")) for k in ("xmin", "ymin", "xmax", "ymax"))
        except ValueError as err:
            raise DataError(f"{path}: a <bndbox> coordinate is not a number ({err})") from None
        objects.append(VOCObject(obj.findtext("name", "").strip(), (x0 - 1, y0 - 1, x1, y1),
                                 obj.findtext("difficult", "0").strip() == "1",
                                 obj.findtext("truncated", "0").strip() == "1"))
    return size, objects


def padded_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    """``(H, W)`` rounded up to a multiple of ``multiple`` (the study pads bottom and right)."""
    m = int(multiple)
    return -(-int(height) // m) * m, -(-int(width) // m) * m


class VOCEvalData(Dataset):
    """A VOC split for evaluation: full-resolution images with masks and/or boxes.

    Items are dicts: ``image`` float ``(3, H, W)`` in [0, 1] (the JPEG's own size, or a
    ``resize`` x ``resize`` square), ``label`` (the class of the largest object), ``mask`` bool
    ``(H, W)`` (segmentation sets; all False otherwise), ``box`` ``(m, 4)`` (every object),
    ``difficult`` ``(m,)`` bool and ``index``. Padding to the network's multiple happens at
    batching, after normalisation (zeros: the study pads the normalised tensor).

    Args:
        root: the VOC copy (:func:`voc_folder`).
        year: ``"2007"`` or ``"2012"``.
        split: an image set (``val``, ``trainval``...).
        task: ``"segmentation"`` (``ImageSets/Segmentation``, masks and boxes) or
            ``"detection"`` (``ImageSets/Main``, boxes).
        gt_mask: ``"classes"`` (:func:`object_mask`) or ``"red_channel"`` (:func:`red_channel_mask`).
        resize: None for full resolution, or a square side in pixels.
        no_hards: LOST's "no hards" setting (``--no_hard``): objects flagged truncated or
            difficult are dropped, and so is an image left without objects.
        paper_image_selection: segmentation only, the study's image set, a reproduction
            (:func:`paper_image_ids`; ``split`` is then not read); ``mean_denominator`` is the
            number of masked images among its first :data:`PAPER_FILES` files.
    """

    def __init__(self, root: str | Path, year: str | int, split: str, task: str = "segmentation",
                 gt_mask: str = "classes", resize: int | None = None, no_hards: bool = False,
                 paper_image_selection: bool = False):
        if task not in ("segmentation", "detection"):
            raise ConfigError(f"VOC task must be 'segmentation' or 'detection', got {task!r}")
        if gt_mask not in GT_MASKS:
            raise ConfigError(f"gt_mask must be one of {GT_MASKS}, got {gt_mask!r}")
        self.base = voc_folder(root, year)
        self.year, self.split, self.task, self.gt_mask = str(year), split, task, gt_mask
        self.resize = None if resize is None else int(resize)
        folders = ["JPEGImages", "Annotations"] + (["SegmentationClass"] if task == "segmentation" else [])
        for folder in folders:
            if not (self.base / folder).is_dir():
                raise FileNotFoundError(f"Pascal VOC {year}: {self.base / folder} does not exist; "
                                        f"expected {VOC_LAYOUT}")
        self.no_hards, self.mean_denominator = bool(no_hards), None
        if paper_image_selection:
            if task != "segmentation":
                raise ConfigError("paper_image_selection applies to VOC segmentations (the attribution images) only")
            self.ids, self.mean_denominator = paper_image_ids(self.base)
        else:
            self.ids = read_split(self.base, "Segmentation" if task == "segmentation" else "Main", split)
        if self.no_hards:
            self.ids = [i for i in self.ids if self._objects(i)]
        self.classes = list(VOC_CLASSES)
        self.name = f"voc{self.year}-{split}-{task}"

    def __len__(self) -> int:
        return len(self.ids)

    def image_size(self, index: int) -> tuple[int, int]:
        """``(H, W)`` of item ``index`` as returned (read from the JPEG header only)."""
        if self.resize is not None:
            return self.resize, self.resize
        from PIL import Image

        with Image.open(self.base / "JPEGImages" / f"{self.ids[index]}.jpg") as img:
            return img.size[1], img.size[0]

    def __getitem__(self, index: int) -> dict[str, Any]:
        from PIL import Image

        image_id = self.ids[index]
        with Image.open(self.base / "JPEGImages" / f"{image_id}.jpg") as img:
            pixels = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)
        h, w = pixels.shape[1:]
        objects = self._objects(image_id)
        boxes = np.asarray([o.box for o in objects], dtype=np.float32).reshape(-1, 4)
        mask = np.zeros((h, w), dtype=bool)
        if self.task == "segmentation":
            png = self.base / "SegmentationClass" / f"{image_id}.png"
            mask = object_mask(read_class_indices(png)) if self.gt_mask == "classes" else red_channel_mask(png)
            if mask.shape != (h, w):
                raise DataError(f"{png}: mask {mask.shape} and image {(h, w)} differ in size")
        mask_t = torch.from_numpy(mask)
        if self.resize is not None:
            pixels, mask_t, boxes = resize_item(pixels, mask_t, boxes, self.resize)
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        known = [VOC_CLASSES.index(o.name) if o.name in VOC_CLASSES else -1 for o in objects]
        label = known[int(np.argmax(areas))] if objects else -1
        return {"image": pixels, "label": label, "mask": mask_t, "box": torch.from_numpy(boxes),
                "difficult": torch.tensor([o.difficult for o in objects], dtype=torch.bool), "index": int(index)}

    def _objects(self, image_id: str) -> list[VOCObject]:
        """The image's objects; without the truncated and difficult ones under ``no_hards``."""
        _, objects = read_annotation(self.base / "Annotations" / f"{image_id}.xml")
        return [o for o in objects if not (o.truncated or o.difficult)] if self.no_hards else objects


def resize_item(pixels: torch.Tensor, mask: torch.Tensor, boxes: np.ndarray, side: int
                ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """An image (antialiased), its mask (nearest) and its boxes resized to a ``side`` square."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.functional import resize

    h, w = pixels.shape[1:]
    pixels = resize(pixels, [side, side], antialias=True)
    mask = resize(mask[None].to(torch.uint8), [side, side], interpolation=InterpolationMode.NEAREST)[0].bool()
    scale = np.asarray([side / w, side / h, side / w, side / h], dtype=np.float32)
    return pixels, mask, boxes * scale
