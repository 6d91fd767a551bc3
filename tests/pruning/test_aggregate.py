"""`robustlab-prune-aggregate`: gathers a multirun's jobs with their overrides and writes one report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_report import write_fake_run

from robustlab.pruning.aggregate import main


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("multirun")
    rng = np.random.default_rng(0)
    for job, model in ((0, "resnet_small"), (1, "vit_small")):
        write_fake_run(root / str(job), model, 0, rng, n_images=24,
                       overrides=["experiment=synthetic_quick", f"model={model}", "hydra.job.chdir=false"])
    (root / "2" / ".hydra").mkdir(parents=True)  # a job that failed before writing anything
    (root / "2" / ".hydra" / "overrides.yaml").write_text("- experiment=synthetic_quick\n- model=broken\n")
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


def test_aggregate_gathers_every_table_with_the_jobs_overrides(sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(sweep), "--n-resamples", "200"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    report = Path(lines[-1])
    assert report == sweep / "aggregate" / "report" / "report.html" and report.is_file()
    assert any(line == f"job without results: {sweep / '2'}" for line in lines)
    for name in ("metrics", "interpretability", "discovery", "alignment"):
        table = pd.read_csv(sweep / "aggregate" / f"{name}.csv")
        assert set(table["job"].astype(str)) == {"0", "1"}, name
        assert set(table["experiment"]) == {"synthetic_quick"}, name
        # The sweep's own model column is kept; the job's override sits beside it.
        assert set(zip(table["job"].astype(str), table["override.model"], strict=True)) == {("0", "resnet_small"), ("1", "vit_small")}
        assert "hydra.job.chdir" not in table.columns
    metrics = pd.read_csv(sweep / "aggregate" / "metrics.csv")
    assert len(metrics) == 2 * 5
    assert (sweep / "aggregate" / "report" / "sweet_spots.csv").is_file()
    assert {"metrics_resnet_small.png", "metrics_vit_small.png"} <= {p.name for p in report.parent.glob("*.png")}


def test_aggregate_of_a_real_single_run_with_the_alignment_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A real (tiny) sweep: 32 px shapes, 2 pruning steps, the alignment suite with light options.
    import torch

    from robustlab.common.seeding import seed_everything
    from robustlab.pruning.data.sources import DataSpec
    from robustlab.pruning.models import ModelSpec
    from robustlab.pruning.sweep import SweepSpec, run_sweep
    from robustlab.pruning.train import TrainSpec

    torch.set_num_threads(1)
    seed_everything(0)
    options = {"n_images": 24, "cue_conflict_images": 24,
               "distortions": {"uniform_noise": [0.2], "rotation": [90], "silhouette": [1.0]}}
    spec = SweepSpec(model=ModelSpec("resnet18", num_classes=3, img_size=32, kwargs={"channels": (8, 8, 16, 16)}),
                     data=DataSpec(num_classes=3, img_size=32, train_size=32, val_size=24),
                     train=TrainSpec(epochs=1, batch_size=16, lr=0.05, progress=False), steps=2, rate=0.2,
                     eval_batch_size=24, suites={"alignment": options}, device="cpu")
    run = tmp_path / "run"
    run_sweep(spec, run)
    alignment = pd.read_csv(run / "alignment.csv")
    assert set(alignment["step"]) == {0, 1, 2}
    assert {"shape_bias", "clean", "uniform_noise", "rotation", "silhouette", "error_consistency"} <= set(alignment["method"])

    assert main([str(run), "--n-resamples", "200"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == str(run / "aggregate" / "report" / "report.html")
    assert set(pd.read_csv(run / "aggregate" / "alignment.csv")["step"]) == {0, 1, 2}
    sweet = pd.read_csv(run / "aggregate" / "report" / "sweet_spots.csv")
    tested = set(zip(sweet["table"], sweet["method"], strict=True))
    assert {("accuracy", ""), ("alignment", "shape_bias"), ("alignment", "rotation")} <= {(t, "" if pd.isna(m) else m) for t, m in tested}
    figures = {p.name for p in (run / "aggregate" / "report").glob("*.png")}
    assert {"shape_bias.png", "distortions_resnet18.png", "metrics_resnet18.png", "heatmap.png"} <= figures


def test_aggregate_says_why_it_cannot_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 2
    assert "holds no run" in capsys.readouterr().err
    (tmp_path / "0" / ".hydra").mkdir(parents=True)
    (tmp_path / "0" / ".hydra" / "overrides.yaml").write_text("- seed=0\n")
    assert main([str(tmp_path)]) == 2
    assert "no job under" in capsys.readouterr().err
