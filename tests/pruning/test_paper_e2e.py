"""End to end: train on an ImageFolder, prune one step, measure on VOC with the `paper` profile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def _image_folder(root: Path, classes: int = 2, per_class: int = 4, size: int = 32) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                pixels[..., c] = 255  # each class has its own dominant colour
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def prune(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    code = "from robustlab.pruning.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_paper_profile_on_voc_fixtures(tmp_path, voc_root):
    images = _image_folder(tmp_path / "imagefolder")
    run = tmp_path / "run"
    result = prune(
        "experiment=smoke", "eval=paper", "data=imagenet", f"data.root={images}", "data.img_size=32",
        "data.num_classes=2", "train.batch_size=4", "method.steps=1", "report=true", "threads=1", f"hydra.run.dir={run}",
        f"eval.suites.interpretability.data.root={voc_root}", "eval.suites.interpretability.data.split=val",
        "eval.suites.interpretability.data.pad_multiple=32", "eval.suites.interpretability.ig_steps=4",
        f"eval.suites.discovery.data.root={voc_root}", "eval.suites.discovery.data.split=val",
        "eval.suites.discovery.data.pad_multiple=32",
        "eval.suites.alignment.n_images=4", "eval.suites.alignment.cue_conflict_images=0",
        cwd=tmp_path)
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
    assert set(align["eval_data"]) == {"training"}
    report = (run / "report" / "report.md").read_text()
    assert "Evaluation data" in report and "voc2012-val-segmentation" in report
    assert "integrated_gradients/rma" in report and "lost/corloc" in report
