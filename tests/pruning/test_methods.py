"""Pruning methods: exact sparsity schedules, export keeps the survivors, per-layer sums."""

import pytest
import torch
from torch import nn

from robustlab.pruning.masks import (
    PruneScope,
    apply_masks,
    get_masks,
    global_sparsity,
    layer_sparsity,
    make_permanent,
    plain_state_dict,
    prunable_targets,
)
from robustlab.pruning.methods import METHODS
from robustlab.pruning.sweep_spec import target_sparsity

torch.set_num_threads(1)


@pytest.mark.parametrize("name", ["imp_lr_rewind", "layerwise_l1", "random"])
def test_iterative_sparsity_is_one_minus_point_eight_to_the_k(name, prune_context, small_resnet):
    model = small_resnet()
    method = METHODS.get(name)
    for k in range(1, 8):
        method.prune(prune_context(model, k), target_sparsity(k, 0.2))
        targets = prunable_targets(model, PruneScope())
        measured = global_sparsity(targets)
        assert abs(measured - (1 - 0.8**k)) < 1e-3, (k, measured)
        table = layer_sparsity(targets)
        assert table["zeros"].sum() / table["numel"].sum() == pytest.approx(measured, abs=1e-12)
        if name == "layerwise_l1":
            assert (table["sparsity"] - (1 - 0.8**k)).abs().max() < 0.02


def test_global_l1_removes_the_smallest_magnitudes(prune_context, small_resnet):
    model = small_resnet()
    before = {t.layer: getattr(t.module, t.param).detach().clone() for t in prunable_targets(model, PruneScope())}
    METHODS.get("imp_lr_rewind").prune(prune_context(model, 1), 0.2)
    kept, removed = [], []
    for t in prunable_targets(model, PruneScope()):
        mask = t.module.weight_mask.bool()
        kept.append(before[t.layer][mask].abs())
        removed.append(before[t.layer][~mask].abs())
    assert float(torch.cat(removed).max()) <= float(torch.cat(kept).min())


def test_export_keeps_unpruned_weights_and_loads_into_a_plain_model(prune_context, small_resnet):
    model = small_resnet()
    originals = {n: p.detach().clone() for n, p in model.named_parameters()}
    for k in (1, 2, 3):
        METHODS.get("imp_lr_rewind").prune(prune_context(model, k), target_sparsity(k, 0.2))
    plain = plain_state_dict(model)
    fresh = small_resnet()
    fresh.load_state_dict(plain)  # no _orig / _mask keys: a plain model takes it as it is
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(fresh(x), model(x), atol=1e-6)
    for t in prunable_targets(model, PruneScope()):
        key = f"{t.layer}.{t.param}"
        mask = t.module.weight_mask.bool()
        assert torch.equal(plain[key][mask], originals[key][mask])
        assert bool((plain[key][~mask] == 0).all())
    # Masks saved and re-applied reproduce the pruned model; make_permanent removes the hooks.
    masks = get_masks(prunable_targets(model, PruneScope()))
    again = small_resnet()
    again.load_state_dict(plain)
    apply_masks(prunable_targets(again, PruneScope()), masks)
    assert global_sparsity(prunable_targets(again, PruneScope())) == pytest.approx(1 - 0.8**3, abs=1e-3)
    permanent = make_permanent(again)
    assert not any(n.endswith("_orig") for n, _ in permanent.named_parameters())
    assert torch.allclose(permanent(x), model(x), atol=1e-6)


def test_scope_selects_layers(small_resnet, small_vit):
    vit = small_vit()
    every = {t.layer for t in prunable_targets(vit, PruneScope())}
    no_attn = {t.layer for t in prunable_targets(vit, PruneScope(attention_qkv=False, attention_out=False, head=False))}
    no_qkv = {t.layer for t in prunable_targets(vit, PruneScope(attention_qkv=False))}
    assert "blocks.0.attn.qkv" in every and "head" in every
    assert "blocks.0.attn.qkv" not in no_attn and "blocks.0.mlp.fc1" in no_attn and "head" not in no_attn
    assert "blocks.0.attn.qkv" not in no_qkv and "blocks.0.attn.proj" in no_qkv
    convs = {t.layer for t in prunable_targets(small_resnet(), PruneScope(linear=False, head=False))}
    assert "fc" not in convs and "conv1" in convs
    with pytest.raises(ValueError, match="selects no weight"):
        prunable_targets(small_resnet(), PruneScope(conv=False, linear=False, attention_qkv=False,
                                                     attention_out=False, head=False))


def test_paper_vit_scope_is_the_studys_set():
    # The study prunes every Conv2d and Linear of torchvision's ViT: patch embedding, attention
    # out-projection, MLP and head, but not MultiheadAttention's bare in_proj_weight.
    from torchvision.models.vision_transformer import VisionTransformer

    vit = VisionTransformer(image_size=32, patch_size=16, num_layers=2, num_heads=2, hidden_dim=8,
                            mlp_dim=16, num_classes=3)
    chosen = {(t.layer, t.param) for t in prunable_targets(vit, PruneScope(attention_qkv=False))}
    studys = {(n, "weight") for n, m in vit.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
    assert chosen == studys
    assert ("encoder.layers.encoder_layer_0.self_attention.out_proj", "weight") in chosen
    assert ("conv_proj", "weight") in chosen and ("heads.head", "weight") in chosen
    every = {(t.layer, t.param) for t in prunable_targets(vit, PruneScope())}
    assert every - chosen == {(f"encoder.layers.encoder_layer_{i}.self_attention", "in_proj_weight") for i in (0, 1)}


def test_snip_prunes_by_connection_sensitivity(prune_context, small_resnet):
    model = small_resnet()
    METHODS.get("snip").prune(prune_context(model, 2), target_sparsity(2, 0.2))
    assert global_sparsity(prunable_targets(model, PruneScope())) == pytest.approx(0.36, abs=1e-3)
    assert METHODS.get("snip").start == "init"


def test_structured_channels_shrinks_the_network(prune_context, small_resnet):
    import torch_pruning as tp

    model = small_resnet()
    x = torch.randn(1, 3, 32, 32)
    macs0, params0 = tp.utils.count_ops_and_params(model, x)
    METHODS.get("structured_channels").prune(prune_context(model, 1, rate=0.5), 0.5)
    macs1, params1 = tp.utils.count_ops_and_params(model, x)
    assert model(x).shape == (1, 4)  # the head keeps its classes
    # Half the channels: about a quarter of the inner weights remain; the stem sees 3 channels.
    assert params1 < 0.4 * params0 and macs1 < 0.5 * macs0


def test_registry_lists_and_rejects():
    assert {"imp_lr_rewind", "imp_weight_rewind", "oneshot_l1", "layerwise_l1", "random", "snip",
            "structured_channels"} <= set(METHODS.list())
    assert METHODS.get("imp_weight_rewind").rewind == "weights"
    assert METHODS.get("oneshot_l1").start == "dense"
    with pytest.raises(KeyError, match="did you mean imp_lr_rewind"):
        METHODS.get("imp_lr_rewnd")


def test_prunable_model_trains_through_masks(prune_context, small_resnet):
    model = small_resnet().train()
    METHODS.get("imp_lr_rewind").prune(prune_context(model, 1), 0.2)
    loss = nn.functional.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.arange(4))
    loss.backward()
    t = prunable_targets(model, PruneScope())[0]
    assert bool((t.module.weight_orig.grad[~t.module.weight_mask.bool()] == 0).all())
