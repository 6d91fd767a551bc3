"""`logger=tensorboard|mlflow`: the config once, every step's metrics and sparsity, as in
metrics.csv."""

import math

import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from robustlab.common.hydra_app import CONFIG_ENV, config_dir
from robustlab.common.seeding import seed_everything
from robustlab.pruning.cli import _run_tracked, spec_from_config
from robustlab.pruning.distributed import Dist
from robustlab.pruning.loggers import make_logger

torch.set_num_threads(1)


def _tracked_smoke(run_dir, monkeypatch, *overrides):
    monkeypatch.setenv(CONFIG_ENV, str(config_dir()))
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="pruning", overrides=["experiment=smoke", "method.steps=1", *overrides])
    seed_everything(0)
    metrics = _run_tracked(cfg, spec_from_config(cfg), run_dir, Dist())
    layers = pd.read_csv(run_dir / "layer_sparsity.csv")
    return metrics, layers


def _expected(metrics, layers):
    """Every finite numeric metrics.csv value and layer sparsity, keyed (name, step)."""
    out = {}
    for row in metrics.to_dict("records"):
        for key, value in row.items():
            if key != "step" and isinstance(value, int | float) and math.isfinite(value):
                out[(key, int(row["step"]))] = float(value)
    for row in layers.to_dict("records"):
        out[(f"layer_sparsity/{row['layer']}", int(row["step"]))] = float(row["sparsity"])
    return out


def test_tensorboard_scalars_equal_metrics_csv(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    metrics, layers = _tracked_smoke(tmp_path, monkeypatch, "logger=tensorboard")
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0}).Reload()
    logged = {(tag, e.step): e.value for tag in events.Tags()["scalars"] for e in events.Scalars(tag)}
    expected = _expected(metrics, layers)
    assert set(logged) == set(expected)
    for key, value in expected.items():
        assert logged[key] == pytest.approx(value, rel=1e-6), key  # event files hold float32
    assert "config" in "".join(events.Tags()["tensors"])


def test_mlflow_run_in_a_local_store_has_the_same_values(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    metrics, layers = _tracked_smoke(tmp_path, monkeypatch, "logger=mlflow")
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").resolve().as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("robustlab-pruning").experiment_id])
    expected = _expected(metrics, layers)
    logged = {(key, m.step): m.value
              for key in run.data.metrics for m in client.get_metric_history(run.info.run_id, key)}
    assert logged == pytest.approx(expected, rel=1e-12)
    assert run.data.params["method.name"] == "imp_lr_rewind" and run.data.params["train.sync_batchnorm"] == "False"


def test_an_unknown_or_missing_tracker_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError,
                       match=r"^logger\.name: must be one of none, tensorboard, mlflow, wandb; got 'neptune'$"):
        make_logger({"name": "neptune"}, tmp_path, "run")
    assert make_logger({"name": "none"}, tmp_path, "run") is None


def test_a_sweep_without_the_logger_group_runs_untracked(tmp_path, monkeypatch):
    metrics, _ = _tracked_smoke(tmp_path, monkeypatch, "~logger")
    assert list(metrics["step"]) == [0, 1]
    assert not (tmp_path / "tensorboard").exists() and not (tmp_path / "mlruns").exists()
