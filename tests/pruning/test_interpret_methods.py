"""Attribution methods: batched equals per-image, definitions cross-checked, clear errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import timm
import torch

from robustlab.pruning.interpret import ATTRIBUTIONS, attribute
from robustlab.pruning.interpret.layers import (
    FeatureGrid,
    feature_grid,
    find_last_conv_block,
    vit_geometry,
)
from robustlab.pruning.interpret.sanity import parameter_randomization_check, randomize_parameters

warnings.filterwarnings("ignore", message=".*required_grads has been set automatically.*")
warnings.filterwarnings("ignore", message=".*Setting backward hooks on ReLU activations.*")


@pytest.fixture(scope="module")
def vit() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2,
                             num_classes=4, pretrained=False).eval()


def _batch(n: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    # Class 3: the class whose Grad-CAM is not all zero for the randomly initialised CNN.
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g), torch.full((n,), 3)


def test_registry_lists_methods_by_architecture():
    assert {"saliency", "integrated_gradients", "gradcam", "guided_gradcam"} <= set(ATTRIBUTIONS.list(archs="cnn"))
    assert "vit_cls_attention" not in ATTRIBUTIONS.list(archs="cnn")
    assert {"vit_cls_attention", "attention_rollout", "gradcam"} <= set(ATTRIBUTIONS.list(archs="vit"))


def test_unknown_method_names_close_matches():
    with pytest.raises(KeyError, match="did you mean gradcam"):
        ATTRIBUTIONS.get("gradcm")


def test_vit_only_method_on_a_cnn_is_a_clear_error(cnn):
    x, t = _batch(2, 32)
    with pytest.raises(ValueError, match="'vit_cls_attention' is defined for vit models only, not for arch='cnn'"):
        attribute("vit_cls_attention", cnn, x, t, arch="cnn")
    # Declared a ViT but is not one: the geometry lookup says so.
    with pytest.raises(ValueError, match="is not a ViT"):
        attribute("vit_cls_attention", cnn, x, t, arch="vit")


def test_bad_images_and_targets_are_rejected(cnn):
    x, t = _batch(2, 32)
    with pytest.raises(ValueError, match=r"images must be a \(N, C, H, W\) tensor"):
        attribute("gradcam", cnn, x[0], t, arch="cnn")
    with pytest.raises(ValueError, match="3 targets for 2 images"):
        attribute("gradcam", cnn, x, torch.tensor([0, 1, 2]), arch="cnn")


def test_a_method_option_outside_its_declared_range_is_named_before_any_gradient(cnn):
    from robustlab.common.errors import ConfigError

    images, targets = _batch(2, 32)
    with pytest.raises(ConfigError, match=r"^integrated_gradients\.n_steps: must be in \[1, inf\); got 0$"):
        attribute("integrated_gradients", cnn, images, targets, arch="cnn", n_steps=0)
    with pytest.raises(ConfigError, match=r"^integrated_gradients\.smoothgrad_stdev_mode: must be one of range, "
                                          r"absolute; got 'ranged' \(did you mean range\?\)$"):
        attribute("integrated_gradients", cnn, images, targets, arch="cnn", smoothgrad_stdev_mode="ranged")


def test_last_conv_block_is_the_last_stage(cnn):
    x, _ = _batch(1, 64)
    assert find_last_conv_block(cnn, x)[0] == "layer4"
    import torchvision

    tv = torchvision.models.resnet18(num_classes=3).eval()
    assert find_last_conv_block(tv, x)[0] == "layer4"


def _small_resnet() -> torch.nn.Module:
    """The sweep's small ResNet (conf/pruning/model/resnet_small.yaml: output stride 8), randomly initialised."""
    torch.manual_seed(0)
    return timm.create_model("resnet18", num_classes=6, channels=[16, 32, 64, 128], stem_width=16,
                             output_stride=8).eval()


def test_feature_grid_centres_resnet_cells_and_tiles_patch_grids():
    import torchvision

    x = torch.zeros(1, 3, 64, 64)
    # "Same"-padded strided layers: cell i is centred on pixel stride * i (centre + 0.5).
    assert feature_grid(_small_resnet(), "layer4", x) == FeatureGrid((0.5, 0.5), (8.0, 8.0))
    resnet18 = torchvision.models.resnet18(num_classes=3).eval()
    assert feature_grid(resnet18, "layer4", x) == FeatureGrid((0.5, 0.5), (32.0, 32.0))
    # Patchifying layers (kernel = stride, no padding) tile the image: a plain resize's grid.
    patchify = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 4, stride=4), torch.nn.MaxPool2d(2))
    assert feature_grid(patchify, "1", x) == FeatureGrid((4.0, 4.0), (8.0, 8.0))
    # timm's avg_down shortcut disagrees with its block's padded strided convolution: plain grid.
    resnet10t = timm.create_model("resnet10t", num_classes=4).eval()
    assert feature_grid(resnet10t, "layer4", x) == FeatureGrid((16.0, 16.0), (32.0, 32.0))


def test_gradcam_cells_sit_on_their_receptive_fields():
    # The input gradient of one cell of the last stage is centred where feature_grid puts the
    # cell, not where a plain resize draws it ((stride - 1) / 2 = 3.5 pixels further down-right).
    model = _small_resnet()
    x = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    store = {}
    handle = model.layer4.register_forward_hook(lambda m, i, out: store.__setitem__("a", out))
    model(x)
    handle.remove()
    grad = torch.autograd.grad(store["a"][:, :, 4, 4].sum(), x)[0].abs().sum(dim=(0, 1))
    pixels = torch.arange(64) + 0.5
    centre = torch.stack([(grad.sum(dim=1) * pixels).sum(), (grad.sum(dim=0) * pixels).sum()]) / grad.sum()
    grid = feature_grid(model, "layer4", x.detach())
    expected = torch.tensor([grid.origin[0] + 4 * grid.stride[0], grid.origin[1] + 4 * grid.stride[1]])
    assert (centre - expected).abs().max() < 1.0, (centre, expected)
    assert (centre - (4.5 * 8)).abs().min() > 2.5


@pytest.mark.parametrize("method", ["saliency", "gradcam", "guided_gradcam", "integrated_gradients"])
def test_cnn_batched_equals_per_image(cnn, method):
    x, t = _batch(3, 32)
    opts = {"n_steps": 4, "internal_batch_size": 2} if method == "integrated_gradients" else {}
    batched = attribute(method, cnn, x, t, arch="cnn", **opts)
    assert batched.shape == (3, 32, 32) and batched.dtype == torch.float32
    assert torch.isfinite(batched).all() and (batched.flatten(1).abs().sum(dim=1) > 0).all()
    single = torch.cat([attribute(method, cnn, x[i:i + 1], t[i:i + 1], arch="cnn", **opts) for i in range(3)])
    torch.testing.assert_close(batched, single, rtol=1e-4, atol=1e-5)


def test_integrated_gradients_is_complete(cnn):
    # Sum of IG attributions = f(x) - f(0) up to the quadrature error (Sundararajan et al. 2017).
    x, t = _batch(2, 32, seed=1)
    maps = attribute("integrated_gradients", cnn, x, t, arch="cnn", n_steps=32, internal_batch_size=64)
    with torch.no_grad():
        diff = cnn(x).gather(1, t[:, None])[:, 0] - cnn(torch.zeros_like(x)).gather(1, t[:, None])[:, 0]
    torch.testing.assert_close(maps.sum(dim=(1, 2)), diff, rtol=0.05, atol=0.05 * diff.abs().max().item())


def test_smoothgrad_noise_tunnel_is_seeded(cnn):
    x, t = _batch(2, 32)
    opts = {"n_steps": 4, "internal_batch_size": 16, "smoothgrad_samples": 3}
    a = attribute("integrated_gradients", cnn, x, t, arch="cnn", seed=5, **opts)
    b = attribute("integrated_gradients", cnn, x, t, arch="cnn", seed=5, **opts)
    c = attribute("integrated_gradients", cnn, x, t, arch="cnn", seed=6, **opts)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_methods_run_under_no_grad(cnn):
    x, t = _batch(2, 32)
    with torch.no_grad():
        maps = attribute("gradcam", cnn, x, t, arch="cnn")
    assert (maps.flatten(1).abs().sum(dim=1) > 0).all()
    torch.testing.assert_close(maps, attribute("gradcam", cnn, x, t, arch="cnn"))


def _timm_cls_attention(vit: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The last block's attention weights as timm computes them on its non-fused path."""
    attn = vit.blocks[-1].attn
    store = {}
    handle = attn.attn_drop.register_forward_hook(lambda m, i, out: store.__setitem__("a", out))
    fused, attn.fused_attn = attn.fused_attn, False
    try:
        with torch.no_grad():
            vit(x)
    finally:
        attn.fused_attn = fused
        handle.remove()
    return store["a"].mean(dim=1)[:, 0, vit.num_prefix_tokens:]


def test_vit_cls_attention_matches_timm_attention(vit):
    from robustlab.pruning.discovery.features import patch_features

    x, _ = _batch(3, 32)
    expected = _timm_cls_attention(vit, x)
    got = patch_features(vit, x, "vit").cls_attention
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    maps = attribute("vit_cls_attention", vit, x, torch.zeros(3, dtype=torch.long), arch="vit")
    assert maps.shape == (3, 32, 32)
    # Bilinear upsampling keeps the patch ordering: the hottest patch holds the hottest pixels.
    gh, gw = vit_geometry(vit).grid
    hottest = expected.argmax(dim=1)
    cy, cx = (hottest // gw) * 8 + 4, (hottest % gw) * 8 + 4
    centre_values = maps[torch.arange(3), cy, cx]
    assert torch.all(centre_values >= maps.flatten(1).quantile(0.9, dim=1))


def test_attention_rollout_of_one_block_without_residual_is_the_attention():
    torch.manual_seed(0)
    vit1 = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=1, num_classes=4).eval()
    x, t = _batch(2, 32)
    rollout = attribute("attention_rollout", vit1, x, t, arch="vit", residual=0.0)
    cls = attribute("vit_cls_attention", vit1, x, t, arch="vit")
    torch.testing.assert_close(rollout, cls, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", ["gradcam", "guided_gradcam", "saliency", "integrated_gradients",
                                    "vit_cls_attention", "attention_rollout"])
def test_vit_methods_batched_equals_per_image(vit, method):
    x, t = _batch(3, 32, seed=2)
    opts = {"n_steps": 4, "internal_batch_size": 8} if method == "integrated_gradients" else {}
    batched = attribute(method, vit, x, t, arch="vit", **opts)
    assert batched.shape == (3, 32, 32) and torch.isfinite(batched).all()
    single = torch.cat([attribute(method, vit, x[i:i + 1], t[i:i + 1], arch="vit", **opts) for i in range(3)])
    torch.testing.assert_close(batched, single, rtol=1e-4, atol=1e-6)


def test_parameter_randomisation_changes_gradcam(cnn):
    # 64 px: a 2 x 2 last stage (at 32 px it is 1 x 1 and every Grad-CAM map is constant).
    x, t = _batch(3, 64, seed=3)
    clone = randomize_parameters(cnn, seed=0)
    assert all(p.shape == q.shape for p, q in zip(cnn.parameters(), clone.parameters(), strict=True))
    assert not torch.equal(next(cnn.parameters()), next(clone.parameters()))
    rho = parameter_randomization_check("gradcam", cnn, x, t, arch="cnn", seed=0)
    assert rho.shape == (3,)
    finite = rho[np.isfinite(rho)]
    assert len(finite) and np.all(np.abs(finite) <= 1) and finite.mean() < 0.9
    # The same model "randomised" twice with one seed gives the same maps: the check is seeded.
    again = parameter_randomization_check("gradcam", cnn, x, t, arch="cnn", seed=0)
    np.testing.assert_allclose(rho, again)


def test_torchvision_vit_attention_and_gradcam():
    import torchvision

    torch.manual_seed(0)
    tv = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                              hidden_dim=32, mlp_dim=64, num_classes=4).eval()
    x, t = _batch(2, 32)
    # Reference: the last block's own nn.MultiheadAttention asked for its (head-averaged) weights.
    block = tv.encoder.layers[-1]
    store = {}
    handle = block.ln_1.register_forward_hook(lambda m, i, out: store.__setitem__("x", out))
    with torch.no_grad():
        tv(x)
    handle.remove()
    _, weights = block.self_attention(store["x"], store["x"], store["x"], need_weights=True,
                                      average_attn_weights=True)
    from robustlab.pruning.discovery.features import patch_features

    got = patch_features(tv, x, "vit")
    torch.testing.assert_close(got.cls_attention, weights[:, 0, 1:], rtol=1e-5, atol=1e-6)
    assert got.grid == (4, 4) and got.features.shape == (2, 16, 32)
    for method in ("gradcam", "attention_rollout"):
        maps = attribute(method, tv, x, t, arch="vit")
        assert maps.shape == (2, 32, 32) and torch.isfinite(maps).all()


class _BrightSpot(torch.nn.Module):
    """Class 0 = mean brightness of an 8 x 8 feature map: its Grad-CAM is the bright region."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.AvgPool2d(4), torch.nn.Conv2d(3, 2, 1), torch.nn.ReLU())
        with torch.no_grad():
            self.features[1].weight.copy_(torch.tensor([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]]).view(2, 3, 1, 1))
            self.features[1].bias.zero_()
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def test_gradcam_localises_a_constructed_object():
    from robustlab.pruning.interpret.metrics import pointing_game, relevance_mass_accuracy

    model = _BrightSpot().eval()
    x = torch.zeros(3, 3, 32, 32)
    masks = torch.zeros(3, 32, 32, dtype=torch.bool)
    for i, (r, c) in enumerate([(0, 0), (12, 20), (24, 8)]):
        x[i, :, r:r + 8, c:c + 8] = 1.0
        masks[i, r:r + 8, c:c + 8] = True
    assert find_last_conv_block(model, x)[0] == "features"
    maps = attribute("gradcam", model, x, torch.zeros(3, dtype=torch.long), arch="cnn")
    np.testing.assert_array_equal(pointing_game(maps, masks), 1.0)
    assert np.all(relevance_mass_accuracy(maps, masks) > 0.5)
