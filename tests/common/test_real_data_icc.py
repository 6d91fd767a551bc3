"""Golden output: the repeatable features of a published phantom test-retest study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robustlab.common.stats import icc

NOT_FEATURES = ("ID", "Image", "Mask")
EXPECTED = {"A": 883, "B": 864, "C": 742}


def feature_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in NOT_FEATURES and not c.startswith(("diagnostics_", "Unnamed"))]


@pytest.mark.parametrize("scanner", sorted(EXPECTED))
def test_icc_a1_selects_the_published_repeatable_features(shared_data, scanner):
    folder = shared_data / "radiomics" / "size_dependency"
    test = pd.read_csv(folder / f"output_pyradiomics_{scanner}_test.csv")
    retest = pd.read_csv(folder / f"output_pyradiomics_{scanner}_retest.csv")
    features = feature_columns(test)
    assert features == feature_columns(retest) and len(features) == 944
    ratings = np.stack([test[features].to_numpy(float), retest[features].to_numpy(float)], axis=1)
    res = icc(ratings, model="twoway", type="agreement", unit="single")
    selected = {f for f, v in zip(features, res.value, strict=True) if v > 0.9}
    # R wrote the published list and turned every '-' of a column name into '.'.
    published_names = pd.read_csv(folder / f"repeatable_features_{scanner}.csv", nrows=0).columns[1:]
    published = {name.replace(".", "-") for name in published_names}
    normalise = {f.replace(".", "-"): f for f in features}
    assert {normalise[p] for p in published} == selected
    assert len(selected) == EXPECTED[scanner]
