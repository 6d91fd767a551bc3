"""Localisation and faithfulness metrics: Quantus equality, hand-made cases, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from robustlab.pruning.interpret.metrics import (
    deletion_auc,
    energy_pointing_game,
    insertion_auc,
    pointing_game,
    pool_channels,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
    spearman_rows,
)

quantus = pytest.importorskip("quantus")


def _fixture(signed: bool, channels: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fixed random maps (continuous: no ties) and blob masks of 6 images of 16x16."""
    rng = np.random.default_rng(seed)
    shape = (6, channels, 16, 16) if channels else (6, 16, 16)
    a = rng.normal(size=shape) if signed else rng.random(shape)
    yy, xx = np.mgrid[:16, :16]
    cy, cx, r = rng.integers(4, 12, 6), rng.integers(4, 12, 6), rng.integers(2, 6, 6)
    masks = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2 <= r[:, None, None] ** 2
    return a, masks


def _quantus(metric_cls: type, a: np.ndarray, masks: np.ndarray, **kwargs: object) -> np.ndarray:
    n = len(a)
    metric = metric_cls(disable_warnings=True, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = metric(model=None, x_batch=np.zeros((n, 1, *a.shape[-2:])), y_batch=np.zeros(n, int),
                     a_batch=a[:, None], s_batch=masks[:, None].astype(float))
    return np.asarray(out, dtype=np.float64)


OURS_VS_QUANTUS = [
    (relevance_mass_accuracy, "RelevanceMassAccuracy"),
    (relevance_rank_accuracy, "RelevanceRankAccuracy"),
    (pointing_game, "PointingGame"),
]


@pytest.mark.parametrize(("ours", "theirs"), OURS_VS_QUANTUS)
def test_equals_quantus_on_nonnegative_maps_with_quantus_defaults(ours, theirs):
    # Non-negative maps; Quantus with its defaults (abs=False, normalise=True by max): our
    # positive clipping is then a no-op and the metrics are scale invariant.
    a, masks = _fixture(signed=False)
    expected = _quantus(getattr(quantus, theirs), a, masks)
    np.testing.assert_allclose(ours(a, masks), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("ours", "theirs"), OURS_VS_QUANTUS)
def test_equals_quantus_on_signed_maps(ours, theirs):
    # Signed maps: positive=False equals Quantus(abs=False, normalise=False) on the raw maps;
    # positive=True equals it on the maps with negative values set to zero.
    a, masks = _fixture(signed=True, seed=1)
    raw = _quantus(getattr(quantus, theirs), a, masks, abs=False, normalise=False)
    np.testing.assert_allclose(ours(a, masks, positive=False), raw, rtol=0, atol=1e-6)
    clipped = _quantus(getattr(quantus, theirs), np.clip(a, 0, None), masks, abs=False, normalise=False)
    np.testing.assert_allclose(ours(a, masks, positive=True), clipped, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("ours", "theirs"), OURS_VS_QUANTUS)
def test_channel_pooling_then_quantus(ours, theirs):
    a, masks = _fixture(signed=True, channels=3, seed=2)
    pooled = np.clip(np.abs(a).max(axis=1), 0, None)
    expected = _quantus(getattr(quantus, theirs), pooled, masks, abs=False, normalise=False)
    np.testing.assert_allclose(ours(a, masks, channel_pool="max_abs"), expected, rtol=0, atol=1e-6)


def test_torch_inputs_give_the_same_values():
    a, masks = _fixture(signed=True, seed=3)
    for fn in (relevance_mass_accuracy, relevance_rank_accuracy, pointing_game, energy_pointing_game):
        np.testing.assert_allclose(fn(torch.from_numpy(a).float(), torch.from_numpy(masks)),
                                   fn(a.astype(np.float32), masks), atol=1e-12)


def test_attribution_equal_to_mask_scores_one():
    _, masks = _fixture(signed=False, seed=4)
    a = masks.astype(np.float32)
    np.testing.assert_array_equal(relevance_mass_accuracy(a, masks), 1.0)
    np.testing.assert_array_equal(relevance_rank_accuracy(a, masks), 1.0)
    np.testing.assert_array_equal(pointing_game(a, masks), 1.0)
    np.testing.assert_array_equal(energy_pointing_game(a, masks), 1.0)


def test_uniform_attribution_gives_area_fraction():
    _, masks = _fixture(signed=False, seed=5)
    a = np.full(masks.shape, 0.3)
    np.testing.assert_allclose(relevance_mass_accuracy(a, masks), masks.mean(axis=(1, 2)), atol=1e-12)
    # A constant map points nowhere.
    assert np.isnan(pointing_game(a, masks)).all()


def test_rma_of_all_negative_map_is_nan_not_a_division_error():
    _, masks = _fixture(signed=False, seed=6)
    assert np.isnan(relevance_mass_accuracy(-np.ones(masks.shape), masks)).all()


def test_energy_pointing_game_counts_the_mask_box():
    masks = np.zeros((1, 8, 8), bool)
    masks[0, 2, 2] = masks[0, 5, 5] = True           # box rows/cols 2..5
    a = np.zeros((1, 8, 8))
    a[0, 3, 4] = 3.0                                 # inside the box, outside the mask
    a[0, 0, 0] = 1.0                                 # outside
    np.testing.assert_allclose(energy_pointing_game(a, masks), [0.75])
    np.testing.assert_allclose(relevance_mass_accuracy(a, masks), [0.0])


def test_pool_channels_rules():
    a = np.array([[[[1.0]], [[-2.0]], [[2.0]]]])     # (1, 3, 1, 1)
    assert pool_channels(a, "sum").item() == 1.0
    assert pool_channels(a, "abs_sum").item() == 5.0
    assert pool_channels(a, "max_abs").item() == 2.0
    assert pool_channels(a, "l2").item() == 3.0
    with pytest.raises(ValueError, match="channel_pool must be one of"):
        pool_channels(a, "mean")


def test_shape_mismatch_is_a_clear_error():
    a, masks = _fixture(signed=False)
    with pytest.raises(ValueError, match=r"differ in shape.*\(6, 16, 15\).*\(6, 16, 16\)"):
        relevance_mass_accuracy(a[..., :15], masks)
    with pytest.raises(ValueError, match="masks must be boolean"):
        pointing_game(a, masks[:, None])


def test_empty_mask_is_a_clear_error():
    a, masks = _fixture(signed=False)
    masks[2] = False
    with pytest.raises(ValueError, match=r"empty ground-truth mask for image\(s\) \[2\]"):
        relevance_rank_accuracy(a, masks)


def test_non_finite_attributions_are_rejected():
    a, masks = _fixture(signed=False)
    a[1, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite values \(images \[1\]\)"):
        relevance_mass_accuracy(a, masks)


class _PixelSum(torch.nn.Module):
    """Logit of class 0 = sum(w * x), class 1 = 0: the exact attribution is w * x."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x * self.w).flatten(1).sum(dim=1)
        return torch.stack([z, torch.zeros_like(z)], dim=1)


def test_deletion_and_insertion_reward_the_true_ordering():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 8, 8, generator=g)
    w = torch.randn(1, 1, 8, 8, generator=g) * 0.5
    model = _PixelSum(w).eval()
    exact = (x * w)[:, 0]
    targets = torch.zeros(4, dtype=torch.long)
    good = deletion_auc(model, x, exact, targets, n_steps=16)
    bad = deletion_auc(model, x, -exact, targets, n_steps=16)
    assert good.shape == (4,) and np.all(good < bad)
    good_ins = insertion_auc(model, x, exact, targets, n_steps=16, blur_sigma=1.0)
    bad_ins = insertion_auc(model, x, -exact, targets, n_steps=16, blur_sigma=1.0)
    assert np.all(good_ins > bad_ins)
    assert np.all((good >= 0) & (good <= 1) & (good_ins >= 0) & (good_ins <= 1))


def test_deletion_rejects_maps_of_another_resolution():
    model = _PixelSum(torch.ones(1, 1, 8, 8)).eval()
    with pytest.raises(ValueError, match="do not match images"):
        deletion_auc(model, torch.rand(2, 1, 8, 8), torch.rand(2, 4, 4), [0, 0])


def test_spearman_rows_equals_scipy():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(5, 6, 6)), rng.normal(size=(5, 6, 6))
    b[0] = a[0] * 2 + 1
    a[1, :3] = 0.0                                   # ties
    expected = [spearmanr(a[i].ravel(), b[i].ravel()).statistic for i in range(5)]
    np.testing.assert_allclose(spearman_rows(a, b), expected, atol=1e-12)
