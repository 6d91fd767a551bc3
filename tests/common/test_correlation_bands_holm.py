"""Correlation matrices, agreement bands and Holm's adjustment."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from robustlab.common.stats import agreement_band, holm, pearson_matrix, spearman_matrix


def test_matrices_equal_scipy_column_by_column():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(16, 4))
    b = np.column_stack([a[:, 0] ** 3, rng.normal(size=16), np.round(a[:, 1]), a[:, 2] + a[:, 3]])
    pr, sr = pearson_matrix(a, b), spearman_matrix(a, b)
    assert pr.shape == sr.shape == (4, 4)
    for i in range(4):
        for j in range(4):
            assert pr[i, j] == pytest.approx(stats.pearsonr(a[:, i], b[:, j])[0], abs=1e-12)
            assert sr[i, j] == pytest.approx(stats.spearmanr(a[:, i], b[:, j])[0], abs=1e-12)


def test_constant_column_gives_nan_not_zero():
    a = np.column_stack([np.arange(5.0), np.full(5, 2.0)])
    r = spearman_matrix(a, np.arange(5.0) ** 2)
    assert r[0, 0] == pytest.approx(1.0) and np.isnan(r[1, 0])


def test_correlation_bad_input():
    with pytest.raises(ValueError, match="same number of rows"):
        pearson_matrix(np.ones((4, 2)), np.ones((5, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        spearman_matrix(np.array([1.0, np.nan, 2.0]))


def test_agreement_bands_have_the_study_boundaries():
    # the study: excellent > 0.9, good (0.75, 0.9], moderate [0.5, 0.75], poor < 0.5
    values = [-0.2, 0.0, 0.4999, 0.5, 0.7499, 0.75, 0.7501, 0.8999, 0.9, 0.9001, 1.0, np.nan]
    assert agreement_band(values).tolist() == [
        "poor", "poor", "poor", "moderate", "moderate", "moderate", "good", "good", "good",
        "excellent", "excellent", "undefined"
    ]
    assert agreement_band([0.85], thresholds=(0.4, 0.6, 0.8)).tolist() == ["excellent"]
    assert agreement_band([0.8], thresholds=(0.4, 0.6, 0.8)).tolist() == ["good"]
    with pytest.raises(ValueError, match="three increasing"):
        agreement_band([0.5], thresholds=(0.9, 0.75, 0.5))


def test_holm_matches_definition():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    adj = holm(p)
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> max(0.06, 0.04)=0.06
    np.testing.assert_allclose(adj[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(adj[4])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([1.5])
