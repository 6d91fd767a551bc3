"""Agreement statistics vectorized over features (the last axis is the feature axis).

- :func:`icc`: the six intraclass correlation forms of McGraw and Wong, with F test and CI.
- :func:`ccc`: Lin's concordance correlation coefficient with its z-transform CI.
- :func:`pearson_matrix`, :func:`spearman_matrix`: every column against every column.
- :func:`agreement_band`: poor / moderate / good / excellent (Koo and Li 2016).
- :func:`bootstrap_ci`: percentile and BCa bootstrap intervals.
- :func:`crossed_mean`: the mean of a crossed array (seeds x images) with a two-way variance.
- :func:`holm`: Holm's step-down adjustment of p-values.
- :func:`wscv`: within-subject coefficient of variation (as ``agRee::agree.wscv``).
- :func:`check_alpha`: a level ``alpha`` in (0, 1), or a one-line error naming it.

Example:
    >>> import numpy as np
    >>> from robustlab.common.stats import icc
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.normal(size=(18, 1, 944))            # 18 ROIs, 944 features
    >>> ratings = truth + 0.1 * rng.normal(size=(18, 2, 944))  # test and retest
    >>> res = icc(ratings, model="twoway", type="agreement", unit="single")
    >>> res.value.shape
    (944,)
"""

from robustlab.common.stats._validation import check_alpha
from robustlab.common.stats.bands import BAND_NAMES, agreement_band
from robustlab.common.stats.bootstrap import BootstrapResult, bootstrap_ci
from robustlab.common.stats.ccc import CCCResult, ccc
from robustlab.common.stats.correlation import pearson_matrix, spearman_matrix
from robustlab.common.stats.crossed import CrossedMeanResult, crossed_mean
from robustlab.common.stats.icc import ICCResult, icc
from robustlab.common.stats.multiple import holm
from robustlab.common.stats.wscv import WSCVResult, wscv

__all__ = [
    "BAND_NAMES", "BootstrapResult", "CCCResult", "CrossedMeanResult", "ICCResult", "WSCVResult",
    "agreement_band", "bootstrap_ci", "ccc", "check_alpha", "crossed_mean", "holm", "icc",
    "pearson_matrix", "spearman_matrix", "wscv",
]
