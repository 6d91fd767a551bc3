"""COCO20k for LOST: the instances reader, the user's image list, and LOST's CorLoc on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robustlab.pruning.data.coco import COCODetectionEvalData, read_image_list
from robustlab.pruning.data.evaldata import EvalDataSpec, build_eval_source, eval_data_spec


def test_listed_images_with_their_non_crowd_boxes_rounded_as_lost_reads_them(coco_root):
    data = COCODetectionEvalData(coco_root / "train2014", coco_root / "instances_train2014.json",
                                 coco_root / "coco_20k_filenames.txt")
    # Image 30 has only a crowd: left out; image 42 is in the JSON but not in the list.
    assert [r["id"] for r in data.records] == [9, 25] and len(data) == 2
    first = data[0]
    assert tuple(first["image"].shape) == (3, 24, 32) and first["image"].max() <= 1.0
    np.testing.assert_array_equal(first["box"].numpy(), [[2, 4, 13, 12]])  # x+w = 12.6, y+h = 12.1
    assert data.classes == ["person", "cat", "dog"] and first["label"] == 1 and data[1]["label"] == 2
    assert not first["mask"].any() and first["difficult"].tolist() == [False]
    resized = COCODetectionEvalData(coco_root / "train2014", coco_root / "instances_train2014.json",
                                    coco_root / "coco_20k_filenames.txt", resize=16)
    np.testing.assert_allclose(resized[1]["box"].numpy(), [[0, 0, 8, 8]])


def test_missing_or_bad_coco_files_are_clear_errors(coco_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="image list"):
        read_image_list(tmp_path / "none.txt")
    bad = tmp_path / "list.txt"
    listed = (coco_root / "coco_20k_filenames.txt").read_text().split()[0]  # image 9
    bad.write_text(f"{listed}\nCOCO_train2014_000000999999.jpg\n")
    with pytest.raises(ValueError, match="not in its 'images'"):
        COCODetectionEvalData(coco_root / "train2014", coco_root / "instances_train2014.json", bad)
    with pytest.raises(ValueError, match="annotations"):
        eval_data_spec({"name": "coco20k", "root": str(coco_root / "train2014")})
    not_coco = tmp_path / "x.json"
    not_coco.write_text("[]")
    with pytest.raises(ValueError, match="not a COCO instances file"):
        COCODetectionEvalData(coco_root / "train2014", not_coco, coco_root / "coco_20k_filenames.txt")


def test_lost_corloc_on_a_coco20k_layout(coco_root):
    from torch import nn

    from robustlab.pruning.discovery.suite import discovery_suite
    from robustlab.pruning.suites import EvalContext

    spec = eval_data_spec({"name": "coco20k", "root": str(coco_root / "train2014"),
                           "annotations": str(coco_root / "instances_train2014.json"),
                           "image_list": str(coco_root / "coco_20k_filenames.txt")})
    assert isinstance(spec, EvalDataSpec)
    source = build_eval_source(spec, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), batch_size=4,
                               device=torch.device("cpu"), multiple=8, arch="cnn")
    assert source.name == "coco20k-coco_20k_filenames" and source.has_masks
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=8, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 3)).eval()
    ctx = EvalContext(model=model, arch="cnn", batches=source.batches, device=torch.device("cpu"), step=0,
                      sparsity=0.0, run_dir=coco_root, seed=0, num_classes=3, img_size=32, extras={})
    result = discovery_suite(ctx, methods=["lost"], n_images=None, feature_layer="0", lost_layernorm="cnn",
                             lost_seed_order="authors")
    per = result.per_image
    assert sorted(per["index"].unique()) == [0, 1]
    assert set(per["method"]) == {"lost", "centred_box"}
    corloc = per[per["metric"] == "corloc"]["value"]
    assert corloc.isin([0.0, 1.0]).all()
    # The centred box of image 25 (40 x 40 -> [10, 10, 30, 30]) against the dog [0, 0, 20, 20].
    centred = per[(per["method"] == "centred_box") & (per["metric"] == "iou")].set_index("index")["value"]
    assert centred[1] == pytest.approx(100 / 700)
