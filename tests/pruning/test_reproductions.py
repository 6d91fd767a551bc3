"""The study's defects, offered only as named reproductions: each behaves as the study's code does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from robustlab.pruning.interpret.methods import attribute


def _tiny_vit() -> nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                                 hidden_dim=16, mlp_dim=32, num_classes=3)
    nn.init.normal_(model.heads.head.weight)  # torchvision starts the head at zero
    return model.eval()


def test_transposed_cls_attention_is_the_maps_mirror():
    model, images = _tiny_vit(), torch.randn(2, 3, 32, 32)
    ours = attribute("vit_cls_attention", model, images, [0, 1], arch="vit", heads="sum")
    theirs = attribute("vit_cls_attention_transposed", model, images, [0, 1], arch="vit")
    torch.testing.assert_close(theirs, ours.transpose(1, 2))
    assert not torch.allclose(theirs, ours)


def test_the_studys_vit_gradcam_on_the_encoder_is_always_zero():
    model, images = _tiny_vit(), torch.randn(2, 3, 32, 32)
    theirs = attribute("vit_gradcam_encoder", model, images, [0, 2], arch="vit")
    assert theirs.shape == (2, 32, 32) and theirs.abs().sum() == 0
    ours = attribute("gradcam", model, images, [0, 2], arch="vit")
    assert ours.abs().sum() > 0


def test_concat_qkv_keys_read_the_stacked_copies_as_the_study_does():
    from robustlab.pruning.discovery.methods import concat_qkv_keys

    t, d, heads = 17, 12, 3
    x = torch.randn(1, t, d)
    # The study: torch.concat((x, x, x)) saved, then reshaped as LOST reshapes a fused qkv output.
    qkv = torch.concat((x, x, x)).reshape(1, t, 3, heads, -1 // heads).permute(2, 0, 3, 1, 4)
    keys = qkv[1].transpose(1, 2).reshape(1, t, -1)[:, 1:, :]
    torch.testing.assert_close(concat_qkv_keys(x), keys)
    assert not torch.equal(concat_qkv_keys(x), x[:, 1:])


def test_lost_concat_qkv_runs_on_a_vits_patch_features():
    from robustlab.pruning.arch_methods import method_for
    from robustlab.pruning.discovery.features import patch_features
    from robustlab.pruning.discovery.lost import lost
    from robustlab.pruning.discovery.methods import DISCOVERY, concat_qkv_keys

    model, images = _tiny_vit(), torch.randn(2, 3, 32, 32)
    patches = patch_features(model, images, "vit")
    assert patches.block_input is not None and patches.block_input.shape == (2, 17, 16)
    boxes, seeds = DISCOVERY.get("lost_concat_qkv")(patches)
    want, _ = lost(concat_qkv_keys(patches.block_input), (4, 4), (32, 32), seed_order="authors")
    np.testing.assert_array_equal(boxes, want)
    assert boxes.shape == (2, 4) and seeds.shape == (2,)
    with pytest.raises(ValueError, match="vit"):
        method_for(DISCOVERY, "lost_concat_qkv", "cnn")
