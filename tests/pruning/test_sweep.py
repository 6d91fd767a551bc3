"""The sweep: step files, suites plumbing, resume after a kill, clear errors before work."""

import pandas as pd
import pytest
import torch

from robustlab.common.seeding import seed_everything
from robustlab.pruning import sweep as sweep_module
from robustlab.pruning.masks import PruneScope, prunable_targets
from robustlab.pruning.models import ModelSpec, create_model
from robustlab.pruning.suites import SUITES, SuiteResult
from robustlab.pruning.sweep import TIMING_COLUMNS, run_sweep

torch.set_num_threads(1)


@SUITES.register("test_probe_suite", table="probe")
def _probe_suite(ctx, n_images=8):
    batch = next(ctx.batches(max_images=n_images))
    assert batch.images.shape[0] == n_images and batch.masks.dtype == torch.bool
    assert ctx.extras["shapes"] is not None and len(ctx.extras["normalize"]) == 2
    per_image = pd.DataFrame({"index": batch.index.numpy(), "metric": "mask_area",
                              "value": batch.masks.float().mean(dim=(1, 2)).numpy()})
    return SuiteResult([{"method": "probe", "metric": "mask_area", "mean": float(per_image["value"].mean()),
                         "arch": ctx.arch}], per_image)


def test_sweep_writes_every_step_and_the_suites(tmp_path, tiny_spec):
    seed_everything(0)
    metrics = run_sweep(tiny_spec(suites={"test_probe_suite": {"n_images": 8}}), tmp_path)
    assert list(metrics["step"]) == [0, 1, 2]
    for column in ("step", "sparsity", "top1", "top5", "params_nonzero", "macs", "train_seconds",
                   "images_per_second", "model", "prune_method", "seed"):
        assert column in metrics.columns
    assert metrics["sparsity"].tolist() == pytest.approx([0.0, 0.2, 0.36], abs=1e-3)
    assert metrics["params_nonzero"].is_monotonic_decreasing
    layers = pd.read_csv(tmp_path / "layer_sparsity.csv")
    per_step = layers.groupby("step").apply(lambda g: g["zeros"].sum() / g["numel"].sum(), include_groups=False)
    assert per_step.to_numpy() == pytest.approx(metrics["sparsity"].to_numpy(), abs=1e-12)
    probe = pd.read_csv(tmp_path / "probe.csv")
    assert list(probe["step"]) == [0, 1, 2] and set(probe["model"]) == {"resnet18"}
    assert set(probe["method"]) == {"probe"} and set(probe["prune_method"]) == {"imp_lr_rewind"}
    for step in range(3):
        assert (tmp_path / "checkpoints" / f"step{step:03d}.pt").exists()
        acc = pd.read_parquet(tmp_path / "per_image" / f"accuracy_step{step:03d}.parquet")
        assert list(acc.columns) == ["index", "metric", "value"] and len(acc) == 16
        assert acc["value"].mean() == pytest.approx(metrics["top1"][step])
        assert len(pd.read_parquet(tmp_path / "per_image" / f"probe_step{step:03d}.parquet")) == 8
    # An exported checkpoint loads into a plain model and keeps the step's sparsity.
    state = torch.load(tmp_path / "checkpoints" / "step002.pt", weights_only=True)
    plain = create_model(ModelSpec("resnet18", num_classes=3, img_size=32, kwargs={"channels": (8, 8, 16, 16)}))
    plain.load_state_dict(state["model"])
    zeros = sum(int((t.module.weight == 0).sum()) for t in prunable_targets(plain, PruneScope()))
    total = sum(t.module.weight.numel() for t in prunable_targets(plain, PruneScope()))
    assert zeros / total == pytest.approx(0.36, abs=1e-3)


class _Killed(Exception):
    pass


def test_resume_after_a_kill_recomputes_nothing_and_matches(tmp_path, monkeypatch, tiny_spec):
    seed_everything(0)
    straight = run_sweep(tiny_spec(steps=5), tmp_path / "straight")

    trained = []
    real_train = sweep_module._Sweep.train_step
    real_record = sweep_module._Sweep.record

    def counting_train(self, model, step):
        trained.append(step)
        return real_train(self, model, step)

    def record_then_die(self, model, step, stats, dense_numel):
        row = real_record(self, model, step, stats, dense_numel)
        if step == 2:
            raise _Killed
        return row

    monkeypatch.setattr(sweep_module._Sweep, "train_step", counting_train)
    monkeypatch.setattr(sweep_module._Sweep, "record", record_then_die)
    seed_everything(0)
    with pytest.raises(_Killed):
        run_sweep(tiny_spec(steps=5), tmp_path / "resumed")
    assert trained == [0, 1, 2]
    monkeypatch.setattr(sweep_module._Sweep, "record", real_record)
    seed_everything(0)
    resumed = run_sweep(tiny_spec(steps=5), tmp_path / "resumed")
    assert trained == [0, 1, 2, 3, 4, 5]  # the finished steps 0-2 were not trained again
    # Timing columns measure the machine, not the sweep: they are left out of the comparison.
    keep = [c for c in straight.columns if c not in TIMING_COLUMNS]
    pd.testing.assert_frame_equal(resumed[keep], straight[keep])
    # Started once more, a finished sweep does nothing.
    run_sweep(tiny_spec(steps=5), tmp_path / "resumed")
    assert trained == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("method", ["imp_weight_rewind", "oneshot_l1", "snip", "structured_channels"])
def test_other_methods_run(tmp_path, method, tiny_spec):
    seed_everything(0)
    metrics = run_sweep(tiny_spec(steps=1, method=method, measure_latency=True), tmp_path)
    assert list(metrics["step"]) == [0, 1] and metrics["latency_ms"].gt(0).all()
    if method == "structured_channels":
        assert metrics["params_total"].iloc[1] < metrics["params_total"].iloc[0]
        assert metrics["macs"].iloc[1] < metrics["macs"].iloc[0]
    else:
        assert metrics["sparsity"].tolist() == pytest.approx([0.0, 0.2], abs=1e-3)


@pytest.mark.parametrize("change, error, message", [
    ({"rate": 1.0}, ValueError, r"method\.rate: must be in \(0, 1\)"),
    ({"rate": 0.0}, ValueError, r"method\.rate: must be in \(0, 1\)"),
    ({"method": "imp"}, KeyError, "unknown pruning method 'imp'"),
    ({"suites": {"interpretabilty": {}}}, KeyError, "unknown evaluation suite 'interpretabilty'"),
])
def test_bad_input_fails_before_work(tmp_path, change, error, message, tiny_spec):
    spec = tiny_spec()
    for key, value in change.items():
        setattr(spec, key, value)
    with pytest.raises(error, match=message):
        run_sweep(spec, tmp_path)
    assert not (tmp_path / "checkpoints").exists()


def test_another_sweep_in_the_same_directory_is_refused(tmp_path, tiny_spec):
    seed_everything(0)
    run_sweep(tiny_spec(steps=0), tmp_path)
    with pytest.raises(ValueError, match="different sweep.*differs in: steps"):
        run_sweep(tiny_spec(steps=1), tmp_path)
