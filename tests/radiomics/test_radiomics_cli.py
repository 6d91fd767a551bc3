"""The command line: a plain run, and extraction in 3 shards through a Hydra multirun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from robustlab.radiomics.pipeline import run_study

CLI = Path(sys.executable).with_name("robustlab-radiomics")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    out = subprocess.run([str(CLI), *args], cwd=cwd, capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out


@pytest.mark.slow
def test_sharded_multirun_equals_unsharded_run(image_study, tmp_path):
    # The console script is installed by `make test`; a missing one is a broken install.
    assert CLI.exists(), f"{CLI} is missing: run `make install-radiomics`"
    study = image_study(n_acquisitions=2)
    # the unsharded reference, through the library (one CLI process less)
    run_study(study, tmp_path / "single", n_jobs=1, cache_dir=tmp_path / "cache_single",
              progress=False, report=False)
    multi = cli("-m", f"study={study}", "n_jobs=1", "progress=false", "report=false",
                "shard=0/3,1/3,2/3", "hydra/launcher=basic",
                f"hydra.sweep.dir={tmp_path / 'multi'}", f"cache_dir={tmp_path / 'cache_multi'}",
                cwd=tmp_path)
    # the first shards extract their part and name what is still missing
    assert "shard 0/3: extracted 4 ROI(s)" in multi.stdout
    assert "waits for shard(s) 1/3, 2/3" in multi.stdout
    first = json.loads((tmp_path / "multi" / "0" / "extraction.json").read_text())
    assert first["shard"] == "0/3" and first["missing_shards"] == [1, 2]
    assert first["cache_dir"] == str((tmp_path / "cache_multi").resolve())
    assert not (tmp_path / "multi" / "0" / "summary.csv").exists()
    # the last shard finds everything cached and runs the analysis
    last = tmp_path / "multi" / "2"
    assert json.loads((last / "extraction.json").read_text())["missing_shards"] == []
    sharded = pd.read_parquet(last / "features.parquet")
    unsharded = pd.read_parquet(tmp_path / "single" / "features.parquet")
    pd.testing.assert_frame_equal(sharded, unsharded)
    pd.testing.assert_frame_equal(pd.read_csv(last / "summary.csv"),
                                  pd.read_csv(tmp_path / "single" / "summary.csv"))
    assert (last / "run_info.json").is_file()
    assert "robust features" in multi.stdout


def test_bad_shard_value_is_named():
    from robustlab.radiomics.cli import parse_shard

    assert parse_shard("1/3") == (1, 3) and parse_shard(None) is None
    with pytest.raises(ValueError, match="'shard' must be 'i/n'"):
        parse_shard("half")
    with pytest.raises(ValueError, match="0 <= i < n"):
        parse_shard("3/3")


def test_plan_needs_a_design_file(tmp_path):
    from robustlab.common.errors import ConfigError
    from robustlab.radiomics.cli import run_plan
    from robustlab.radiomics.config import bind

    config = bind({"study": "simulated", "plan": True})
    with pytest.raises(ConfigError, match="plan=true needs study=<design.yaml>"):
        run_plan(config, tmp_path / "cache", tmp_path / "run")
    with pytest.raises(ConfigError, match=r"^plan_seeds: must be in \[2, inf\); got 1$"):
        bind({"study": "d.yaml", "plan": True, "plan_seeds": 1})


@pytest.mark.slow
def test_simulated_study_rerun_simulates_nothing_and_restores_the_analysis(tmp_path):
    args = ["experiment=quick", "progress=false", f"cache_dir={tmp_path / 'cache'}"]
    cli(*args, f"hydra.run.dir={tmp_path / 'run1'}", cwd=tmp_path)
    phantoms = list((tmp_path / "cache" / "phantoms").iterdir())
    assert len(phantoms) == 1 and phantoms[0].name.startswith("quick-seed0-")
    images = {p: p.stat().st_mtime_ns for p in phantoms[0].glob("images/*.nii.gz")}
    assert len(images) == 6
    cli(*args, f"hydra.run.dir={tmp_path / 'run2'}", cwd=tmp_path)
    assert {p: p.stat().st_mtime_ns for p in phantoms[0].glob("images/*.nii.gz")} == images
    second = json.loads((tmp_path / "run2" / "extraction.json").read_text())
    assert second["analysis"] == "restored" and second["counts"]["extracted"] == 0
    assert (tmp_path / "run2" / "phantom").resolve() == phantoms[0].resolve()
    for name in ("summary.csv", "robust_features.csv"):
        assert (tmp_path / "run2" / name).read_bytes() == (tmp_path / "run1" / name).read_bytes()
    # another seed is another phantom
    cli(*args, "seed=1", "texture_test.enabled=false", "report=false",
        f"hydra.run.dir={tmp_path / 'run3'}", cwd=tmp_path)
    assert len(list((tmp_path / "cache" / "phantoms").iterdir())) == 2
