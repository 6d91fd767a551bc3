"""COCO20k for object discovery: COCO train2014 boxes of a list of images that the user gives.

COCO20k (Vo et al. 2020; LOST's third benchmark) is 19,817 images of COCO train2014. The list of
file names is not part of COCO: give it as a text file (one ``COCO_train2014_<id>.jpg`` per line,
as LOST's ``coco_20k_filenames.txt``), with the train2014 images and the instances JSON::

    <images>/COCO_train2014_000000000009.jpg ...
    <annotations>  instances_train2014.json   {"images": [...], "annotations": [...], "categories": [...]}
    <image_list>   coco_20k_filenames.txt      the selected file names, one per line

Boxes are read as LOST's evaluation reads them (the study's ``datasets.py``,
``extract_gt_COCO(targets, remove_iscrowd=True)``): crowd annotations left out, ``[x, y, w, h]``
turned into ``(x, y, x + w, y + h)`` and each coordinate rounded to an integer. An image whose
every annotation is a crowd has no box to find: it is left out (and counted in the log).

Reference:
    H. V. Vo, P. Perez, J. Ponce. "Toward unsupervised, multi-object discovery in large-scale
    image collections." ECCV 2020.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from robustlab.common.errors import DataError
from robustlab.pruning.data.voc import resize_item

log = logging.getLogger(__name__)

COCO20K_LAYOUT = ("images: <images>/COCO_train2014_<id>.jpg; annotations: instances_train2014.json (COCO "
                  "instances JSON); image_list: one file name per line (LOST's coco_20k_filenames.txt)")


def read_image_list(path: str | Path) -> list[str]:
    """File names of an image list (one per line, blank lines skipped, any folder part dropped)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"COCO20k image list {path} does not exist; expected {COCO20K_LAYOUT}")
    names = [Path(line.strip()).name for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise DataError(f"COCO20k image list {path} lists no image")
    return names


def coco_boxes(annotations: list[dict[str, Any]]) -> np.ndarray:
    """``(m, 4)`` float32 ``(x0, y0, x1, y1)`` of the non-crowd annotations, rounded as LOST does."""
    boxes = [[float(round(v)) for v in (a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                                         a["bbox"][1] + a["bbox"][3])]
             for a in annotations if not a.get("iscrowd", 0)]
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


def read_coco_instances(path: str | Path, names: list[str]) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Per listed file name, its image record with its annotations; and the ``(id, name)`` categories.

    Raises:
        FileNotFoundError: no JSON at ``path``.
        DataError: the JSON is not a COCO instances file, or a listed name is not in it.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"COCO instances JSON {path} does not exist; expected {COCO20K_LAYOUT}")
    with path.open() as f:
        data = json.load(f)
    if not isinstance(data, dict) or not {"images", "annotations"} <= set(data):
        raise DataError(f"{path}: not a COCO instances file (expected keys 'images' and 'annotations')")
    by_name = {img["file_name"]: img for img in data["images"]}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise DataError(f"{path}: {len(missing)} listed image(s) are not in its 'images', e.g. {missing[0]!r}")
    wanted = {by_name[n]["id"] for n in names}
    anns: dict[int, list[dict[str, Any]]] = {}
    for a in data["annotations"]:
        if a["image_id"] in wanted:
            anns.setdefault(a["image_id"], []).append(a)
    records = [{**by_name[n], "annotations": anns.get(by_name[n]["id"], [])} for n in names]
    categories = [(int(c["id"]), str(c["name"])) for c in sorted(data.get("categories", []), key=lambda c: c["id"])]
    return records, categories


class COCODetectionEvalData(Dataset):
    """COCO images of a list with their non-crowd boxes, at full resolution, for CorLoc.

    Items are those of :class:`~robustlab.pruning.data.voc.VOCEvalData` with
    ``task="detection"``: ``image`` ``(3, H, W)`` in [0, 1], ``label`` (the category of the
    largest box), ``mask`` (all False), ``box`` ``(m, 4)``, ``difficult`` (all False), ``index``.

    Args:
        images: the folder of the train2014 JPEGs.
        annotations: the COCO instances JSON.
        image_list: the list of file names (COCO20k: 19,817 of them).
        resize: None for full resolution, or a square side in pixels (boxes scaled with it).
    """

    def __init__(self, images: str | Path, annotations: str | Path, image_list: str | Path,
                 resize: int | None = None):
        self.resize = None if resize is None else int(resize)
        self.base = Path(images).expanduser()
        if not self.base.is_dir():
            raise FileNotFoundError(f"COCO images folder {self.base} does not exist; expected {COCO20K_LAYOUT}")
        records, categories = read_coco_instances(annotations, read_image_list(image_list))
        self.classes = [name for _, name in categories]
        self._class_of = {cid: i for i, (cid, _) in enumerate(categories)}
        self.records = [r for r in records if len(coco_boxes(r["annotations"]))]
        if len(self.records) < len(records):
            log.info("COCO20k: %d listed image(s) have only crowd annotations; left out",
                     len(records) - len(self.records))
        self.name = f"coco20k-{Path(image_list).stem}"

    def __len__(self) -> int:
        return len(self.records)

    def image_size(self, index: int) -> tuple[int, int]:
        """``(H, W)`` of item ``index`` (from the JSON's ``height`` and ``width``)."""
        if self.resize is not None:
            return self.resize, self.resize
        r = self.records[index]
        return int(r["height"]), int(r["width"])

    def __getitem__(self, index: int) -> dict[str, Any]:
        from PIL import Image

        r = self.records[index]
        path = self.base / r["file_name"]
        if not path.is_file():
            raise FileNotFoundError(f"COCO image {path} does not exist; expected {COCO20K_LAYOUT}")
        with Image.open(path) as img:
            pixels = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)
        size = (int(r["height"]), int(r["width"]))
        if tuple(pixels.shape[1:]) != size:
            raise DataError(f"{path}: image {tuple(pixels.shape[1:])} but the JSON says {size}")
        boxes = coco_boxes(r["annotations"])
        objects = [a for a in r["annotations"] if not a.get("iscrowd", 0)]
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        label = self._class_of.get(int(objects[int(np.argmax(areas))]["category_id"]), -1)
        mask = torch.zeros(pixels.shape[1:], dtype=torch.bool)
        if self.resize is not None:
            pixels, mask, boxes = resize_item(pixels, mask, boxes, self.resize)
        return {"image": pixels, "label": label, "mask": mask, "box": torch.from_numpy(boxes),
                "difficult": torch.zeros(len(boxes), dtype=torch.bool), "index": int(index)}
