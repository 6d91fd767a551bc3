"""`robustlab-prune-aggregate`: gathers a multirun's jobs with their overrides and writes one report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robustlab.pruning.aggregate import main


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, write_fake_run) -> Path:
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
    assert main([str(sweep)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    report = Path(lines[-1])
    assert report == sweep / "aggregate" / "report" / "report.html" and report.is_file()
    assert any(line == f"job without results: {sweep / '2'}" for line in lines)
    for name in ("metrics", "interpretability", "discovery", "alignment"):
        table = pd.read_csv(sweep / "aggregate" / f"{name}.csv")
        assert set(table["job"].astype(str)) == {"0", "1"}, name
        assert set(table["experiment"]) == {"synthetic_quick"}, name
        # The sweep's own model column is kept; the job's override sits beside it.
        assert (set(zip(table["job"].astype(str), table["override.model"], strict=True))
                == {("0", "resnet_small"), ("1", "vit_small")})
        assert "hydra.job.chdir" not in table.columns
    metrics = pd.read_csv(sweep / "aggregate" / "metrics.csv")
    assert len(metrics) == 2 * 5
    assert (sweep / "aggregate" / "report" / "sweet_spots.csv").is_file()
    assert {"metrics_resnet_small.png", "metrics_vit_small.png"} <= {p.name for p in report.parent.glob("*.png")}


def test_aggregate_of_a_real_single_run_with_the_alignment_suite(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
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
    assert ({"shape_bias", "clean", "uniform_noise", "rotation", "silhouette", "error_consistency"}
            <= set(alignment["method"]))

    assert main([str(run)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == str(run / "aggregate" / "report" / "report.html")
    assert set(pd.read_csv(run / "aggregate" / "alignment.csv")["step"]) == {0, 1, 2}
    sweet = pd.read_csv(run / "aggregate" / "report" / "sweet_spots.csv")
    tested = set(zip(sweet["table"], sweet["method"], strict=True))
    assert ({("accuracy", ""), ("alignment", "shape_bias"), ("alignment", "rotation")}
            <= {(t, "" if pd.isna(m) else m) for t, m in tested})
    figures = {p.name for p in (run / "aggregate" / "report").glob("*.png")}
    assert {"shape_bias.png", "distortions_resnet18.png", "metrics_resnet18.png", "heatmap.png"} <= figures


def test_aggregate_says_why_it_cannot_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 2
    assert "holds no run" in capsys.readouterr().err
    (tmp_path / "0" / ".hydra").mkdir(parents=True)
    (tmp_path / "0" / ".hydra" / "overrides.yaml").write_text("- seed=0\n")
    assert main([str(tmp_path)]) == 2
    assert "no job under" in capsys.readouterr().err


def _spec(run: Path, model: str, seed: int, rate: float = 0.2) -> None:
    (run / "sweep_spec.json").write_text(json.dumps(
        {"label": model, "method": "magnitude", "rate": rate, "steps": 4, "seed": seed, "device": "cpu"}))


def test_runs_of_other_settings_are_kept_apart_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              write_fake_run) -> None:
    rng = np.random.default_rng(1)
    for job, rate in (("a", 0.2), ("b", 0.5)):  # same model, method and seed; another method.rate
        write_fake_run(tmp_path / job, "resnet_small", 0, rng, n_images=24, overrides=[f"method.rate={rate}"])
        _spec(tmp_path / job, "resnet_small", 0, rate)
    assert main([str(tmp_path)]) == 0
    curves = {"resnet_small [method.rate=0.2]", "resnet_small [method.rate=0.5]"}
    assert set(pd.read_csv(tmp_path / "aggregate" / "metrics.csv")["model"]) == curves
    assert set(pd.read_csv(tmp_path / "aggregate" / "report" / "sweet_spots.csv")["model"]) == curves


def test_an_unfinished_seed_is_named_and_its_dense_step_paired_with_its_own_steps(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], write_fake_run) -> None:
    rng = np.random.default_rng(2)
    for seed in (0, 1):
        write_fake_run(tmp_path / str(seed), "resnet_small", seed, rng, n_images=24)
        _spec(tmp_path / str(seed), "resnet_small", seed)
    killed = tmp_path / "1"  # killed after its dense step: one metrics.csv row
    metrics = pd.read_csv(killed / "metrics.csv")
    metrics[metrics["step"] == 0].to_csv(killed / "metrics.csv", index=False)
    pd.read_parquet(killed / "per_image" / "accuracy_step000.parquet").assign(value=1.0).to_parquet(
        killed / "per_image" / "accuracy_step000.parquet")  # a dense top-1 far from seed 0's
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"unfinished runs (1), their finished steps used: {killed} (steps 0-0 of 0-4)\n" in out
    sweet = pd.read_csv(tmp_path / "aggregate" / "report" / "sweet_spots.csv")
    row = sweet[(sweet["table"] == "accuracy") & (sweet["step"] == 1)].iloc[0]
    finished = tmp_path / "0" / "per_image"
    paired = (pd.read_parquet(finished / "accuracy_step001.parquet")["value"].mean()
              - pd.read_parquet(finished / "accuracy_step000.parquet")["value"].mean())
    assert row["gain"] == pytest.approx(paired)  # seed 1's dense step does not move the baseline
    assert row["dense"] == pytest.approx(pd.read_parquet(finished / "accuracy_step000.parquet")["value"].mean())
    assert row["value"] == pytest.approx(pd.read_parquet(finished / "accuracy_step001.parquet")["value"].mean())
    assert row["n_seeds"] == 1  # the seeds that reached step 1


def test_a_rerun_after_a_job_was_removed_keeps_nothing_of_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             write_fake_run) -> None:
    rng = np.random.default_rng(4)
    for job, model in ((0, "resnet_small"), (1, "vit_small")):
        write_fake_run(tmp_path / str(job), model, 0, rng, n_images=16, overrides=[f"model={model}"])
    (tmp_path / "0" / "discovery.csv").unlink()  # only job 1 has a discovery table
    assert main([str(tmp_path)]) == 0
    out = tmp_path / "aggregate"
    assert set(pd.read_csv(out / "discovery.csv")["job"].astype(str)) == {"1"}
    assert (out / "report" / "metrics_vit_small.png").is_file()
    shutil.rmtree(tmp_path / "1")
    assert main([str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out / "report" / "report.html")
    assert not (out / "discovery.csv").exists()  # the removed job's rows went with it
    assert set(pd.read_csv(out / "metrics.csv")["job"].astype(str)) == {"0"}
    assert not any("vit_small" in p.name for p in out.rglob("*"))  # and its figures
    assert set(pd.read_csv(out / "report" / "sweet_spots.csv")["model"]) == {"resnet_small"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0", "aggregate"]  # no partial folder left


def test_the_test_settings_come_from_the_jobs_config_and_the_options_override_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], write_fake_run) -> None:
    write_fake_run(tmp_path / "0", "resnet_small", 0, np.random.default_rng(5), n_images=16)
    (tmp_path / "0" / ".hydra" / "config.yaml").write_text(
        "seed: 0\nsweetspot:\n  alpha: 0.05\n  holm_scope: curve\n  min_pairs: 5\n"
        "  margin: {'accuracy/*/top1': 0.02}\n")
    assert main([str(tmp_path)]) == 0
    sweet = pd.read_csv(tmp_path / "aggregate" / "report" / "sweet_spots.csv")
    assert set(sweet["holm_scope"]) == {"curve"}
    assert set(sweet.loc[sweet["table"] == "accuracy", "margin"]) == {0.02}
    assert set(sweet.loc[sweet["metric"] == "pointing_game", "margin"]) == {0.01}
    assert main([str(tmp_path), "--holm-scope", "report", "--margin", "interpretability/*/*=0.05"]) == 0
    sweet = pd.read_csv(tmp_path / "aggregate" / "report" / "sweet_spots.csv")
    assert set(sweet["holm_scope"]) == {"report"}
    assert set(sweet.loc[sweet["table"] == "accuracy", "margin"]) == {0.02}  # the job's, kept
    assert set(sweet.loc[sweet["metric"] == "pointing_game", "margin"]) == {0.05}
    capsys.readouterr()
    assert main([str(tmp_path), "--margin", "top1=0.1"]) == 2
    assert "not a table/method/metric pattern" in capsys.readouterr().err


@pytest.mark.parametrize("content, pattern", [
    ("step,sparsity,top1\n0,0.0,0.5\n1,0.2,0.4,9,9,9\n", r"metrics\.csv: cannot be read as a comma-separated table "
                                                        r"\(Error tokenizing data\. .*\); fix or remove the file"),
    ("step;sparsity;top1;top5;params_nonzero;macs;train_seconds;images_per_second;model;prune_method;seed\n"
     "0;0.0;0.5;1;1;1;1;1;m;p;0\n",
     r"metrics\.csv: missing column\(s\) step, sparsity; its header is one column holding ';' "
     r"\('step;sparsity;top1;top5;params_nonzero;macs;train_seconds;im\.\.\.'\): the file is ';'-delimited; "
     r"robustlab reads comma-separated tables"),
])
def test_a_metrics_csv_that_is_not_a_comma_separated_table_is_one_line_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, pattern: str, write_fake_run) -> None:
    import re

    write_fake_run(tmp_path / "0", "resnet_small", 0, np.random.default_rng(3), n_images=8)
    (tmp_path / "0" / "metrics.csv").write_text(content)
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert re.fullmatch(rf"robustlab-prune-aggregate: error: {tmp_path / '0'}/{pattern} "
                        r"\(--verbose shows the traceback\)", err), err
    assert "prune_method;seed" not in err
