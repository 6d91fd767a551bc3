"""Every option of every suite is checked before training, and a corrected command resumes.

Suite options used to be checked when the suite first ran, after dense training; the corrected
command was then refused as "a different sweep". Each suite now registers a ``check`` run on the
initial model before any training, and a sweep that finished no step may change its evaluation
settings and keep its checkpoints.
"""

from __future__ import annotations

import pytest
import torch

from robustlab.common.errors import ConfigError, UnknownNameError
from robustlab.common.seeding import seed_everything
from robustlab.pruning import sweep as sweep_module
from robustlab.pruning.sweep import run_sweep
from robustlab.pruning.sweep_folder import SWEEP_SPEC

torch.set_num_threads(1)

CASES = [
    ({"suites": {"interpretability": {"metrics": ["rmaa"]}}}, ConfigError,
     r"eval\.suites\.interpretability\.metrics\[0\]: must be one of rma, .*; got 'rmaa' \(did you mean rma\?\)"),
    ({"suites": {"interpretability": {"methods": ["gradcm"]}}}, UnknownNameError, r"gradcm"),
    ({"suites": {"interpretability": {"n_images": 0}}}, ConfigError,
     r"eval\.suites\.interpretability\.n_images: must be in \[1, inf\) or null; got 0"),
    ({"suites": {"interpretability": {"target": "labels"}}}, ConfigError,
     r"eval\.suites\.interpretability\.target: must be one of label, predicted; got 'labels' \(did you mean label\?\)"),
    ({"suites": {"discovery": {"methods": ["lots"]}}}, UnknownNameError, r"lots"),
    ({"suites": {"discovery": {"tau": 1.5}}}, ConfigError,
     r"eval\.suites\.discovery\.tau: must be in \[-1, 1\); got 1\.5"),
    ({"suites": {"discovery": {"iou_threshold": 0}}}, ConfigError, r"eval\.suites\.discovery\.iou_threshold: must be "
                                                                   r"in \(0, 1\]; got 0"),
    ({"suites": {"discovery": {"lost_iou_at_half": "half"}}}, ConfigError,
     r"eval\.suites\.discovery\.lost_iou_at_half: must be one of hit, miss; got 'half'"),
    ({"suites": {"alignment": {"n_images": 1}}}, ConfigError, r"eval\.suites\.alignment\.n_images: must be in "
                                                              r"\[2, inf\); got 1"),
    ({"suites": {"alignment": {"distortions": {"blurr": [1.0]}}}}, UnknownNameError, r"blurr"),
    ({"suites": {"interpretability": {"method_options": {"integrated_gradients": {"n_steps": 0}}}}}, ConfigError,
     r"eval\.suites\.interpretability\.method_options\.integrated_gradients\.n_steps: must be in \[1, inf\); got 0"),
    ({"suites": {"discovery": {"method_options": {"tokencut": {"tau": 2.0}}}}}, ConfigError,
     r"eval\.suites\.discovery\.method_options\.tokencut\.tau: must be in \[-1, 1\); got 2\.0"),
    ({"eval_batch_size": 0}, ConfigError, r"eval\.batch_size: must be in \[1, inf\); got 0"),
    ({"eval_max_images": 0}, ConfigError, r"eval\.max_images: must be in \[1, inf\) or null; got 0"),
]


@pytest.mark.parametrize("change, error, message", CASES)
def test_a_bad_suite_option_stops_the_sweep_before_training(tmp_path, monkeypatch, change, error, message, tiny_spec):
    trained = []
    monkeypatch.setattr(sweep_module._Sweep, "train_step", lambda self, model, step: trained.append(step))
    spec = tiny_spec(steps=1)
    for key, value in change.items():
        setattr(spec, key, value)
    with pytest.raises(error, match=message):
        run_sweep(spec, tmp_path)
    assert trained == []
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / SWEEP_SPEC).exists()


def test_target_label_on_evaluation_data_of_other_classes_needs_a_label_map_before_training(tmp_path, voc_root,
                                                                                            tiny_spec):
    spec = tiny_spec(steps=1, suites={"interpretability": {
        "data": {"name": "voc_segmentation", "root": str(voc_root)}, "target": "label", "n_images": 2}})
    with pytest.raises(ConfigError,
                       match=r"target='label' on 'voc2012-val-segmentation'.*set interpretability\.label_map"):
        run_sweep(spec, tmp_path / "run")  # voc_root lies in tmp_path: not a run folder
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_the_corrected_command_runs_in_the_folder_of_a_sweep_stopped_by_a_bad_option(tmp_path, tiny_spec):
    with pytest.raises(ConfigError, match=r"metrics\[0\]: must be one of rma"):
        run_sweep(tiny_spec(steps=0, suites={"interpretability": {"metrics": ["rmaa"], "n_images": 4}}), tmp_path)
    seed_everything(0)
    metrics = run_sweep(tiny_spec(steps=0, suites={"interpretability": {"metrics": ["rma"], "n_images": 4}}), tmp_path)
    assert list(metrics["step"]) == [0]


def test_a_sweep_that_finished_no_step_keeps_its_checkpoints_under_new_evaluation_settings(tmp_path, monkeypatch,
                                                                                           tiny_spec):
    seed_everything(0)
    run_sweep(tiny_spec(steps=0, suites={"interpretability": {"n_images": 4}}), tmp_path)
    (tmp_path / "metrics.csv").unlink()  # stopped after the step's checkpoint, before its row
    trained = []
    real_train = sweep_module._Sweep.train_step
    monkeypatch.setattr(sweep_module._Sweep, "train_step",
                        lambda self, model, step: trained.append(step) or real_train(self, model, step))
    seed_everything(0)
    metrics = run_sweep(tiny_spec(steps=0, suites={"interpretability": {"n_images": 8}}), tmp_path)
    assert list(metrics["step"]) == [0] and trained == []  # evaluated from its checkpoint
    assert '"n_images": 8' in (tmp_path / SWEEP_SPEC).read_text()
    # once a step is finished, other evaluation settings would mix two evaluations: refused
    with pytest.raises(ConfigError, match="different sweep.*differs in: suites"):
        run_sweep(tiny_spec(steps=0, suites={"interpretability": {"n_images": 2}}), tmp_path)
