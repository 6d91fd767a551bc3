"""Bad on-disk input before training, and work kept after a failure.

A damaged image is named before any training; a step whose checkpoint was written is evaluated
again, not trained again; a run stopped by bad input does not refuse the corrected command; a
damaged checkpoint gives one line naming it; a structurally pruned model comes back from its
plain checkpoint.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from robustlab.common.errors import CheckpointError, DataError
from robustlab.common.seeding import seed_everything
from robustlab.pruning import sweep as sweep_module
from robustlab.pruning.checkpoints import load_checkpoint, resize_to_state, save_checkpoint
from robustlab.pruning.data.sources import DataSpec, build_data
from robustlab.pruning.sweep import TIMING_COLUMNS, run_sweep
from robustlab.pruning.sweep_folder import SWEEP_SPEC

torch.set_num_threads(1)


def truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_a_truncated_jpeg_is_named_before_training(tmp_path, image_folder):
    root = image_folder(tmp_path / "data")
    bad = root / "val" / "bees" / "1.jpg"
    truncate(bad)
    spec = DataSpec(name="imagefolder", root=str(root), img_size=32)
    with pytest.raises(DataError, match=rf"ImageFolder 'val' split: {bad} cannot be decoded "
                                        r"\(OSError: .*truncated.*\); "
                                        r"fix or remove the file\(s\), or set data.skip_bad_images=true"):
        build_data(spec, progress=False)


def test_bad_images_are_skipped_and_listed_when_asked(tmp_path, image_folder):
    root = image_folder(tmp_path / "data")
    truncate(root / "val" / "bees" / "1.jpg")
    (root / "train" / "ants" / "2.jpg").write_bytes(b"not an image")
    spec = DataSpec(name="imagefolder", root=str(root), img_size=32, skip_bad_images=True)
    data = build_data(spec, report_dir=tmp_path, progress=False)
    assert len(data.train) == 8 and len(data.val) == 8
    listed = pd.read_csv(tmp_path / "bad_images.csv")
    assert sorted(listed["path"].map(lambda p: p.split("/data/")[1])) == ["train/ants/2.jpg",
                                                                          "val/bees/1.jpg"]
    assert all(data.val[i]["image"].shape == (3, 32, 32) for i in range(len(data.val)))


def test_an_image_damaged_after_the_check_is_named_when_read(tmp_path, image_folder):
    root = image_folder(tmp_path / "data")
    data = build_data(DataSpec(name="imagefolder", root=str(root), img_size=32), progress=False)
    truncate(root / "val" / "ants" / "0.jpg", 0.2)
    with pytest.raises(DataError, match=r"val/ants/0\.jpg: cannot decode the image"):
        data.val[0]


def test_a_finished_step_is_not_trained_again_when_only_its_metrics_row_is_missing(tmp_path, monkeypatch, tiny_spec):
    seed_everything(0)
    straight = run_sweep(tiny_spec(steps=2), tmp_path / "straight")
    trained = []
    real_train, real_record = sweep_module._Sweep.train_step, sweep_module._Sweep.record

    def counting_train(self, model, step):
        trained.append(step)
        return real_train(self, model, step)

    def die_in_evaluation(self, model, step, stats, dense_numel):
        if step == 1:
            self.save(model, step, 0.2, stats)  # what record writes first
            raise RuntimeError("evaluation crashed")
        return real_record(self, model, step, stats, dense_numel)

    monkeypatch.setattr(sweep_module._Sweep, "train_step", counting_train)
    monkeypatch.setattr(sweep_module._Sweep, "record", die_in_evaluation)
    seed_everything(0)
    with pytest.raises(RuntimeError, match="evaluation crashed"):
        run_sweep(tiny_spec(steps=2), tmp_path / "resumed")
    assert trained == [0, 1]
    monkeypatch.setattr(sweep_module._Sweep, "record", real_record)
    seed_everything(0)
    resumed = run_sweep(tiny_spec(steps=2), tmp_path / "resumed")
    assert trained == [0, 1, 2]  # step 1 was evaluated from its checkpoint, not trained again
    keep = [c for c in straight.columns if c not in TIMING_COLUMNS]
    pd.testing.assert_frame_equal(resumed[keep], straight[keep])


def test_a_run_stopped_by_bad_data_does_not_refuse_the_corrected_command(tmp_path, image_folder, tiny_spec):
    root = image_folder(tmp_path / "data", n=6, size=(32, 32))
    truncate(root / "train" / "wasps" / "0.jpg")
    spec = tiny_spec(steps=0)
    spec.data = DataSpec(name="imagefolder", root=str(root), img_size=32)
    spec.train.batch_size = 4
    with pytest.raises(DataError, match=r"wasps/0\.jpg cannot be decoded"):
        run_sweep(spec, tmp_path / "run")
    assert not (tmp_path / "run" / SWEEP_SPEC).exists()
    spec.data = DataSpec(name="imagefolder", root=str(root), img_size=32, skip_bad_images=True)
    metrics = run_sweep(spec, tmp_path / "run")  # the corrected command, same folder
    assert list(metrics["step"]) == [0]
    assert json.loads((tmp_path / "run" / SWEEP_SPEC).read_text())["data"]["skip_bad_images"]


def test_a_spec_of_a_sweep_that_finished_nothing_is_replaced_but_one_with_steps_refused(tmp_path, tiny_spec):
    seed_everything(0)
    (tmp_path / SWEEP_SPEC).write_text(json.dumps({"steps": 99}))
    run_sweep(tiny_spec(steps=0), tmp_path)  # nothing finished there: replaced
    with pytest.raises(ValueError, match="different sweep.*differs in: steps"):
        run_sweep(tiny_spec(steps=1), tmp_path)


def test_a_checkpoint_of_random_bytes_is_one_line_naming_the_file(tmp_path, tiny_spec):
    path = tmp_path / "checkpoints" / "step000.pt"
    path.parent.mkdir()
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "delete it" in message
    assert "weights_only" not in message  # torch's advice to load it unsafely is left out
    # in a sweep: the same error, before any training
    run_sweep(tiny_spec(steps=0), tmp_path / "run")
    (tmp_path / "run" / "metrics.csv").unlink()
    (tmp_path / "run" / "checkpoints" / "step000.pt").write_bytes(b"\x80\x02garbage")
    with pytest.raises(CheckpointError, match=r"step000\.pt cannot be read"):
        run_sweep(tiny_spec(steps=0), tmp_path / "run")


def test_a_structurally_pruned_model_comes_back_from_its_plain_checkpoint(tmp_path, prune_context, small_resnet):
    from robustlab.pruning.methods import METHODS

    model = small_resnet()
    METHODS.get("structured_channels").prune(prune_context(model, 1, rate=0.5), 0.5)
    model.eval()
    save_checkpoint(tmp_path / "s.pt", {"model": model.state_dict()})
    state = load_checkpoint(tmp_path / "s.pt")
    fresh = small_resnet()
    assert resize_to_state(fresh, state["model"])
    fresh.load_state_dict(state["model"])
    fresh.eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(fresh(x), model(x))


def test_cuda_asked_for_without_a_gpu_names_the_key(monkeypatch):
    from robustlab.common.errors import ConfigError
    from robustlab.pruning.sweep_spec import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"device: 'cuda' was asked for but torch sees no CUDA "
                                          r"device; use device=auto or device=cpu"):
        resolve_device("cuda")
