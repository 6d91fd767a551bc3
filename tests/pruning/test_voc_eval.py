"""Pascal VOC read for evaluation: masks, void, boxes, difficult flags, padding, CorLoc by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from robustlab.pruning.data.evaldata import (
    EvalDataSpec,
    build_eval_source,
    check_arch,
    eval_data_spec,
    voc_batches,
)
from robustlab.pruning.data.folders import VOC_CLASSES
from robustlab.pruning.data.voc import (
    VOCEvalData,
    object_mask,
    read_annotation,
    read_class_indices,
    red_channel_mask,
    voc_folder,
    voc_palette,
)
from robustlab.pruning.discovery.boxes import best_iou

# The ids of the tree that robustlab.pruning.data.fixtures writes (the voc_root fixture).
IMAGE_A, IMAGE_B, IMAGE_07 = "2012_000001", "2012_000002", "000005"


def test_palette_is_the_devkits():
    palette = voc_palette()
    assert palette[1].tolist() == [128, 0, 0] and palette[2].tolist() == [0, 128, 0]
    assert palette[15].tolist() == [192, 128, 128] and palette[255].tolist() == [224, 224, 192]


def test_class_masks_leave_out_void_and_background(voc_root):
    seg = voc_folder(voc_root, 2012) / "SegmentationClass" / f"{IMAGE_A}.png"
    indices = read_class_indices(seg)
    assert indices.shape == (20, 30) and set(np.unique(indices)) == {0, 2, 15, 255}
    mask = object_mask(indices)
    assert mask.sum() == 50 + 16  # person and bicycle; the 20 void pixels are not object
    assert not mask[4, 10] and not mask[10, 19] and mask[5, 10] and mask[12, 2] and not mask[0, 0]


def test_red_channel_mask_reproduces_the_studys_reading(voc_root):
    base = voc_folder(voc_root, 2012)
    mask = red_channel_mask(base / "SegmentationClass" / f"{IMAGE_A}.png")
    # Red: background 0, bicycle 0, person 192, void 224 -> scaled 0, 0, 0.857, 1 -> >= 0.5:
    # the person and the void band are "object", the bicycle is "background".
    assert mask.sum() == 50 + 20
    assert mask[4, 10] and mask[5, 10] and not mask[12, 2]
    # Aeroplane red 128 on a black background: scaled to 1, all 100 pixels.
    assert red_channel_mask(base / "SegmentationClass" / f"{IMAGE_B}.png").sum() == 100


def test_annotations_keep_every_box_and_the_difficult_flag(voc_root):
    size, objects = read_annotation(voc_folder(voc_root, 2012) / "Annotations" / f"{IMAGE_A}.xml")
    assert size == (30, 20)
    assert [(o.name, o.box, o.difficult) for o in objects] == [
        ("person", (10.0, 5.0, 20.0, 10.0), False), ("bicycle", (2.0, 12.0, 6.0, 16.0), True)]
    _, objects07 = read_annotation(voc_folder(voc_root, "2007") / "Annotations" / f"{IMAGE_07}.xml")
    assert [o.difficult for o in objects07] == [True, False] and objects07[1].box == (12.0, 4.0, 24.0, 24.0)


def test_items_at_full_resolution(voc_root):
    seg = VOCEvalData(voc_root, "2012", "val", task="segmentation")
    item = seg[0]
    assert item["image"].shape == (3, 20, 30) and item["mask"].sum() == 66
    assert item["label"] == VOC_CLASSES.index("person")  # the largest box
    assert item["difficult"].tolist() == [False, True] and item["box"].shape == (2, 4)
    det = VOCEvalData(voc_root / "VOCdevkit", 2007, "trainval", task="detection")
    assert det.name == "voc2007-trainval-detection" and det[0]["mask"].sum() == 0 and len(det) == 1
    small = VOCEvalData(voc_root, "2012", "val", resize=10)[0]
    assert small["image"].shape == (3, 10, 10)
    np.testing.assert_allclose(small["box"][0].numpy(), [10 / 3, 2.5, 20 / 3, 5.0], rtol=1e-6)


def test_batches_pad_bottom_right_after_normalising(voc_root):
    data = VOCEvalData(voc_root, "2012", "val")
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    batches = list(voc_batches(data, mean, std, batch_size=4, device=torch.device("cpu"), multiple=32))
    # 20 x 30 pads to 32 x 32, 33 x 40 to 64 x 64: two sizes, two batches.
    assert [tuple(b.images.shape) for b in batches] == [(1, 3, 32, 32), (1, 3, 64, 64)]
    first = batches[0]
    expected = (data[0]["image"] - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    torch.testing.assert_close(first.images[0, :, :20, :30], expected)
    assert first.images[0, :, 20:].abs().sum() == 0 and first.images[0, :, :, 30:].abs().sum() == 0
    assert first.masks.dtype == torch.bool and first.masks.sum() == 66 and not first.masks[0, 20:].any()
    assert [b.index.tolist() for b in batches] == [[0], [1]]
    assert sum(len(b.index) for b in voc_batches(data, mean, std, 4, torch.device("cpu"), 32, max_images=1)) == 1


def test_corloc_against_hand_computed_ious(voc_root):
    data = VOCEvalData(voc_root, "2012", "val", task="detection")
    gt = [data[0]["box"].numpy(), data[1]["box"].numpy()]
    # A: half the person (IoU 25 / 50) and most of the difficult bicycle (12 / 16); B: the
    # aeroplane exactly, and a box shifted by 5 px (25 / 175).
    iou = best_iou(np.array([[10, 5, 15, 10], [0, 0, 10, 10]]), gt)
    np.testing.assert_allclose(iou, [0.5, 1.0])
    iou = best_iou(np.array([[2, 12, 5, 16], [5, 5, 15, 15]]), gt)
    np.testing.assert_allclose(iou, [0.75, 25 / 175])
    assert (iou >= 0.5).tolist() == [True, False]


def test_bad_evaluation_data_is_a_clear_error(voc_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="no VOC2012 folder"):
        VOCEvalData(tmp_path, "2012", "val")
    with pytest.raises(FileNotFoundError, match="test.txt"):
        VOCEvalData(voc_root, "2012", "test")
    with pytest.raises(ValueError, match="unknown key"):
        eval_data_spec({"name": "voc_segmentation", "root": str(voc_root), "folder": "x"})
    with pytest.raises(ValueError, match="needs a root"):
        eval_data_spec({"name": "voc_detection"})
    with pytest.raises(ValueError,
                       match=r"name: must be one of voc_segmentation, .*; got 'coco' \(did you mean coco20k\?\)"):
        eval_data_spec({"name": "coco", "root": "x"})
    full_size = {"interpretability": {"data": {"name": "voc_segmentation", "resize": None}}}
    with pytest.raises(ValueError, match="eval.suites.interpretability.data: a ViT"):
        check_arch(full_size, "vit")  # the sweep asks this before training
    check_arch(full_size, "cnn")
    check_arch({"interpretability": {"data": {"name": "voc_segmentation", "resize": 224}}}, "vit")
    spec = EvalDataSpec("voc_segmentation", str(voc_root), split="val")
    with pytest.raises(ValueError, match="ViT"):
        build_eval_source(spec, mean=(0, 0, 0), std=(1, 1, 1), batch_size=2, device=torch.device("cpu"),
                          multiple=32, arch="vit")


def test_a_missing_evaluation_folder_stops_the_sweep_before_training(voc_root, tmp_path):
    from robustlab.pruning.data.sources import DataSpec
    from robustlab.pruning.models import ModelSpec
    from robustlab.pruning.sweep_spec import SweepSpec, validate
    from robustlab.pruning.train import TrainSpec

    def spec(data):
        return SweepSpec(model=ModelSpec(name="resnet18", num_classes=4, img_size=32), data=DataSpec(),
                         train=TrainSpec(), suites={"interpretability": {"data": data}})

    validate(spec({"name": "voc_segmentation", "root": str(voc_root), "split": "val"}))
    with pytest.raises(FileNotFoundError, match="no VOC2007 folder"):
        validate(spec({"name": "voc_segmentation", "root": str(tmp_path), "year": "2007"}))
    with pytest.raises(FileNotFoundError, match="raw-data"):
        validate(spec({"name": "modelvshuman", "root": str(tmp_path)}))


def test_voc_classes_explained_through_a_label_map_or_the_prediction(voc_root):
    from torch import nn

    from robustlab.common.errors import ConfigError
    from robustlab.pruning.interpret.suite import interpretability_suite
    from robustlab.pruning.suites import EvalContext

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 3)).eval()
    data = VOCEvalData(voc_root, "2012", "val")

    def batches(max_images=None):
        return voc_batches(data, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 4, torch.device("cpu"), 32, max_images)

    ctx = EvalContext(model=model, arch="cnn", batches=batches, device=torch.device("cpu"), step=0, sparsity=0.0,
                      run_dir=voc_root, seed=0, num_classes=3, img_size=32,
                      extras={"classes": ["person", "plane", "other"], "eval_classes": list(VOC_CLASSES),
                              "eval_data": data.name, "has_masks": True})
    with pytest.raises(ConfigError, match="label_map"):
        interpretability_suite(ctx, methods=["gradcam"], metrics=["rma"], gallery_size=0)
    with pytest.raises(ConfigError, match="not a model class"):
        interpretability_suite(ctx, methods=["gradcam"], metrics=["rma"], gallery_size=0, label_map={"person": "dog"})

    def rma(**options):
        result = interpretability_suite(ctx, methods=["gradcam"], metrics=["rma"], gallery_size=0, **options)
        per_image = result.per_image
        return per_image.set_index("index")["value"]

    mapped = rma(label_map={"person": "person", "aeroplane": 1})
    only_person = rma(label_map={"person": 0})
    assert np.isfinite(mapped).all() and np.isfinite(only_person[0]) and np.isnan(only_person[1])
    assert mapped[0] == pytest.approx(only_person[0])
    predicted = rma(target="predicted")
    assert np.isfinite(predicted).all()


def test_no_hards_drops_truncated_and_difficult_objects_and_emptied_images(voc_root):
    base = voc_root / "VOCdevkit" / "VOC2012"
    # Image B's only object becomes truncated: B has no object left and is dropped.
    xml = base / "Annotations" / f"{IMAGE_B}.xml"
    xml.write_text(xml.read_text().replace("<truncated>0</truncated>", "<truncated>1</truncated>"))
    every = VOCEvalData(voc_root, "2012", "val", task="detection")
    hard_free = VOCEvalData(voc_root, "2012", "val", task="detection", no_hards=True)
    assert every.ids == [IMAGE_A, IMAGE_B] and hard_free.ids == [IMAGE_A]
    assert len(every[0]["box"]) == 2  # the person and the difficult bicycle
    np.testing.assert_array_equal(hard_free[0]["box"].numpy(), [[10, 5, 20, 10]])  # the person only
    spec = eval_data_spec({"name": "voc_detection", "root": str(voc_root), "split": "val", "no_hards": True})
    source = build_eval_source(spec, mean=(0, 0, 0), std=(1, 1, 1), batch_size=4, device=torch.device("cpu"),
                               multiple=32, arch="cnn")
    assert [int(i) for b in source.batches() for i in b.index] == [0]


def test_the_studys_image_selection_is_the_first_masked_files_in_glob_order(voc_root, monkeypatch):
    import glob as globmod

    from robustlab.pruning.data import voc as vocmod

    base = voc_root / "VOCdevkit" / "VOC2012"
    from PIL import Image

    for k in range(4):  # four JPEGs without a mask
        Image.new("RGB", (8, 8)).save(base / "JPEGImages" / f"2012_10000{k}.jpg")
    listed = globmod.glob(str(base / "JPEGImages" / "*.jpg"))
    masked = [p for p in listed if (base / "SegmentationClass" / f"{Path(p).stem}.png").exists()]
    ids, n_masked = vocmod.paper_image_ids(base)
    assert ids == [Path(p).stem for p in masked] and n_masked == 2
    # Fewer files than the study read: the cap of 581 files and 101 scored images, shrunk.
    monkeypatch.setattr(vocmod, "PAPER_FILES", 3)
    monkeypatch.setattr(vocmod, "PAPER_SCORED", 1)
    ids, n_masked = vocmod.paper_image_ids(base)
    first3 = [Path(p).stem for p in listed[:3] if (base / "SegmentationClass" / f"{Path(p).stem}.png").exists()]
    assert n_masked == len(first3) and ids == first3[:1]
    with pytest.raises(ValueError, match="segmentations"):
        VOCEvalData(voc_root, "2012", "val", task="detection", paper_image_selection=True)


def test_the_studys_means_divide_by_the_masked_count(voc_root, monkeypatch):
    from torch import nn

    from robustlab.pruning.data import voc as vocmod
    from robustlab.pruning.interpret.suite import interpretability_suite
    from robustlab.pruning.suites import EvalContext

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 3)).eval()
    monkeypatch.setattr(vocmod, "PAPER_SCORED", 1)  # one image scored, two masked among the files
    spec = eval_data_spec({"name": "voc_segmentation", "root": str(voc_root), "paper_image_selection": True,
                           "pad_multiple": 1})
    source = build_eval_source(spec, mean=(0.5,) * 3, std=(0.25,) * 3, batch_size=4, device=torch.device("cpu"),
                               multiple=32, arch="cnn")
    assert source.extras["mean_denominator"] == 2
    # Unpadded: the batch has its image's own size.
    assert [tuple(b.images.shape[-2:]) for b in source.batches()][0] in {(20, 30), (33, 40)}
    ctx = EvalContext(model=model, arch="cnn", batches=source.batches, device=torch.device("cpu"), step=0,
                      sparsity=0.0, run_dir=voc_root, seed=0, num_classes=3, img_size=32,
                      extras={"has_masks": True, "mean_denominator": 2, "classes": ["a", "b", "c"]})
    result = interpretability_suite(ctx, methods=["gradcam"], metrics=["rma"], target="predicted", gallery_size=0,
                                    zero_map="zero")
    values = result.per_image["value"].to_numpy()
    assert len(values) == 1 and result.rows[0]["n"] == 1
    assert result.rows[0]["mean"] == pytest.approx(values[0] / 2)
