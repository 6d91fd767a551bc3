"""Hydra multirun of the pruning `smoke` experiment on local launchers, then aggregation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

BIN = Path(sys.executable).parent


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["submitit_local", "joblib"])
def test_two_seed_multirun_runs_two_jobs_and_aggregates_both(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    cmd = [
        str(BIN / "robustlab-prune"), "-m", "experiment=smoke", "seed=0,1", "method.steps=1",
        f"hydra/launcher={launcher}", f"hydra.sweep.dir={sweep}", "threads=1",
    ]
    if launcher == "joblib":
        cmd.append("hydra.launcher.n_jobs=2")
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = sorted(p.parent.relative_to(sweep).as_posix() for p in sweep.rglob("metrics.csv"))
    # one folder per job: <model label>-<method>-seed<seed>/<the other overridden keys>
    assert jobs == [f"resnet_tiny-imp_lr_rewind-seed{s}/experiment=smoke,method.steps=1" for s in (0, 1)], jobs

    agg = subprocess.run([str(BIN / "robustlab-prune-aggregate"), str(sweep)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert agg.returncode == 0, agg.stderr[-3000:]
    report = Path(agg.stdout.strip().splitlines()[-1].split()[-1])
    assert report.is_file() and report.name == "report.html"
    metrics = pd.read_csv(sweep / "aggregate" / "metrics.csv")
    assert sorted(metrics["seed"].unique().tolist()) == [0, 1]
    assert metrics.groupby("seed")["step"].apply(sorted).tolist() == [[0, 1], [0, 1]]


@pytest.mark.slow
def test_a_multirun_over_a_key_other_than_seed_keeps_every_job(tmp_path):
    """`-m method.rate=0.2,0.5` on two parallel joblib workers: two job folders, each its own rate."""
    sweep = tmp_path / "sweep"
    cmd = [str(BIN / "robustlab-prune"), "-m", "experiment=smoke", "method.rate=0.2,0.5", "method.steps=1",
           "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}", "threads=1"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = sorted(p.parent.relative_to(sweep).as_posix() for p in sweep.rglob("metrics.csv"))
    assert jobs == ["resnet_tiny-imp_lr_rewind-seed0/experiment=smoke,method.rate=0.2,method.steps=1",
                    "resnet_tiny-imp_lr_rewind-seed0/experiment=smoke,method.rate=0.5,method.steps=1"]
    for job, rate in zip(jobs, (0.2, 0.5), strict=True):
        metrics = pd.read_csv(sweep / job / "metrics.csv")
        assert metrics["target_sparsity"].tolist() == pytest.approx([0.0, rate])
