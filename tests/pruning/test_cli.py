"""`robustlab-prune` end to end on the `smoke` experiment, and its refusals."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_smoke_experiment_writes_the_run_directory(tmp_path, run_prune):
    run = tmp_path / "run"
    result = run_prune("experiment=smoke", f"hydra.run.dir={run}", "threads=1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"results: {run}" in result.stdout
    metrics = pd.read_csv(run / "metrics.csv")
    assert list(metrics["step"]) == [0, 1, 2]
    assert set(metrics["model"]) == {"resnet_tiny"} and set(metrics["prune_method"]) == {"imp_lr_rewind"}
    assert (run / "layer_sparsity.csv").exists() and (run / ".hydra" / "config.yaml").exists()
    assert sorted(p.name for p in (run / "checkpoints").glob("step*.pt")) == ["step000.pt", "step001.pt", "step002.pt"]
    assert json.loads((run / "run_info.json").read_text())["status"] == "completed"
    # Progress by default, one line per step where the output is not a terminal, with rate and time left.
    steps = [line for line in result.stderr.splitlines() if line.startswith("resnet_tiny sweep: ")]
    assert [line.split(" (")[0] for line in steps] == [f"resnet_tiny sweep: {n}/3 epoch" for n in range(4)], steps
    assert re.search(r"\[\d\d:\d\d<00:00, +[\d.]+(s/epoch|epoch/s)\], step 2 of 0-2 done$", steps[-1]), steps
    # The same command again resumes a finished sweep: nothing is recomputed; progress=false: no progress.
    before = (run / "metrics.csv").read_text()
    again = run_prune("experiment=smoke", f"hydra.run.dir={run}", "threads=1", "progress=false", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (run / "metrics.csv").read_text() == before
    assert "sweep: " not in again.stderr and "it/s" not in again.stderr


@pytest.mark.parametrize("overrides, message", [
    (["method.rate=1.5"], r"method\.rate: must be in \(0, 1\); got 1\.5"),
    (["model=timm", "model.name=resnet81"], r"unknown model 'resnet81'; did you mean .*resnet18"),
])
def test_bad_config_is_a_clear_error(tmp_path, overrides, message, run_prune):
    result = run_prune("experiment=smoke", *overrides, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode != 0
    assert re.search(message, result.stderr), result.stderr[-2000:]


def test_keywords_of_another_model_are_one_line_before_any_work(tmp_path, run_prune):
    run = tmp_path / "run"
    result = run_prune("experiment=smoke", "model=timm", "model.name=convnext_atto", "+model.kwargs.channels=[8,16]",
                   "+model.kwargs.stem_width=8", f"hydra.run.dir={run}", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(  # the program's name here is python's "-c"
        ": error: model.kwargs: 'convnext_atto' takes no keyword channels, stem_width (set for "
        "another model?); leave them out with ~model.kwargs.channels ~model.kwargs.stem_width "
        "(--verbose shows the traceback)")
    assert "Traceback" not in result.stderr
    assert not (run / "sweep_spec.json").exists() and not (run / "checkpoints").exists()


def test_the_sweeps_bar_counts_epochs_from_the_finished_steps_on(tmp_path, capsys):
    # 10 dense epochs, then 1 per retraining step: a count of steps would show a time left several
    # times too long after the dense step
    from types import SimpleNamespace

    import pandas as pd

    from robustlab.pruning.cli import _sweep_bar

    spec = SimpleNamespace(steps=7, retrain_epochs=1, train=SimpleNamespace(epochs=10), label="resnet")
    bar, step_done = _sweep_bar(spec, tmp_path, enabled=True)
    for step in range(3):
        step_done(step)
    bar.close()
    lines = [line.split(" [")[0] for line in capsys.readouterr().err.splitlines()]
    assert lines == ["resnet sweep: 0/17 epoch (0 %)", "resnet sweep: 10/17 epoch (59 %)",  # a line at every step
                     "resnet sweep: 11/17 epoch (65 %)", "resnet sweep: 12/17 epoch (71 %)"]
    pd.DataFrame({"step": [0, 1]}).to_csv(tmp_path / "metrics.csv", index=False)  # resumed after step 1
    bar, _ = _sweep_bar(spec, tmp_path, enabled=True)
    assert (bar.total, bar.n) == (17, 11)
    bar.close()
    capsys.readouterr()
    quiet, _ = _sweep_bar(SimpleNamespace(steps=2, retrain_epochs=None, train=SimpleNamespace(epochs=0), label="x"),
                          tmp_path / "none", enabled=False)
    assert quiet.total == 3 and capsys.readouterr().err == ""  # a step without epochs counts one
