"""A tiny Pascal VOC tree written by the tests (VOC2012 segmentation + boxes, VOC2007 boxes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# VOC2012, image A (20 x 30): person (class 15) at rows 5-9, cols 10-19 (50 px), its void band
# (255) on rows 4 and 10 of those columns (20 px), a difficult bicycle (class 2) at rows 12-15,
# cols 2-5 (16 px). Image B (33 x 40): an aeroplane (class 1) at rows 0-9, cols 0-9 (100 px).
IMAGE_A, IMAGE_B, IMAGE_07 = "2012_000001", "2012_000002", "000005"
SIZES = {IMAGE_A: (20, 30), IMAGE_B: (33, 40), IMAGE_07: (24, 24)}


def _annotation(width: int, height: int, objects: list[tuple[str, tuple[int, int, int, int], int]]) -> str:
    body = "".join(
        f"<object><name>{name}</name><truncated>0</truncated><difficult>{difficult}</difficult>"
        f"<bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for name, b, difficult in objects)
    return (f"<annotation><size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
            f"{body}</annotation>")


def _write_image(path: Path, height: int, width: int, seed: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path, quality=95)


def _write_palette_png(path: Path, indices: np.ndarray) -> None:
    from PIL import Image

    from robustlab.pruning.data.voc import voc_palette

    img = Image.fromarray(indices.astype(np.uint8), mode="P")
    img.putpalette(voc_palette().reshape(-1).tolist())
    img.save(path)


def write_voc_tree(root: Path) -> Path:
    """Write the tree under ``root/VOCdevkit`` and return ``root``."""
    base = root / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "Annotations", "SegmentationClass", "ImageSets/Segmentation", "ImageSets/Main"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    seg_a = np.zeros(SIZES[IMAGE_A], dtype=np.uint8)
    seg_a[5:10, 10:20] = 15
    seg_a[4, 10:20] = seg_a[10, 10:20] = 255
    seg_a[12:16, 2:6] = 2
    seg_b = np.zeros(SIZES[IMAGE_B], dtype=np.uint8)
    seg_b[0:10, 0:10] = 1
    for seed, (image_id, seg) in enumerate(((IMAGE_A, seg_a), (IMAGE_B, seg_b))):
        _write_image(base / "JPEGImages" / f"{image_id}.jpg", *SIZES[image_id], seed)
        _write_palette_png(base / "SegmentationClass" / f"{image_id}.png", seg)
    (base / "Annotations" / f"{IMAGE_A}.xml").write_text(_annotation(30, 20, [
        ("person", (11, 6, 20, 10), 0), ("bicycle", (3, 13, 6, 16), 1)]))
    (base / "Annotations" / f"{IMAGE_B}.xml").write_text(_annotation(40, 33, [("aeroplane", (1, 1, 10, 10), 0)]))
    for split in ("val", "trainval"):
        (base / "ImageSets" / "Segmentation" / f"{split}.txt").write_text(f"{IMAGE_A}\n{IMAGE_B}\n")
        (base / "ImageSets" / "Main" / f"{split}.txt").write_text(f"{IMAGE_A}\n{IMAGE_B}\n")
    base07 = root / "VOCdevkit" / "VOC2007"
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (base07 / sub).mkdir(parents=True, exist_ok=True)
    _write_image(base07 / "JPEGImages" / f"{IMAGE_07}.jpg", *SIZES[IMAGE_07], 7)
    (base07 / "Annotations" / f"{IMAGE_07}.xml").write_text(_annotation(24, 24, [
        ("chair", (2, 3, 12, 20), 1), ("cat", (13, 5, 24, 24), 0)]))
    (base07 / "ImageSets" / "Main" / "trainval.txt").write_text(f"{IMAGE_07}\n")
    return root


@pytest.fixture
def voc_root(tmp_path: Path) -> Path:
    """A tiny VOC2007 + VOC2012 tree (see the module docstring's comment for its contents)."""
    return write_voc_tree(tmp_path / "voc")


# COCO20k layout: three train2014 JPEGs, the instances JSON (a fourth, unlisted image in it), the
# list of file names. Image 9 (24 x 32): a cat box [2.4, 3.6, 10.2, 8.5] (rounded: 2, 4, 13, 12)
# and a crowd; image 25 (40 x 40): a dog [0, 0, 20, 20]; image 30 (16 x 16): only a crowd.
COCO_SIZES = {9: (24, 32), 25: (40, 40), 30: (16, 16), 42: (8, 8)}


def coco_name(image_id: int) -> str:
    return f"COCO_train2014_{image_id:012d}.jpg"


def write_coco20k_tree(root: Path) -> Path:
    """Write ``root/train2014/``, ``root/instances_train2014.json`` and ``root/coco_20k_filenames.txt``."""
    import json

    images = root / "train2014"
    images.mkdir(parents=True)
    for seed, (image_id, (h, w)) in enumerate(COCO_SIZES.items()):
        _write_image(images / coco_name(image_id), h, w, 20 + seed)
    anns = [
        {"id": 1, "image_id": 9, "category_id": 17, "bbox": [2.4, 3.6, 10.2, 8.5], "iscrowd": 0, "area": 1.0},
        {"id": 2, "image_id": 9, "category_id": 1, "bbox": [0, 0, 30, 20], "iscrowd": 1, "area": 1.0},
        {"id": 3, "image_id": 25, "category_id": 18, "bbox": [0, 0, 20, 20], "iscrowd": 0, "area": 1.0},
        {"id": 4, "image_id": 30, "category_id": 1, "bbox": [0, 0, 8, 8], "iscrowd": 1, "area": 1.0},
        {"id": 5, "image_id": 42, "category_id": 1, "bbox": [0, 0, 4, 4], "iscrowd": 0, "area": 1.0},
    ]
    data = {"images": [{"id": i, "file_name": coco_name(i), "height": h, "width": w} for i, (h, w) in COCO_SIZES.items()],
            "annotations": anns,
            "categories": [{"id": 1, "name": "person"}, {"id": 17, "name": "cat"}, {"id": 18, "name": "dog"}]}
    (root / "instances_train2014.json").write_text(json.dumps(data))
    (root / "coco_20k_filenames.txt").write_text("".join(f"{coco_name(i)}\n" for i in (9, 25, 30)))
    return root


@pytest.fixture
def coco_root(tmp_path: Path) -> Path:
    """A COCO20k-layout tree (see write_coco20k_tree)."""
    return write_coco20k_tree(tmp_path / "coco")
