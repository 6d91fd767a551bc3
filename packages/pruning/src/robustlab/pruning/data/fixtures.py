"""Tiny data in the layouts the pruning study reads, to try its commands without the real data sets.

``robustlab-prune-fixtures DIR`` writes, under ``DIR``:

- ``imagefolder/``: an ImageFolder (``train/`` and ``val/``) of model-vs-human's 16 categories,
  one 32 px PNG of noise per class and split (``data=imagenet data.root=DIR/imagefolder``);
- ``voc/``: a Pascal VOC tree, ``VOCdevkit/VOC2012`` (JPEGs, ``SegmentationClass`` masks,
  ``Annotations``, ``ImageSets/{Segmentation,Main}``) and ``VOCdevkit/VOC2007`` (boxes only);
- ``coco/``: the COCO20k layout, ``train2014/`` JPEGs, ``instances_train2014.json`` and the list of
  file names ``coco_20k_filenames.txt``;
- ``model-vs-human/``: model-vs-human's ``datasets/sketch`` stimuli and one observer's
  ``raw-data/sketch`` CSV.

The same writers make the tests' data; what each tree holds, to the pixel, is stated beside its
writer, so a test can compute expected metrics by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

# VOC2012, image A (20 x 30): person (class 15) at rows 5-9, cols 10-19 (50 px), its void band
# (255) on rows 4 and 10 of those columns (20 px), a difficult bicycle (class 2) at rows 12-15,
# cols 2-5 (16 px). Image B (33 x 40): an aeroplane (class 1) at rows 0-9, cols 0-9 (100 px).
# VOC2007 image (24 x 24): a difficult chair and a cat.
IMAGE_A, IMAGE_B, IMAGE_07 = "2012_000001", "2012_000002", "000005"
SIZES = {IMAGE_A: (20, 30), IMAGE_B: (33, 40), IMAGE_07: (24, 24)}

# COCO20k layout: three train2014 JPEGs, the instances JSON (a fourth, unlisted image in it), the
# list of file names. Image 9 (24 x 32): a cat box [2.4, 3.6, 10.2, 8.5] (rounded: 2, 4, 13, 12)
# and a crowd; image 25 (40 x 40): a dog [0, 0, 20, 20]; image 30 (16 x 16): only a crowd.
COCO_SIZES = {9: (24, 32), 25: (40, 40), 30: (16, 16), 42: (8, 8)}

# model-vs-human's `sketch` set: three stimuli of the dnn session and one observer who is always right.
SKETCH_TRIALS = (("airplane", "n02690373_1.png"), ("boat", "n02951358_2.png"), ("knife", "n03041632_3.png"))


def _annotation(width: int, height: int, objects: list[tuple[str, tuple[int, int, int, int], int]]) -> str:
    body = "".join(
        f"<object><name>{name}</name><truncated>0</truncated><difficult>{difficult}</difficult>"
        f"<bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for name, b, difficult in objects)
    return (f"<annotation><size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
            f"{body}</annotation>")


def _noise(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _write_image(path: Path, height: int, width: int, seed: int) -> None:
    from PIL import Image

    Image.fromarray(_noise(height, width, np.random.default_rng(seed))).save(path, quality=95)


def _write_palette_png(path: Path, indices: np.ndarray) -> None:
    from PIL import Image

    from robustlab.pruning.data.voc import voc_palette

    img = Image.fromarray(indices.astype(np.uint8), mode="P")
    img.putpalette(voc_palette().reshape(-1).tolist())
    img.save(path)


def write_image_folder(root: Path, per_class: int = 1, size: int = 32) -> Path:
    """An ImageFolder of model-vs-human's 16 categories (``train/`` and ``val/``, ``per_class``
    PNGs of noise each, ``size`` px, seed 0); returns ``root``."""
    from PIL import Image

    from robustlab.pruning.alignment.modelvshuman.categories import CATEGORIES

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for name in CATEGORIES:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.fromarray(_noise(size, size, rng)).save(folder / f"{i}.png")
    return root


def write_voc_tree(root: Path) -> Path:
    """The VOC2012 and VOC2007 trees under ``root/VOCdevkit`` (see the comment on ``SIZES``); returns ``root``."""
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


def coco_name(image_id: int) -> str:
    """The train2014 file name of a COCO image id."""
    return f"COCO_train2014_{image_id:012d}.jpg"


def write_coco20k_tree(root: Path) -> Path:
    """``root/train2014/``, ``root/instances_train2014.json`` and ``root/coco_20k_filenames.txt``
    (see the comment on ``COCO_SIZES``); returns ``root``."""
    images = root / "train2014"
    images.mkdir(parents=True, exist_ok=True)
    for seed, (image_id, (h, w)) in enumerate(COCO_SIZES.items()):
        _write_image(images / coco_name(image_id), h, w, 20 + seed)
    anns = [
        {"id": 1, "image_id": 9, "category_id": 17, "bbox": [2.4, 3.6, 10.2, 8.5], "iscrowd": 0, "area": 1.0},
        {"id": 2, "image_id": 9, "category_id": 1, "bbox": [0, 0, 30, 20], "iscrowd": 1, "area": 1.0},
        {"id": 3, "image_id": 25, "category_id": 18, "bbox": [0, 0, 20, 20], "iscrowd": 0, "area": 1.0},
        {"id": 4, "image_id": 30, "category_id": 1, "bbox": [0, 0, 8, 8], "iscrowd": 1, "area": 1.0},
        {"id": 5, "image_id": 42, "category_id": 1, "bbox": [0, 0, 4, 4], "iscrowd": 0, "area": 1.0},
    ]
    data = {"images": [{"id": i, "file_name": coco_name(i), "height": h, "width": w}
                       for i, (h, w) in COCO_SIZES.items()],
            "annotations": anns,
            "categories": [{"id": 1, "name": "person"}, {"id": 17, "name": "cat"}, {"id": 18, "name": "dog"}]}
    (root / "instances_train2014.json").write_text(json.dumps(data))
    (root / "coco_20k_filenames.txt").write_text("".join(f"{coco_name(i)}\n" for i in (9, 25, 30)))
    return root


def write_modelvshuman_tree(root: Path) -> Path:
    """model-vs-human's ``sketch`` set: three 224 px stimuli (``datasets/sketch/dnn/session-1``) and
    one observer who is always right (``raw-data/sketch``); returns ``root``."""
    import csv

    from PIL import Image

    from robustlab.pruning.alignment.modelvshuman.decisions import CSV_COLUMNS

    rng = np.random.default_rng(1)
    stimuli = root / "datasets" / "sketch" / "dnn" / "session-1"
    stimuli.mkdir(parents=True, exist_ok=True)
    (root / "raw-data" / "sketch").mkdir(parents=True, exist_ok=True)
    with open(root / "raw-data" / "sketch" / "sketch_subject-01_session_1.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for i, (category, name) in enumerate(SKETCH_TRIALS):
            Image.fromarray(_noise(224, 224, rng)).save(stimuli / f"{i + 1:04d}_sk_dnn_0_{category}_00_{name}")
            writer.writerow({"subj": "subject-01", "session": 1, "trial": i + 1, "rt": 0.8, "object_response": category,
                             "category": category, "condition": 0,
                             "imagename": f"{i + 1:04d}_sk_s01_0_{category}_00_{name}"})
    return root


def write_all(directory: Path) -> dict[str, Path]:
    """Every layout under ``directory`` (the module docstring lists them); returns name -> folder."""
    return {"imagefolder": write_image_folder(directory / "imagefolder"),
            "voc": write_voc_tree(directory / "voc"),
            "coco": write_coco20k_tree(directory / "coco"),
            "model-vs-human": write_modelvshuman_tree(directory / "model-vs-human")}


def main(argv: list[str] | None = None) -> int:
    """``robustlab-prune-fixtures DIR``: write every layout under DIR and print the folders."""
    parser = argparse.ArgumentParser(
        prog="robustlab-prune-fixtures",
        description="Write tiny data in the layouts the pruning study reads: an ImageFolder, a Pascal VOC "
                    "tree, a COCO20k layout and a model-vs-human set.")
    parser.add_argument("directory", type=Path, help="where to write them (created; files there are replaced)")
    args = parser.parse_args(argv)
    for name, folder in write_all(args.directory).items():
        print(f"{name}: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
