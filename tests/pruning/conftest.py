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
