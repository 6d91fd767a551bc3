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


def test_aggregate_accepts_a_single_run_directory(sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(sweep / "1"), "--n-resamples", "100"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == str(sweep / "1" / "aggregate" / "report" / "report.html")
    assert set(pd.read_csv(sweep / "1" / "aggregate" / "metrics.csv")["model"]) == {"vit_small"}


def test_aggregate_says_why_it_cannot_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 2
    assert "holds no run" in capsys.readouterr().err
    (tmp_path / "0" / ".hydra").mkdir(parents=True)
    (tmp_path / "0" / ".hydra" / "overrides.yaml").write_text("- seed=0\n")
    assert main([str(tmp_path)]) == 2
    assert "no job under" in capsys.readouterr().err
