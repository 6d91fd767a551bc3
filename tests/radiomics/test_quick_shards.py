"""The phantom's `quick` study extracted in 3 shards through a Hydra multirun equals the unsharded run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from robustlab.radiomics.phantom import simulate_study
from robustlab.radiomics.phantom.config import load_config
from robustlab.radiomics.pipeline import run_study

CLI = Path(sys.executable).with_name("robustlab-radiomics")


@pytest.mark.slow
def test_quick_study_in_three_shards_equals_unsharded(tmp_path: Path) -> None:
    study = simulate_study(load_config("protocol", "quick"), load_config("phantom", "pelvic"),
                           tmp_path / "study", seed=0, progress=False)
    single = run_study(study, tmp_path / "single", n_jobs=2, cache_dir=tmp_path / "cache_single",
                       progress=False, texture=False, report=False)
    sweep = tmp_path / "multi"
    out = subprocess.run(
        [str(CLI), "-m", f"study={study}", "shard=0/3,1/3,2/3", "hydra/launcher=basic", "n_jobs=2",
         "progress=false", "report=false", "texture_test.enabled=false",
         f"cache_dir={tmp_path / 'cache_multi'}", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "HYDRA_FULL_ERROR": "1"})
    assert out.returncode == 0, out.stderr[-4000:]
    sharded = pd.read_parquet(sweep / "2" / "features.parquet")  # the shard that completed the cache
    assert len(sharded) == len(single.features) > 0
    pd.testing.assert_frame_equal(sharded, pd.read_parquet(single.out_dir / "features.parquet"))
    pd.testing.assert_frame_equal(pd.read_csv(sweep / "2" / "summary.csv"),
                                  pd.read_csv(single.out_dir / "summary.csv"))
