"""Nothing read back from a sweep folder runs code: a planted pickle is refused, not executed.

Each test plants, where a sweep reads a checkpoint back, a pickle whose ``__reduce__`` writes a
marker file (what an attacker's file would do with a shell command), then shows that reading it
does not create the marker and that the file is refused with an error naming it.
"""

from __future__ import annotations

import pickle

import pytest
import torch

from robustlab.common.errors import CheckpointError
from robustlab.pruning.checkpoints import load_checkpoint
from robustlab.pruning.sweep import run_sweep


def test_the_planted_pickle_runs_code_when_unpickled(plant_pickle):
    plant, marker = plant_pickle
    pickle.loads(plant(marker.parent / "p.pkl").read_bytes())  # what torch.load(weights_only=False) did
    assert marker.exists()


@pytest.mark.parametrize("as_torch", [True, False])
def test_a_planted_sweep_checkpoint_is_refused_unexecuted(tmp_path, plant_pickle, as_torch):
    plant, marker = plant_pickle
    path = tmp_path / "checkpoints" / "step000.pt"
    plant(path, as_torch)
    with pytest.raises(CheckpointError, match=r"step000\.pt cannot be read.*delete it"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_planted_checkpoint_stops_a_resumed_sweep_unexecuted(tmp_path, plant_pickle, tiny_spec):
    plant, marker = plant_pickle
    run_sweep(tiny_spec(steps=0), tmp_path)
    (tmp_path / "metrics.csv").unlink()  # step 0 looks unfinished: its checkpoint is read back
    plant(tmp_path / "checkpoints" / "step000.pt", as_torch=True)
    with pytest.raises(CheckpointError, match=r"step000\.pt"):
        run_sweep(tiny_spec(steps=0), tmp_path)
    assert not marker.exists()


def test_devicecheck_refuses_a_planted_checkpoint_unexecuted(tmp_path, monkeypatch, plant_pickle, tiny_spec):
    from robustlab.pruning import devicecheck

    plant, marker = plant_pickle
    run_sweep(tiny_spec(steps=0), tmp_path)
    plant(tmp_path / "checkpoints" / "step000.pt", as_torch=True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # reach the load on a CPU machine
    with pytest.raises(CheckpointError, match=r"step000\.pt"):
        devicecheck.compare_logits(tmp_path, n_images=4)
    assert not marker.exists()


def test_model_weights_file_is_refused_unexecuted(tmp_path, plant_pickle):
    plant, marker = plant_pickle
    from robustlab.pruning.models import ModelSpec, create_model, load_weights

    plant(tmp_path / "w.pt", as_torch=True)
    model = create_model(ModelSpec("resnet18", num_classes=3, img_size=32,
                                   kwargs={"channels": (8, 8, 16, 16)}))
    with pytest.raises(CheckpointError, match=r"w\.pt"):
        load_weights(model, tmp_path / "w.pt")
    assert not marker.exists()
