"""The statistics registry: built-ins, a user-added statistic, and the errors naming them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from robustlab.common.stats import spearman_matrix
from robustlab.radiomics.pipeline import run_study
from robustlab.radiomics.statistics import STATISTICS
from robustlab.radiomics.study import StudyError, load_study


def write_tables(root, n=3, rois=8, seed=0):
    rng = np.random.default_rng(seed)
    names = [f"original_glcm_F{i}" for i in range(6)]
    truth = rng.normal(size=(rois, 6)) * 5
    for a in range(n):
        pd.DataFrame(truth + rng.normal(size=truth.shape), columns=names).to_csv(
            root / f"a{a}.csv", index=False)
    return {f"a{a}": {"features": f"a{a}.csv"} for a in range(n)}


def write(root, comparisons, n=3):
    acquisitions = write_tables(root, n)
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump({"acquisitions": acquisitions, "comparisons": comparisons}))
    return path


def test_builtins_and_their_options():
    assert {"icc", "ccc"} <= set(STATISTICS.list())
    assert STATISTICS.get("icc").defaults() == {"model": "twoway", "type": "agreement", "unit": "single"}
    with pytest.raises(KeyError, match="unknown statistic 'icx'; did you mean icc"):
        STATISTICS.get("icx")


def test_study_errors_name_statistic_problems(tmp_path):
    bad = write(tmp_path, [{"name": "c", "statistic": "icx", "acquisitions": ["a0", "a1"]}])
    with pytest.raises(StudyError, match=r"study\.yaml: comparisons\[0\] \(c\)\.statistic: must "
                                         r"be a registered statistic \(ccc, .*icc.*\); got 'icx' "
                                         r"\(did you mean icc\?\)$"):
        load_study(bad)
    three = write(tmp_path, [{"name": "c", "statistic": "ccc", "acquisitions": ["a0", "a1", "a2"]}])
    with pytest.raises(StudyError, match="comparison 'c': ccc needs exactly 2 acquisitions; got 3"):
        load_study(three)
    option = write(tmp_path, [{"name": "c", "statistic": "icc", "acquisitions": ["a0", "a1"],
                               "type": "absolute"}])
    with pytest.raises(StudyError, match=r"comparisons\[0\] \(c\)\.type: must be one of agreement, "
                                         r"consistency; got 'absolute'$"):
        load_study(option)
    foreign = write(tmp_path, [{"name": "c", "statistic": "ccc", "acquisitions": ["a0", "a1"],
                                "model": "twoway"}])
    with pytest.raises(StudyError, match=r"comparisons\[0\] \(c\): unknown key 'model'"):
        load_study(foreign)


def test_a_user_statistic_runs_in_a_study(tmp_path):
    name = "spearman_test_only"
    if name not in STATISTICS:
        @STATISTICS.register(name, n_raters=(2, 2), min_rois=3)
        def spearman(ratings, options, alpha):
            rho = np.diagonal(spearman_matrix(ratings[:, 0, :], ratings[:, 1, :]))
            nan = np.full_like(rho, np.nan)
            return "Spearman rho", rho, nan, nan

    study = write(tmp_path, [{"name": "rank", "statistic": name, "acquisitions": ["a0", "a1"]}])
    res = run_study(study, tmp_path / "out", n_jobs=1, cache_dir=tmp_path / "cache",
                    progress=False, report=False)
    row = res.summary.iloc[0]
    assert row["statistic"] == "Spearman rho" and row["n_features"] == 6
    a0 = pd.read_csv(tmp_path / "a0.csv").to_numpy()
    a1 = pd.read_csv(tmp_path / "a1.csv").to_numpy()
    np.testing.assert_allclose(res.per_feature["value"], np.diagonal(spearman_matrix(a0, a1)))
