"""The F and normal quantiles and tails from scipy.special: scipy.stats' values exactly, without it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from scipy import stats

from robustlab.common.stats._distributions import f_ppf, f_sf, norm_ppf
from robustlab.common.stats.correlation import _ranks


def test_the_values_of_scipy_stats_bit_for_bit():
    rng = np.random.default_rng(0)
    dfn = np.r_[rng.uniform(0.01, 100, 2000), np.inf, 0, -1, np.nan, 2, 2]
    dfd = np.r_[rng.uniform(0.01, 1e6, 2000), np.nan, np.inf, 3, 2, np.inf, 0]
    x = np.r_[rng.uniform(-1, 100, 2000), np.nan, np.inf, -2, -1, -1, -1]
    q = np.r_[rng.uniform(0, 1, 2000), 0.0, 1.0, 0.975, np.nan, 0.5, 0.95]
    assert np.array_equal(f_ppf(q, dfn, dfd), stats.f.ppf(q, dfn, dfd), equal_nan=True)
    assert np.array_equal(f_sf(x, dfn, dfd), stats.f.sf(x, dfn, dfd), equal_nan=True)
    assert np.array_equal(norm_ppf(q), stats.norm.ppf(q), equal_nan=True)
    ties = rng.integers(0, 5, (40, 30)).astype(float)
    ties[3, 1] = np.nan
    assert np.array_equal(_ranks(ties), stats.rankdata(ties, axis=0, nan_policy="propagate"), equal_nan=True)


def test_the_agreement_statistics_do_not_import_scipy_stats():
    code = ("import sys, numpy as np\n"
            "from robustlab.common.stats import ccc, icc, spearman_matrix, wscv\n"
            "x = np.random.default_rng(0).normal(size=(10, 2, 5))\n"
            "icc(x, 'twoway', 'agreement'); icc(x, 'oneway', 'consistency'); ccc(x[:, 0], x[:, 1])\n"
            "wscv(np.abs(x) + 1); spearman_matrix(x[:, 0], x[:, 1])\n"
            "print('scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
