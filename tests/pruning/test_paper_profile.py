"""The `paper` profile's pieces: IG pooling and noise, min-max scaling, zero maps, LOST's LayerNorm."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from robustlab.pruning.discovery.lost import lost
from robustlab.pruning.interpret.methods import attribute
from robustlab.pruning.interpret.metrics import (
    minmax_scale,
    pool_channels,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
)
from robustlab.pruning.interpret.suite import mask_metric


def _tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 3)).eval()


def test_squared_l2_pooling():
    a = torch.tensor([[[[1.0, -2.0]], [[2.0, 0.0]], [[-2.0, 1.0]]]])  # (1, 3, 1, 2)
    assert pool_channels(a, "l2_squared").tolist() == [[[9.0, 5.0]]]
    assert pool_channels(a, "l2").tolist() == [[[3.0, 5.0**0.5]]]


def test_ig_under_the_studys_noise_tunnel_equals_captums():
    from captum.attr import IntegratedGradients, NoiseTunnel

    model = _tiny_cnn()
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0, 2])
    ours = attribute("integrated_gradients", model, x, t, arch="cnn", n_steps=50, internal_batch_size=64,
                     smoothgrad_samples=2, smoothgrad_stdev=1.0, smoothgrad_stdev_mode="absolute",
                     channel_pool="l2_squared", seed=3)
    torch.manual_seed(3)
    theirs = NoiseTunnel(IntegratedGradients(model)).attribute(
        x, nt_type="smoothgrad", nt_samples=2, stdevs=1.0, target=t, n_steps=50, internal_batch_size=64)
    torch.testing.assert_close(ours, theirs.pow(2).sum(dim=1), rtol=1e-5, atol=1e-8)
    assert (ours >= 0).all()
    plain = attribute("integrated_gradients", model, x, t, arch="cnn", n_steps=50, smoothgrad_samples=2,
                      smoothgrad_stdev=1.0, channel_pool="l2_squared", seed=3)
    assert not torch.allclose(plain, ours)  # "range" scales the stdev by the batch's span


def test_minmax_scaling():
    maps = torch.tensor([[[1.0, 3.0], [2.0, 5.0]], [[4.0, 4.0], [4.0, 4.0]]])
    scaled = minmax_scale(maps)
    torch.testing.assert_close(scaled[0], torch.tensor([[0.0, 0.5], [0.25, 1.0]]), rtol=0, atol=1e-12)
    assert scaled[1].abs().sum() == 0  # a constant map becomes the all-zero map


def test_zero_maps_score_zero_in_the_paper_profile():
    masks = torch.zeros(2, 3, 3, dtype=torch.bool)
    masks[:, 0] = True
    maps = torch.zeros(2, 3, 3)
    maps[1, 0, 0], maps[1, 2, 2] = 3.0, 1.0
    default_rma = relevance_mass_accuracy(maps, masks)
    assert np.isnan(default_rma[0]) and default_rma[1] == pytest.approx(0.75)
    assert relevance_mass_accuracy(maps, masks, zero_map="zero").tolist() == [0.0, 0.75]
    # RRA: K = 3 mask pixels; the map's top 3 are (0,0), (2,2) and a tie at 0 broken by order.
    assert relevance_rank_accuracy(maps, masks, zero_map="zero").tolist() == [0.0, pytest.approx(2 / 3)]
    assert relevance_rank_accuracy(maps, masks)[0] == pytest.approx(1.0)  # ties by pixel order
    # An image without object pixels: NaN by default, 0 in RMA/RRA with zero_map="zero".
    masks[1] = False
    assert mask_metric("rma", maps, masks, "zero").tolist() == [0.0, 0.0]
    assert np.isnan(mask_metric("rma", maps, masks)).tolist() == [True, True]
    assert np.isnan(mask_metric("pointing_game", maps, masks, "zero")[1])


def test_lost_layernorm_is_one_norm_over_the_whole_map():
    rng = np.random.default_rng(0)
    feats = torch.from_numpy(rng.gamma(1.0, size=(2, 16, 5)).astype(np.float32))
    boxes, seeds = lost(feats, (4, 4), (32, 32), k_patches=100, layernorm=True)
    normed = torch.stack([nn.LayerNorm(tuple(f.shape), elementwise_affine=False)(f) for f in feats])
    ref_boxes, ref_seeds = lost(normed, (4, 4), (32, 32), k_patches=100)
    np.testing.assert_array_equal(boxes, ref_boxes)
    assert seeds.tolist() == ref_seeds.tolist()
    # Raw post-ReLU-like features (all positive) make every degree maximal: not the same seeds.
    raw_boxes, _ = lost(feats, (4, 4), (32, 32), k_patches=100)
    np.testing.assert_array_equal(raw_boxes, np.tile([0.0, 0.0, 32.0, 32.0], (2, 1)))


def test_all_zero_map_rra_of_the_studys_code_is_the_share_among_the_last_pixels():
    # The study ranks pixels by np.argsort(ravel(map))[::-1]: an all-zero map puts the last
    # pixels first, so an object at the bottom scores RRA 1 and one at the top scores 0.
    masks = torch.zeros(3, 4, 4, dtype=torch.bool)
    masks[0, 2:] = True          # bottom half
    masks[1, :2] = True          # top half
    masks[2, 1:3, 1:3] = True    # centre: K = 4, the last 4 pixels (row 3) hold none
    maps = torch.zeros(3, 4, 4)
    assert relevance_rank_accuracy(maps, masks, zero_map="last_pixels").tolist() == [1.0, 0.0, 0.0]
    assert relevance_rank_accuracy(maps, masks, zero_map="zero").tolist() == [0.0, 0.0, 0.0]
    assert relevance_mass_accuracy(maps, masks, zero_map="last_pixels").tolist() == [0.0, 0.0, 0.0]
    rng = np.random.default_rng(1)
    for _ in range(20):
        mask = rng.random((5, 7)) < rng.random()
        if not mask.any():
            continue
        order = np.argsort(np.zeros(35))[::-1]  # the study's ranking of an all-zero map
        k = int(mask.sum())
        expected = mask.ravel()[order[:k]].sum() / k
        got = relevance_rank_accuracy(np.zeros((1, 5, 7)), mask[None], zero_map="last_pixels")[0]
        assert got == pytest.approx(expected)
    # A map with relevance is ranked as before.
    maps[0, 3, 3] = 1.0
    assert relevance_rank_accuracy(maps[:1], masks[:1], zero_map="last_pixels")[0] == pytest.approx(
        relevance_rank_accuracy(maps[:1], masks[:1])[0])


def _their_seed_and_candidates(feats: torch.Tensor, k: int) -> tuple[int, set[int]]:
    """LOST's patch scoring as written in its object_discovery.py (one image)."""
    a = feats @ feats.T
    off = a.clone()
    off.fill_diagonal_(0)
    off[off < 0] = 0
    order = torch.argsort(-torch.sum(off > 0, dim=1).type(torch.float32), descending=True)
    return int(order[0]), set(order[:k].tolist())


def test_lost_seed_ties_resolve_as_the_authors_code_does():
    gen = torch.Generator().manual_seed(0)
    differ = 0
    for _ in range(300):
        gh, gw = int(torch.randint(3, 12, (1,), generator=gen)), int(torch.randint(3, 12, (1,), generator=gen))
        feats = torch.randn(1, gh * gw, 3, generator=gen)
        _, seeds = lost(feats, (gh, gw), (gh * 8, gw * 8), k_patches=20, seed_order="authors")
        _, stable = lost(feats, (gh, gw), (gh * 8, gw * 8), k_patches=20)
        seed, _ = _their_seed_and_candidates(feats[0], 20)
        assert int(seeds[0]) == seed
        differ += int(stable[0]) != seed
    assert differ > 0  # ties among low degrees are common with 3-D features
    with pytest.raises(ValueError, match="seed_order"):
        lost(torch.randn(1, 4, 2), (2, 2), (8, 8), seed_order="random")


def test_paper_lost_layernorm_applies_to_cnn_maps_only():
    from robustlab.pruning.discovery.features import PatchFeatures
    from robustlab.pruning.discovery.methods import DISCOVERY

    rng = np.random.default_rng(2)
    feats = torch.from_numpy(rng.normal(size=(2, 16, 6)).astype(np.float32))
    fn = DISCOVERY.get("lost").fn
    for arch in ("cnn", "vit"):
        patches = PatchFeatures(feats, (4, 4), (32, 32), arch)
        boxes, _ = fn(patches, layernorm="cnn")
        want, _ = lost(feats, (4, 4), (32, 32), layernorm=arch == "cnn", center=False)
        np.testing.assert_array_equal(boxes, want)
    with pytest.raises(ValueError, match="layernorm"):
        fn(PatchFeatures(feats, (4, 4), (32, 32), "cnn"), layernorm="vit")


@pytest.mark.parametrize("experiment", ["paper_resnet18", "paper_resnet50", "paper_vitb32", "paper_swinv2t"])
def test_paper_experiments_compose_with_the_studys_settings(experiment, monkeypatch):
    from hydra import compose, initialize_config_dir

    from robustlab.common.hydra_app import CONFIG_ENV, config_dir
    from robustlab.pruning.cli import spec_from_config

    monkeypatch.setenv(CONFIG_ENV, str(config_dir()))
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="pruning", overrides=[f"experiment={experiment}"])
    assert cfg.train.weight_decay_scope == "all"
    suites = cfg.eval.suites
    assert suites.interpretability.data.pad_multiple == 1 and not suites.interpretability.data.paper_image_selection
    assert suites.discovery.lost_layernorm == "cnn" and suites.discovery.lost_seed_order == "authors"
    assert suites.discovery.lost_iou_at_half == "miss"
    assert spec_from_config(cfg).train.weight_decay_scope == "all"
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        hydra_cfg = compose(config_name="pruning", overrides=[f"experiment={experiment}"], return_hydra_config=True)
        ours = compose(config_name="pruning", overrides=["experiment=smoke"])
    assert hydra_cfg.hydra.sweeper.params.seed == "0,1,2"  # a multirun trains three seeds
    assert ours.train.weight_decay_scope == "matrices"
