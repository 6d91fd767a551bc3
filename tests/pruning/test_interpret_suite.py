"""The interpretability and discovery suites on a hand-built evaluation context."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import timm
import torch

from robustlab.pruning.suites import SUITES, EvalBatch, EvalContext

warnings.filterwarnings("ignore", message=".*required_grads has been set automatically.*")
warnings.filterwarnings("ignore", message=".*Setting backward hooks on ReLU activations.*")

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _context(model: torch.nn.Module, arch: str, tmp_path, n: int = 6, size: int = 32, batch: int = 4) -> EvalContext:
    g = torch.Generator().manual_seed(0)
    pics = torch.rand(n, 3, size, size, generator=g)
    masks = torch.zeros(n, size, size, dtype=torch.bool)
    boxes = []
    for i in range(n):
        y0, x0 = 2 + i, 4 + i
        masks[i, y0:y0 + 12, x0:x0 + 10] = True
        boxes.append(np.array([[x0, y0, x0 + 10, y0 + 12]], dtype=float))
    images = (pics - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    labels = torch.arange(n) % 4

    def batches(max_images: int | None = None):
        stop = n if max_images is None else min(n, max_images)
        for i in range(0, stop, batch):
            j = min(i + batch, stop)
            yield EvalBatch(images[i:j], labels[i:j], masks[i:j], boxes[i:j], torch.arange(i, j))

    return EvalContext(model=model, arch=arch, batches=batches, device=torch.device("cpu"), step=2,
                       sparsity=0.5, run_dir=tmp_path, seed=0, num_classes=4, img_size=size,
                       extras={"normalize": (MEAN, STD)})


def test_interpretability_suite_rows_per_image_and_gallery(cnn, tmp_path):
    fn, table = SUITES.get("interpretability").fn, SUITES.get("interpretability").table
    assert table == "interpretability"
    ctx = _context(cnn, "cnn", tmp_path)
    metrics = ["rma", "rra", "pointing_game", "energy_pointing_game", "deletion_auc"]
    with torch.no_grad():  # the sweep may call suites without gradients
        result = fn(ctx, methods=["gradcam", "saliency", "vit_cls_attention"], metrics=metrics,
                    n_images=5, gallery_size=3, perturbation_steps=4)
    rows = {(r["method"], r["metric"]): r for r in result.rows}
    assert set(rows) == {(m, k) for m in ("gradcam", "saliency") for k in metrics}
    per = result.per_image
    assert list(per.columns) == ["index", "method", "metric", "value"]
    assert len(per) == 5 * 2 * len(metrics) and sorted(per["index"].unique()) == [0, 1, 2, 3, 4]
    sal = per[(per.method == "saliency") & (per.metric == "rma")]["value"].to_numpy()
    assert rows[("saliency", "rma")]["n"] == 5
    assert rows[("saliency", "rma")]["mean"] == pytest.approx(sal.mean())
    assert rows[("saliency", "rma")]["std"] == pytest.approx(sal.std(ddof=1))

    gallery = np.load(tmp_path / "interpretability" / "gallery_step002.npz")
    assert set(gallery.files) == {"images", "index", "map_gradcam", "map_saliency"}
    assert gallery["images"].shape == (3, 32, 32, 3) and gallery["images"].dtype == np.uint8
    assert gallery["map_saliency"].shape == (3, 32, 32) and gallery["map_saliency"].dtype == np.float32
    np.testing.assert_array_equal(gallery["index"], [0, 1, 2])
    # The pictures are the un-normalised inputs.
    first = next(ctx.batches(max_images=1)).images[0]
    expected = ((first * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1))
                .clamp(0, 1).permute(1, 2, 0).numpy() * 255).round()
    np.testing.assert_array_equal(gallery["images"][0], expected.astype(np.uint8))


def test_interpretability_suite_rejects_unknown_names_before_work(cnn, tmp_path):
    fn = SUITES.get("interpretability")
    ctx = _context(cnn, "cnn", tmp_path)
    with pytest.raises(ValueError, match=r"interpretability\.metrics\[0\]: must be one of rma, .*; got 'rmaa'"):
        fn(ctx, methods=["gradcam"], metrics=["rmaa"])
    with pytest.raises(KeyError, match="did you mean gradcam"):
        fn(ctx, methods=["gradcm"])
    assert not (tmp_path / "interpretability").exists()


def test_suites_on_a_vit(tmp_path):
    torch.manual_seed(0)
    vit = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2, num_classes=4).eval()
    ctx = _context(vit, "vit", tmp_path)
    interp = SUITES.get("interpretability")
    result = interp(ctx, methods={"cnn": ["gradcam"], "vit": ["vit_cls_attention", "attention_rollout"]},
                    metrics=["rma", "pointing_game"], n_images=4, gallery_size=2)
    assert {r["method"] for r in result.rows} == {"vit_cls_attention", "attention_rollout"}
    disc, table = SUITES.get("discovery"), SUITES.get("discovery").table
    assert table == "discovery"
    result = disc(ctx, methods=["lost", "tokencut", "attention"], n_images=6)
    assert {(r["method"], r["metric"]) for r in result.rows} == {
        (m, k) for m in ("lost", "tokencut", "attention", "centred_box") for k in ("corloc", "iou")}
    assert all(r["n"] == 6 for r in result.rows)


def test_discovery_suite_counts_a_vit_without_keys_as_missed(tmp_path, caplog):
    """Before: a ViT whose last block's key weights are all pruned stopped the sweep with a
    traceback in LOST; now every image is a miss for LOST, and the log says how many."""
    torch.manual_seed(0)
    vit = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2,
                            num_classes=4).eval()
    qkv = vit.blocks[-1].attn.qkv
    dim = qkv.weight.shape[1]
    with torch.no_grad():  # the key rows of the fused projection, as a pruning mask leaves them
        qkv.weight[dim:2 * dim] = 0.0
        qkv.bias[dim:2 * dim] = 0.0
    ctx = _context(vit, "vit", tmp_path)
    with caplog.at_level("WARNING", logger="robustlab.pruning.discovery.suite"):
        result = SUITES.get("discovery")(ctx, methods=["lost"], n_images=6)
    rows = {(r["method"], r["metric"]): r for r in result.rows}
    assert rows[("lost", "corloc")]["mean"] == 0.0 and rows[("lost", "corloc")]["n"] == 6
    assert "lost found no object in 6 image(s)" in caplog.text


def test_discovery_suite_on_a_cnn_skips_vit_only_methods(cnn, tmp_path):
    fn = SUITES.get("discovery")
    ctx = _context(cnn, "cnn", tmp_path, size=64)
    result = fn(ctx, methods=["lost", "tokencut", "attention"], n_images=6, feature_layer="layer2")
    assert {r["method"] for r in result.rows} == {"lost", "tokencut", "centred_box"}
    per = result.per_image
    hits = per[(per.method == "lost") & (per.metric == "corloc")]["value"]
    ious = per[(per.method == "lost") & (per.metric == "iou")]["value"]
    np.testing.assert_array_equal(hits.to_numpy(), (ious.to_numpy() >= 0.5).astype(float))


def test_data_without_masks_skips_mask_metrics_and_discovery(cnn, tmp_path):
    ctx = _context(cnn, "cnn", tmp_path)
    ctx.extras["has_masks"] = False
    interp = SUITES.get("interpretability")
    result = interp(ctx, methods=["gradcam"], metrics=["rma", "deletion_auc"], n_images=2,
                    gallery_size=1, perturbation_steps=2)
    assert [(r["method"], r["metric"]) for r in result.rows] == [("gradcam", "deletion_auc")]
    disc = SUITES.get("discovery")
    assert disc(ctx).rows == []
