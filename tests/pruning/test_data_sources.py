"""On-disk sources (ImageFolder, Pascal VOC) and the batch iterators the sweep and suites use."""

import numpy as np
import pytest
import torch
from PIL import Image

from robustlab.pruning.data.loader import train_batches
from robustlab.pruning.data.sources import DataSpec, build_data, eval_batches


def test_missing_paths_name_the_path_and_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path / 'nowhere' / 'train'}.*ImageNet layout"):
        build_data(DataSpec(name="imagefolder", root=str(tmp_path / "nowhere")))
    with pytest.raises(FileNotFoundError, match=r"VOC2007.*JPEGImages.*does not exist; expected .*VOCdevkit"):
        build_data(DataSpec(name="voc", root=str(tmp_path), year="2007"))
    with pytest.raises(ValueError, match="data.root is required"):
        build_data(DataSpec(name="voc"))
    with pytest.raises(ValueError, match=r"^data\.name: must be one of shapes, imagefolder, voc; got 'imagenet' "
                                         r"\(did you mean imagefolder\?\)$"):
        build_data(DataSpec(name="imagenet"))



def test_fresh_train_draws_new_images_after_the_first_epoch():
    spec = dict(num_classes=3, img_size=16, train_size=8, val_size=4)
    fixed, fresh = build_data(DataSpec(**spec)), build_data(DataSpec(**spec, fresh_train=True))

    def epoch(data, e):
        return torch.cat([im for im, _ in train_batches(data, 4, epoch=e, seed=0, device=torch.device("cpu"))])
    assert torch.equal(epoch(fresh, 0), epoch(fixed, 0))
    assert not torch.equal(epoch(fresh, 1), epoch(fixed, 1))
    assert torch.equal(epoch(fresh, 1), epoch(build_data(DataSpec(**spec, fresh_train=True)), 1))
    with pytest.raises(ValueError, match=r"data.fresh_train=true needs procedural data"):
        build_data(DataSpec(name="imagefolder", root="anywhere", fresh_train=True))

def test_imagefolder_batches(tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("ants", "bees"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(3):
                pixels = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(tmp_path / split / cls / f"{i}.png")
    data = build_data(DataSpec(name="imagefolder", root=str(tmp_path), img_size=32))
    assert data.classes == ["ants", "bees"] and not data.extras["has_masks"]
    images, labels = next(train_batches(data, 4, epoch=0, seed=0, device=torch.device("cpu")))
    assert images.shape == (4, 3, 32, 32) and labels.shape == (4,)
    batches = list(eval_batches(data, 4, torch.device("cpu")))
    assert [len(b.labels) for b in batches] == [4, 2]
    assert torch.equal(torch.cat([b.index for b in batches]), torch.arange(6))
    assert batches[0].boxes[0].tolist() == [[0.0, 0.0, 32.0, 32.0]]


def _write_voc(root):
    base = root / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "Annotations", "SegmentationClass", "ImageSets/Segmentation"):
        (base / sub).mkdir(parents=True)
    Image.fromarray(np.full((60, 80, 3), 128, dtype=np.uint8)).save(base / "JPEGImages" / "img1.jpg")
    seg = np.zeros((60, 80), dtype=np.uint8)
    seg[10:30, 20:60] = 15   # a person (palette index 15)
    seg[9, 20:60] = 255      # the void border
    seg[40:50, 5:15] = 12    # a dog
    png = Image.fromarray(seg, mode="P")
    png.putpalette([0, 0, 0] * 256)
    png.save(base / "SegmentationClass" / "img1.png")
    (base / "Annotations" / "img1.xml").write_text(
        "<annotation><object><name>person</name><bndbox><xmin>21</xmin><ymin>11</ymin><xmax>60</xmax>"
        "<ymax>30</ymax></bndbox></object><object><name>dog</name><bndbox><xmin>6</xmin><ymin>41</ymin>"
        "<xmax>15</xmax><ymax>50</ymax></bndbox></object></annotation>")
    for split in ("train", "val"):
        (base / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("img1\n")


def test_voc_masks_boxes_and_label(tmp_path):
    _write_voc(tmp_path)
    data = build_data(DataSpec(name="voc", root=str(tmp_path), year="2012", img_size=80))
    item = data.val[0]
    assert data.classes[item["label"]] == "person"  # the largest object
    assert item["image"].shape == (3, 80, 80)
    # Square resize 80x60 -> 80x80: rows scale by 4/3; the void border (255) is not foreground.
    assert int(item["mask"].sum()) == pytest.approx(20 * 40 * 4 / 3 + 10 * 10 * 4 / 3, rel=0.1)
    assert item["box"].tolist()[0] == pytest.approx([20.0, 10 * 4 / 3, 60.0, 30 * 4 / 3])
    batch = next(eval_batches(data, 2, torch.device("cpu")))
    assert batch.boxes[0].shape == (2, 4) and batch.masks.dtype == torch.bool
