"""Fixtures shared by the pruning tests.

Data written by the tests: a tiny Pascal VOC tree (VOC2012 segmentation + boxes, VOC2007 boxes)
and a COCO20k layout (robustlab.pruning.data.fixtures writes them; what each holds, to the pixel:
the comments there), an ImageFolder, run folders in the sweep's layout. Factories: a tiny sweep,
small models and their pruning context, the command line in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robustlab.pruning.data.fixtures import write_coco20k_tree, write_voc_tree


@pytest.fixture
def voc_root(tmp_path: Path) -> Path:
    """A tiny VOC2007 + VOC2012 tree (see write_voc_tree)."""
    return write_voc_tree(tmp_path / "voc")


@pytest.fixture
def coco_root(tmp_path: Path) -> Path:
    """A COCO20k-layout tree (see write_coco20k_tree)."""
    return write_coco20k_tree(tmp_path / "coco")


# ImageFolder: three classes (ants, bees, wasps), ``n`` JPEGs each in train/ and val/.
def _image_folder(root: Path, n: int = 3, size: tuple[int, int] = (40, 50)) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("ants", "bees", "wasps"):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(
                    root / split / cls / f"{i}.jpg", quality=90)
    return root


@pytest.fixture(scope="session")
def image_folder():
    """A factory: ``image_folder(root, n=3, size=(40, 50))`` writes the ImageFolder, returns ``root``."""
    return _image_folder


# Run folders in the sweep's layout, with synthetic tables, per-image values and galleries.
SPARSITIES = [0.0, 0.2, 0.4, 0.6, 0.8]


def _write_fake_run(run: Path, model: str, seed: int, rng: np.random.Generator, bump: float = 0.0,
                    n_images: int = 40, overrides: list[str] | None = None) -> Path:
    """A run directory in the sweep's layout, with synthetic tables, per-image values and galleries.

    ``bump`` is added to the localisation metric's per-image values at sparsity 0.4 and 0.6, so a
    sweet spot is planted there.
    """
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(
        "\n".join(f"- {o}" for o in (overrides or [f"model={model}", f"seed={seed}"])) + "\n")
    (run / "per_image").mkdir()
    (run / "interpretability").mkdir()
    metrics, align_rows, interp_rows = [], [], []
    for step, s in enumerate(SPARSITIES):
        correct = (rng.random(n_images) < 0.9 - 0.3 * s**2).astype(float)
        metrics.append({"step": step, "sparsity": s, "top1": correct.mean(), "top5": 1.0,
                        "params_nonzero": int(1e5 * (1 - s)), "macs": 1e6, "train_seconds": 1.0,
                        "images_per_second": 100.0, "model": model,
                        "prune_method": "magnitude", "seed": seed})
        pd.DataFrame({"index": np.arange(n_images), "metric": "top1", "value": correct}).to_parquet(
            run / "per_image" / f"accuracy_step{step:03d}.parquet")
        shape = np.where(rng.random(n_images) < 0.3 + 0.2 * s, 1.0, 0.0)
        noisy = (rng.random((2, n_images)) < 0.7 - 0.5 * s).astype(float)
        index = np.arange(n_images)
        curves = [("shape_bias", "shape_bias", 0.0, shape), ("clean", "top1", 0.0, correct),
                  ("uniform_noise", "top1", 0.1, noisy[0]), ("uniform_noise", "top1", 0.3, noisy[1])]
        align = pd.concat([pd.DataFrame({"index": index, "method": method, "metric": metric, "level": level,
                                         "value": value}) for method, metric, level, value in curves])
        align.to_parquet(run / "per_image" / f"alignment_step{step:03d}.parquet")
        for (method, metric, level), g in align.groupby(["method", "metric", "level"]):
            align_rows.append({"method": method, "metric": metric, "level": level, "mean": g["value"].mean(),
                               "std": g["value"].std(), "n": len(g), "step": step, "sparsity": s})
        align_rows.append({"method": "error_consistency", "metric": "kappa_dense", "level": 0.0, "mean": 1 - s,
                           "std": 0.05, "n": 3 * n_images, "step": step, "sparsity": s})
        loc = rng.normal(0.5, 0.1, n_images) + (bump if s in (0.4, 0.6) else 0.0)
        pd.DataFrame({"index": index, "method": "gradcam", "metric": "pointing_game", "value": loc}).to_parquet(
            run / "per_image" / f"interpretability_step{step:03d}.parquet")
        interp_rows.append({"method": "gradcam", "metric": "pointing_game", "mean": loc.mean(), "std": loc.std(),
                            "n": n_images, "step": step, "sparsity": s})
        images = (rng.random((2, 16, 16, 3)) * 255).astype(np.uint8)
        np.savez(run / "interpretability" / f"gallery_step{step:03d}.npz", images=images, index=np.arange(2),
                 map_gradcam=rng.random((2, 16, 16)).astype(np.float32))
    extra = {"model": model, "prune_method": "magnitude", "seed": seed}
    pd.DataFrame(metrics).to_csv(run / "metrics.csv", index=False)
    pd.DataFrame(align_rows).assign(**extra).to_csv(run / "alignment.csv", index=False)
    pd.DataFrame(interp_rows).assign(**extra).to_csv(run / "interpretability.csv", index=False)
    discovery = [{"method": "lost", "metric": "corloc", "mean": 0.5, "std": 0.1, "n": n_images, "step": st,
                  "sparsity": s, **extra} for st, s in enumerate(SPARSITIES)]
    pd.DataFrame(discovery).to_csv(run / "discovery.csv", index=False)
    return run


@pytest.fixture(scope="session")
def write_fake_run():
    """A factory: ``write_fake_run(run, model, seed, rng, bump=0.0, n_images=40, overrides=None)``
    (:func:`_write_fake_run`)."""
    return _write_fake_run


# ------------------------------------------------------------------------------ sweeps and models

@pytest.fixture(scope="session")
def tiny_spec():
    """A factory: ``tiny_spec(steps=2, method="imp_lr_rewind", suites=None, rate=0.2, **kw)``, the
    sweep of a small ResNet on 32 px shapes (32 training images, 16 held out) on the CPU."""
    from robustlab.pruning.data.sources import DataSpec
    from robustlab.pruning.models import ModelSpec
    from robustlab.pruning.sweep_spec import SweepSpec
    from robustlab.pruning.train import TrainSpec

    def make(steps=2, method="imp_lr_rewind", suites=None, rate=0.2, **kw):
        return SweepSpec(
            model=ModelSpec("resnet18", num_classes=3, img_size=32, kwargs={"channels": (8, 8, 16, 16)}),
            data=DataSpec(num_classes=3, img_size=32, train_size=32, val_size=16),
            train=TrainSpec(epochs=1, batch_size=16, lr=0.05, progress=False),
            method=method, steps=steps, rate=rate, eval_batch_size=16, suites=suites or {}, device="cpu", **kw)

    return make


@pytest.fixture(scope="session")
def small_resnet():
    """A factory: ``small_resnet(num_classes=4)``, a narrow ResNet-18 for 32 px images (seed 0, eval mode)."""
    import torch

    from robustlab.pruning.models import ModelSpec, create_model

    def make(num_classes=4):
        torch.manual_seed(0)
        return create_model(ModelSpec("resnet18", num_classes=num_classes, img_size=32,
                                      kwargs={"channels": (8, 16, 32, 64)})).eval()

    return make


@pytest.fixture(scope="session")
def small_vit():
    """A factory: ``small_vit()``, a two-block ViT for 32 px images, 4 classes (seed 0, eval mode)."""
    import torch

    from robustlab.pruning.models import ModelSpec, create_model

    def make():
        torch.manual_seed(0)
        return create_model(ModelSpec("vit_tiny_patch16_224", num_classes=4, img_size=32,
                                      kwargs={"patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2})).eval()

    return make


@pytest.fixture(scope="session")
def prune_context():
    """A factory: ``prune_context(model, step, rate=0.2, scope=None, seed=0)``, the PruneContext of
    ``model`` with one fixed batch of eight random 32 px images, its head left unpruned."""
    import torch

    from robustlab.pruning.masks import PruneScope, prunable_targets
    from robustlab.pruning.methods import PruneContext
    from robustlab.pruning.models import classifier_head

    def make(model, step, rate=0.2, scope=None, seed=0):
        scope = scope or PruneScope()
        x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
        y = torch.arange(8) % 4

        def batches():
            yield x, y

        head = classifier_head(model)
        return PruneContext(model=model, targets=prunable_targets(model, scope), ignored=[head],
                            batches=batches, example_inputs=x[:1], step=step, rate=rate, seed=seed)

    return make


@pytest.fixture(scope="module")
def cnn():
    """timm's ResNet-10-T, 4 classes, randomly initialised (seed 0), in eval mode."""
    import timm
    import torch

    torch.manual_seed(0)
    return timm.create_model("resnet10t", num_classes=4, pretrained=False).eval()


@pytest.fixture(scope="session")
def run_prune():
    """A factory: ``run_prune(*overrides, cwd)`` runs ``robustlab-prune`` in a fresh interpreter
    (one thread, one-line errors) and returns the completed process."""

    def run(*args, cwd):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
        code = "from robustlab.pruning.cli import main; main()"
        return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=600)

    return run
