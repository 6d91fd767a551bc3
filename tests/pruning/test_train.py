"""Training: schedules, settings validation and bit-reproducible CPU training."""

import math

import pytest
import torch

from robustlab.common.seeding import seed_everything
from robustlab.pruning.data.sources import DataSpec, build_data
from robustlab.pruning.models import ModelSpec, create_model
from robustlab.pruning.train import TrainSpec, lr_factor, train

torch.set_num_threads(1)


def test_warmup_then_cosine_and_step():
    spec = TrainSpec(schedule="cosine")
    assert lr_factor(0, 100, 10, spec, 10) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, spec, 10) == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, spec, 10) == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, spec, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    step = TrainSpec(schedule="step", step_epochs=2, gamma=0.1)
    assert lr_factor(19, 100, 0, step, 10) == pytest.approx(1.0)
    assert lr_factor(20, 100, 0, step, 10) == pytest.approx(0.1)
    assert lr_factor(45, 100, 0, step, 10) == pytest.approx(0.01)


@pytest.mark.parametrize("field, value, message", [
    ("optimizer", "adam", "train.optimizer"),
    ("schedule", "linear", "train.schedule"),
    ("lr", 0.0, r"train\.lr: must be in \(0, inf\); got 0\.0"),
    ("label_smoothing", 1.0, "label_smoothing"),
])
def test_bad_settings_are_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainSpec(**{field: value}).validate()


def _run(optimizer):
    seed_everything(0)
    data = build_data(DataSpec(num_classes=3, img_size=32, train_size=48, val_size=8))
    torch.manual_seed(0)
    model = create_model(ModelSpec("resnet18", num_classes=3, img_size=32, kwargs={"channels": (8, 16, 16, 16)}))
    spec = TrainSpec(epochs=2, batch_size=16, optimizer=optimizer, lr=0.01, warmup_epochs=0.5,
                     label_smoothing=0.1, progress=False)
    stats = train(model, data, spec, torch.device("cpu"), seed=3)
    return model, stats


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_cpu_training_is_reproducible(optimizer):
    a, stats = _run(optimizer)
    b, _ = _run(optimizer)
    assert stats.images == 2 * 48 and math.isfinite(stats.final_loss) and stats.images_per_second > 0
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    torch.manual_seed(0)
    untrained = create_model(ModelSpec("resnet18", num_classes=3, img_size=32, kwargs={"channels": (8, 16, 16, 16)}))
    assert not torch.equal(untrained.fc.weight, a.fc.weight)


@pytest.mark.parametrize("scope, decayed_1d", [("matrices", False), ("all", True)])
def test_weight_decay_scope_decides_whether_biases_and_norms_decay(scope, decayed_1d):
    from robustlab.pruning.train import _optimizer

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                torch.nn.LazyLinear(2))
    model(torch.zeros(1, 3, 5, 5))
    spec = TrainSpec(weight_decay=0.1, weight_decay_scope=scope)
    spec.validate()
    decay_of = {id(p): g["weight_decay"] for g in _optimizer(model, spec).param_groups for p in g["params"]}
    assert decay_of[id(model[0].weight)] == 0.1
    assert decay_of[id(model[1].weight)] == (0.1 if decayed_1d else 0.0)
    assert decay_of[id(model[0].bias)] == (0.1 if decayed_1d else 0.0)
    with pytest.raises(ValueError, match="weight_decay_scope"):
        TrainSpec(weight_decay_scope="norms").validate()
