"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run: a CI run is reproducible, and a failure
# seen once is seen again. Set HYPOTHESIS_PROFILE=explore for fresh random examples, and
# HYPOTHESIS_PROFILE=fuzz (`make fuzz`) for many fresh examples per test (tests/fuzz/).
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.register_profile("fuzz", derandomize=False, deadline=None,
                          max_examples=int(os.environ.get("FUZZ_EXAMPLES", "1000")))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; the test is skipped when it is absent."""
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"real-data check: no shared data folder at {data} (it lies beside the checkout)")
    return data


class _Planted:
    """Unpickling this calls ``os.system``: here it writes a marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture
def plant_pickle(tmp_path: Path):
    """``plant(path, as_torch=False)``: write a pickle that runs code when unpickled.

    Unpickling it creates ``tmp_path / "ran"``; the fixture returns ``(plant, marker)``.
    """
    import pickle

    marker = tmp_path / "ran"

    def plant(path: Path, as_torch: bool = False) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"model": _Planted(marker), "step": 0}
        if as_torch:
            import torch

            torch.save(payload, path)
        else:
            path.write_bytes(pickle.dumps(payload))
        return path

    return plant, marker


@pytest.fixture
def csv_study(tmp_path: Path):
    """A factory: ``csv_study(n_rois=6)`` writes two pyradiomics feature CSVs (three features,
    test and retest within 1 %) and a study comparing them; returns the study file."""

    def make(n_rois: int = 6, root: Path | None = None) -> Path:
        import numpy as np
        import pandas as pd
        import yaml

        root = root or tmp_path
        rng = np.random.default_rng(0)
        cols = ["original_firstorder_Mean", "original_glcm_Idmn", "original_shape_VoxelVolume"]
        values = rng.normal(size=(n_rois, 3))
        for name in ("a", "b"):
            pd.DataFrame(values + 0.01 * rng.normal(size=values.shape), columns=cols).to_csv(
                root / f"{name}.csv", index=False)
        (root / "s.yaml").write_text(yaml.safe_dump({
            "acquisitions": {"a": {"features": "a.csv"}, "b": {"features": "b.csv"}},
            "comparisons": [{"name": "ab", "statistic": "icc", "acquisitions": ["a", "b"]}]}))
        return root / "s.yaml"

    return make
