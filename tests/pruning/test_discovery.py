"""Object discovery: LOST, TokenCut and the attention box on constructed features; CorLoc."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch

from robustlab.pruning.discovery import (
    DISCOVERY,
    best_iou,
    box_iou,
    centred_boxes,
    corloc,
    discover,
)
from robustlab.pruning.discovery.attention import attention_box
from robustlab.pruning.discovery.lost import lost
from robustlab.pruning.discovery.tokencut import tokencut

GRID = (12, 12)
SIZE = (96, 96)                     # 8 px patches
BLOCK = (slice(2, 6), slice(3, 8))  # rows 2..5, cols 3..7 -> box (24, 16, 64, 48)
BLOCK_BOX = [24.0, 16.0, 64.0, 48.0]


def _block_features(b: int = 4, d: int = 32, seed: int = 0) -> torch.Tensor:
    """A block of mutually similar patches on a noisy background (anti-correlated with it)."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(d, generator=g)
    feats = u + 0.5 * torch.randn(b, GRID[0] * GRID[1], d, generator=g)
    mask = torch.zeros(GRID, dtype=torch.bool)
    mask[BLOCK] = True
    feats[:, mask.flatten()] = -u + 0.5 * torch.randn(b, int(mask.sum()), d, generator=g)
    return feats


def test_lost_boxes_the_block():
    boxes, seeds = lost(_block_features(), GRID, SIZE, k_patches=100)
    np.testing.assert_array_equal(boxes, np.tile(BLOCK_BOX, (4, 1)))
    rows, cols = seeds // GRID[1], seeds % GRID[1]
    assert torch.all((rows >= 2) & (rows <= 5) & (cols >= 3) & (cols <= 7))


def test_tokencut_boxes_the_block():
    boxes, _ = tokencut(_block_features(seed=1), GRID, SIZE)
    np.testing.assert_array_equal(boxes, np.tile(BLOCK_BOX, (4, 1)))


def test_lost_on_nonnegative_features_needs_centring():
    # ReLU-like features: every similarity is positive, the reference LOST returns the image;
    # centring the features finds the block again.
    feats = _block_features(seed=2)
    shifted = feats - feats.amin(dim=(1, 2), keepdim=True)
    raw, _ = lost(shifted, GRID, SIZE)
    np.testing.assert_array_equal(raw, np.tile([0, 0, 96, 96], (4, 1)))
    centred, _ = lost(shifted, GRID, SIZE, center=True)
    np.testing.assert_array_equal(centred, np.tile(BLOCK_BOX, (4, 1)))


def test_batched_equals_per_image():
    g = torch.Generator().manual_seed(3)
    feats = torch.randn(6, 64, 16, generator=g)
    for fn in (lost, tokencut):
        boxes, seeds = fn(feats, (8, 8), (64, 64))
        for i in range(6):
            b1, s1 = fn(feats[i:i + 1], (8, 8), (64, 64))
            np.testing.assert_array_equal(b1[0], boxes[i])
            assert int(s1[0]) == int(seeds[i])


def test_attention_box_keeps_the_attended_block():
    att = torch.full((2, GRID[0] * GRID[1]), 0.1)
    mask = torch.zeros(GRID, dtype=torch.bool)
    mask[BLOCK] = True
    att[:, mask.flatten()] = 5.0        # 20 patches with 100 of 112.4 units of attention
    # 90% of the mass: the 20 block patches and one background patch (patch 0, not connected).
    boxes, _ = attention_box(att, GRID, SIZE, mass=0.9)
    np.testing.assert_array_equal(boxes, np.tile(BLOCK_BOX, (2, 1)))
    # 60%: the first 14 block patches in row-major order (ties are stable): rows 2..4.
    boxes, _ = attention_box(att, GRID, SIZE, mass=0.6)
    np.testing.assert_array_equal(boxes, np.tile([24.0, 16.0, 64.0, 40.0], (2, 1)))


def test_corloc_on_boxes_with_known_ious():
    gt = [np.array([[0, 0, 10, 10]]),                   # pred equal: IoU 1
          np.array([[0, 0, 10, 20]]),                   # pred half of it: IoU 0.5 -> hit
          np.array([[0, 0, 10, 30]]),                   # IoU 1/3 -> miss
          np.array([[50, 50, 60, 60], [0, 0, 10, 15]]),  # second box IoU 2/3 -> hit
          np.array([[20, 20, 30, 30]])]                 # disjoint: IoU 0
    pred = np.tile([0, 0, 10, 10], (5, 1))
    np.testing.assert_allclose(best_iou(pred, gt), [1.0, 0.5, 1 / 3, 2 / 3, 0.0])
    value, hits = corloc(pred, gt)
    np.testing.assert_array_equal(hits, [True, True, False, True, False])
    assert value == pytest.approx(0.6)
    # lost_iou_at_half: miss (eval=paper): IoU exactly 0.5 is not a hit, as LOST's epsilon makes it.
    value, hits = corloc(pred, gt, at_threshold="miss")
    np.testing.assert_array_equal(hits, [True, False, False, True, False])
    with pytest.raises(ValueError, match="at_threshold"):
        corloc(pred, gt, at_threshold="half")
    np.testing.assert_allclose(box_iou([0, 0, 10, 10], [[5, 0, 15, 10]]), [[1 / 3]])


def test_lost_seed_without_similar_patches_is_a_missed_box():
    """Before: all-zero features (a pruned ViT whose last keys lost every weight, at 59 % SNIP
    sparsity) ended the sweep with a traceback, "seed patch outside the foreground"; LOST's own
    detect_box raises there. Now that image has no box (NaN), scored IoU 0: a miss."""
    feats = _block_features(b=3)
    feats[1] = 0.0
    boxes, _ = lost(feats, GRID, SIZE, k_patches=100)
    assert np.isnan(boxes[1]).all() and np.isfinite(boxes[[0, 2]]).all()
    gt = [np.array([BLOCK_BOX])] * 3
    value, hits = corloc(boxes, gt)
    np.testing.assert_array_equal(hits, [True, False, True])
    assert value == pytest.approx(2 / 3)
    np.testing.assert_array_equal(best_iou(boxes, gt), [1.0, 0.0, 1.0])


def test_corloc_bad_input_is_named():
    with pytest.raises(ValueError, match=r"pred_boxes must be \(N, 4\)"):
        corloc(np.zeros((2, 3)), [np.zeros((1, 4))] * 2)
    with pytest.raises(ValueError, match="2 predicted boxes but ground truth for 1 images"):
        corloc(np.zeros((2, 4)), [np.zeros((1, 4))])
    with pytest.raises(ValueError, match=r"image\(s\) \[1\] have no ground-truth box"):
        corloc(np.zeros((2, 4)), [np.ones((1, 4)), np.zeros((0, 4))])


def test_centred_boxes():
    np.testing.assert_array_equal(centred_boxes(2, (64, 32), 0.5), [[8, 16, 24, 48]] * 2)


def test_discover_on_models_returns_boxes_inside_the_image():
    torch.manual_seed(0)
    x = torch.randn(3, 3, 32, 32)
    cnn = timm.create_model("resnet10t", num_classes=4).eval()
    vit = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2, num_classes=4).eval()
    for model, arch in ((cnn, "cnn"), (vit, "vit")):
        for name in DISCOVERY.list(archs=arch):
            boxes = discover(name, model, x, arch=arch, feature_layer="layer2" if arch == "cnn" else None)
            assert boxes.shape == (3, 4)
            assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2:] <= 32) and np.all(boxes[:, 2:] > boxes[:, :2])
    with pytest.raises(ValueError, match="'attention' is defined for vit models only, not for arch='cnn'"):
        discover("attention", cnn, x, arch="cnn")
    with pytest.raises(KeyError, match="did you mean lost"):
        discover("lots", cnn, x, arch="cnn")


@pytest.mark.parametrize("dilation", [2, 4])
def test_resnet_dilation_equals_torchvisions_dilated_resnet(dilation):
    import torchvision

    from robustlab.pruning.discovery.dilation import dilated_resnet
    from robustlab.pruning.discovery.features import patch_features

    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None, num_classes=3).eval()
    flags = [False, dilation == 4, True]
    reference = torchvision.models.resnet50(weights=None, num_classes=3, replace_stride_with_dilation=flags).eval()
    reference.load_state_dict(model.state_dict())
    images = torch.randn(1, 3, 64, 64)
    patches = patch_features(model, images, "cnn", feature_layer="layer4", dilation=dilation)
    want = patch_features(reference, images, "cnn", feature_layer="layer4")
    assert patches.grid == want.grid == (2 * dilation, 2 * dilation)
    torch.testing.assert_close(patches.features, want.features)
    assert patch_features(model, images, "cnn", feature_layer="layer4").grid == (2, 2)  # restored
    with pytest.raises(ValueError, match="Bottleneck"), dilated_resnet(torchvision.models.resnet18(), 2):
        pass
