"""Model creation: timm and torchvision names, clear errors on bad input, checkpoints."""

import pytest
import torch

from robustlab.common.errors import CheckpointError, ConfigError
from robustlab.pruning.models import (
    ModelSpec,
    check_model_kwargs,
    classifier_head,
    create_model,
    load_weights,
    model_arch,
)

SMALL_RESNET = {"channels": (8, 16, 32, 64)}
SMALL_VIT = {"patch_size": 8, "embed_dim": 32, "depth": 1, "num_heads": 2}


def test_timm_model_with_options():
    model = create_model(ModelSpec("resnet18", num_classes=5, img_size=32, kwargs=SMALL_RESNET))
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    assert model_arch(model) == "cnn"
    assert classifier_head(model).out_features == 5
    vit = create_model(ModelSpec("vit_tiny_patch16_224", num_classes=3, img_size=32, kwargs=SMALL_VIT))
    assert vit(torch.zeros(1, 3, 32, 32)).shape == (1, 3)
    assert model_arch(vit) == "vit"


@pytest.mark.parametrize("name, kwargs, refused", [
    ("convnext_atto", {"channels": [8, 16, 32, 64], "stem_width": 8, "drop_path_rate": 0.1}, "channels, stem_width"),
    ("vit_tiny_patch16_224", {**SMALL_VIT, "output_stride": 8}, "output_stride"),
    ("torchvision.resnet18", {"stem_width": 8}, "stem_width"),
])
def test_keywords_a_model_does_not_take_are_all_named_before_it_is_built(name, kwargs, refused):
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    with pytest.raises(ConfigError, match=rf"^model\.kwargs: '{name}' takes no keyword {refused} \(set for another "
                                          rf"model\?\); leave them out with ~model\.kwargs\."):
        check_model_kwargs(ModelSpec(name, num_classes=3, img_size=32, kwargs=kwargs))
    assert torch.equal(torch.rand(1), before)  # the check draws nothing from the global generator


def test_keywords_a_model_takes_pass_the_check():
    check_model_kwargs(ModelSpec("resnet18", num_classes=3, img_size=32,
                                 kwargs={**SMALL_RESNET, "stem_width": 8, "output_stride": 8}))
    check_model_kwargs(ModelSpec("vit_tiny_patch16_224", num_classes=3, img_size=32, kwargs=SMALL_VIT))
    with pytest.raises(KeyError, match="unknown model 'resnet81'"):  # the project's own errors come through
        check_model_kwargs(ModelSpec("resnet81"))


def test_torchvision_paper_models_build():
    model = create_model(ModelSpec("torchvision.resnet18", num_classes=4, img_size=32))
    assert model.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 4)
    assert model_arch(model) == "cnn" and classifier_head(model) is model.fc


def test_unknown_model_suggests_close_matches():
    with pytest.raises(KeyError, match="unknown model 'resnet81'.*did you mean.*resnet18"):
        create_model(ModelSpec("resnet81"))


@pytest.mark.parametrize("name, kwargs, patch", [
    ("vit_tiny_patch16_224", {"embed_dim": 32, "depth": 1, "num_heads": 2}, 16),
    ("vit_tiny_patch16_224", SMALL_VIT, 8),
    ("torchvision.vit_b_32", {}, 32),
])
def test_img_size_not_divisible_by_patch(name, kwargs, patch):
    with pytest.raises(ValueError, match=f"img_size=60 is not divisible by the patch size {patch}"):
        create_model(ModelSpec(name, num_classes=3, img_size=60, kwargs=kwargs))


def test_checkpoint_that_does_not_fit(tmp_path):
    small = create_model(ModelSpec("resnet18", num_classes=5, img_size=32, kwargs=SMALL_RESNET))
    path = tmp_path / "small.pt"
    torch.save(small.state_dict(), path)
    other = create_model(ModelSpec("resnet18", num_classes=7, img_size=32, kwargs=SMALL_RESNET))
    with pytest.raises(CheckpointError, match=r"does not fit the model: shape mismatches fc\.weight"):
        load_weights(other, path)
    with pytest.raises(CheckpointError, match="missing keys"):
        create_model(ModelSpec("resnet10t", num_classes=5, img_size=32, checkpoint=str(path)))
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        load_weights(other, tmp_path / "nowhere.pt")
    # A fitting checkpoint loads, through the spec too.
    again = create_model(ModelSpec("resnet18", num_classes=5, img_size=32, kwargs=SMALL_RESNET, checkpoint=str(path)))
    assert torch.equal(again.fc.weight, small.fc.weight)


def test_pretrained_offline_fails_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="pretrained weights of 'resnet18' are not available offline"):
        create_model(ModelSpec("resnet18", num_classes=3, img_size=32, pretrained=True))
    with pytest.raises(ConfigError, match="pretrained weights of torchvision.resnet18 are not cached"):
        create_model(ModelSpec("torchvision.resnet18", num_classes=3, img_size=32, pretrained=True))
