"""End to end: train on an ImageFolder, prune one step, measure with the `paper` profile on the VOC
and model-vs-human fixtures of robustlab.pruning.data.fixtures.

Swin-V2-T with LOST on the COCO20k layout runs as the pruning-study page writes it, with these
fixtures: tests/e2e/test_docs_commands.py (check_swin_on_fixtures).
"""

from __future__ import annotations

import pandas as pd
import pytest

from robustlab.pruning.data.fixtures import write_image_folder, write_modelvshuman_tree

# model-vs-human's 16 categories: an ImageFolder of them gives a model whose outputs are the
# categories in alphabetical order, which the 16-class decision reads directly.
CATEGORIES = ("airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat", "chair", "clock", "dog",
              "elephant", "keyboard", "knife", "oven", "truck")
RAW_COLUMNS = ["subj", "session", "trial", "rt", "object_response", "category", "condition", "imagename"]


@pytest.mark.slow
def test_paper_profile_on_voc_fixtures(tmp_path, voc_root, run_prune):
    images = write_image_folder(tmp_path / "imagefolder")
    mvh = write_modelvshuman_tree(tmp_path / "model-vs-human")
    run = tmp_path / "run"
    result = run_prune(
        "experiment=smoke", "eval=paper", "data=imagenet", f"data.root={images}", "data.img_size=32",
        "data.num_classes=16", "train.batch_size=4", "method.steps=1", "report=true", "threads=1",
        f"hydra.run.dir={run}",
        f"eval.suites.interpretability.data.root={voc_root}", "eval.suites.interpretability.data.split=val",
        "eval.suites.interpretability.data.pad_multiple=32", "eval.suites.interpretability.ig_steps=4",
        f"eval.suites.discovery.data.root={voc_root}", "eval.suites.discovery.data.split=val",
        "eval.suites.discovery.data.pad_multiple=32",
        f"eval.suites.alignment.data.root={mvh}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    interp = pd.read_csv(run / "interpretability.csv")
    assert set(interp["eval_data"]) == {"voc2012-val-segmentation"}
    assert set(interp["step"]) == {0, 1}
    assert set(interp["method"]) == {"gradcam", "integrated_gradients"}
    assert set(interp["metric"]) == {"rma", "rra", "pointing_game"}
    rma = interp[interp["metric"] == "rma"]
    # zero_map=zero: no image is dropped, every value is a share in [0, 1].
    assert (rma["n"] == 2).all() and rma["mean"].between(0, 1).all()
    disc = pd.read_csv(run / "discovery.csv")
    assert set(disc["eval_data"]) == {"voc2012-val-detection"} and set(disc["method"]) == {"lost", "centred_box"}
    # The centred box of the padded images (32 x 32 and 64 x 64), by hand: IoU 20/286 with the
    # person of image A, 0 with the aeroplane of image B; CorLoc 0.
    centred = disc[(disc["method"] == "centred_box") & (disc["step"] == 0)].set_index("metric")["mean"]
    assert centred["iou"] == pytest.approx((20 / 286 + 0.0) / 2) and centred["corloc"] == 0.0
    align = pd.read_csv(run / "alignment.csv")
    assert set(align["eval_data"]) == {"modelvshuman"}
    assert set(align["method"]) == {"modelvshuman", "modelvshuman:sketch"}
    assert {"ood_accuracy", "accuracy_difference", "observed_consistency", "error_consistency"} <= set(align["metric"])
    # The step's decisions, in model-vs-human's raw-data format; OOD accuracy is their hit rate
    # and, against an observer who is always right, the accuracy difference its squared miss rate.
    decisions = pd.read_csv(run / "alignment" / "modelvshuman" / "sketch" / "sketch_step1_session_1.csv")
    assert list(decisions.columns) == RAW_COLUMNS and set(decisions["object_response"]) <= set(CATEGORIES)
    hit = (decisions["object_response"] == decisions["category"]).mean()
    got = align[(align["step"] == 1) & (align["method"] == "modelvshuman:sketch")].set_index("metric")["mean"]
    assert got["ood_accuracy"] == pytest.approx(hit) and got["accuracy_difference"] == pytest.approx((1 - hit) ** 2)
    report = (run / "report" / "report.md").read_text()
    assert "Evaluation data" in report and "voc2012-val-segmentation" in report and "modelvshuman" in report
    assert "integrated_gradients/rma" in report and "lost/corloc" in report
