"""The paper's torchvision models as the docs describe them, and structured pruning of a ViT."""

from __future__ import annotations

import pytest
import torch

from robustlab.pruning.checkpoints import load_checkpoint, resize_to_state, save_checkpoint
from robustlab.pruning.masks import PruneScope, prunable_targets
from robustlab.pruning.methods import METHODS
from robustlab.pruning.models import ModelSpec, classifier_head, create_model

torch.set_num_threads(1)


def test_vit_b_32_head_is_found_and_kept_out_of_pruning_when_asked():
    model = create_model(ModelSpec("torchvision.vit_b_32", num_classes=7, img_size=32))
    head = classifier_head(model)
    assert head is model.heads.head and head.out_features == 7
    kept_out = {id(t.module) for t in prunable_targets(model, PruneScope(head=False))}
    assert id(head) not in kept_out
    assert id(head) in {id(t.module) for t in prunable_targets(model, PruneScope())}  # the paper's
    # the paper's ViT scope leaves the fused QKV projection whole
    paper = prunable_targets(model, PruneScope(attention_qkv=False))
    assert not any(t.param == "in_proj_weight" for t in paper)
    assert any(t.layer.endswith("self_attention") or "out_proj" in t.layer for t in paper)


def test_cached_pretrained_weights_load_with_the_head_replaced(tmp_path, monkeypatch):
    import torchvision

    weights = torchvision.models.get_model_weights("resnet18").DEFAULT
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(weights=None)  # stands for the published weights
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(reference.state_dict(), folder / weights.url.rsplit("/", 1)[1])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    model = create_model(ModelSpec("torchvision.resnet18", num_classes=5, img_size=64, pretrained=True))
    assert model.fc.out_features == 5
    assert torch.equal(model.conv1.weight, reference.conv1.weight)
    assert torch.equal(model.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)


def test_structured_channels_on_a_vit_shrinks_it_and_its_checkpoint_comes_back(tmp_path, prune_context, small_vit):
    model = small_vit()
    x = torch.randn(2, 3, 32, 32)
    before = sum(p.numel() for p in model.parameters())
    METHODS.get("structured_channels").prune(prune_context(model, 1, rate=0.5), 0.5)
    model.eval()
    assert sum(p.numel() for p in model.parameters()) < 0.6 * before
    assert model(x).shape == (2, 4) and classifier_head(model).out_features == 4
    save_checkpoint(tmp_path / "vit.pt", {"model": model.state_dict()})
    fresh = small_vit()
    state = load_checkpoint(tmp_path / "vit.pt")["model"]
    resize_to_state(fresh, state)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.eval()(x), model(x))


@pytest.mark.parametrize("name", ["torchvision.vit_b_32", "torchvision.swin_v2_t"])
def test_masks_hold_on_weights_their_attention_reads_directly(name):
    # MultiheadAttention reads out_proj.weight and Swin's attention qkv/proj.weight without
    # calling their forward: before, the masked weight of the first forward was reused and the
    # second backward failed ("Trying to backward through the graph a second time").
    from torch.nn.utils import prune

    torch.manual_seed(0)
    model = create_model(ModelSpec(name, num_classes=3, img_size=32))
    proj = (model.encoder.layers[0].self_attention.out_proj if "vit" in name else model.features[1][0].attn.proj)
    prune.l1_unstructured(proj, "weight", 0.5)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):
        loss = model(torch.randn(2, 3, 32, 32)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model(torch.randn(1, 3, 32, 32))
    torch.testing.assert_close(proj.weight, proj.weight_orig * proj.weight_mask)
    assert int((proj.weight == 0).sum()) >= proj.weight.numel() // 2


def test_a_copy_of_a_model_remasks_its_own_weights():
    import copy
    import pickle

    from torch.nn.utils import prune

    torch.manual_seed(0)
    model = create_model(ModelSpec("torchvision.swin_v2_t", num_classes=3, img_size=32))
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        proj = twin.features[1][0].attn.proj
        prune.l1_unstructured(proj, "weight", 0.5)
        with torch.no_grad():
            proj.weight_orig.mul_(2.0)
            twin(torch.randn(1, 3, 32, 32))
        torch.testing.assert_close(proj.weight, proj.weight_orig * proj.weight_mask)
