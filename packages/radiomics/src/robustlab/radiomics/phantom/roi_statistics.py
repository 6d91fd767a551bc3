"""Per-ROI summary statistics shared by simulated images and released feature tables.

The digital phantom is fitted to the study's released per-ROI features through three statistics
of each ROI, which pyradiomics reports (with the study's ``normalize: true``,
``normalizeScale: 100``) and which a simulated image gives without running pyradiomics:

- ``mean``: the ROI's mean of the normalised image ``f = 100 (x - mu) / sigma``, ``mu`` and
  ``sigma`` the mean and standard deviation of the whole image (pyradiomics'
  ``normalizeImage``); pyradiomics' ``original_firstorder_Mean``.
- ``variance``: the ROI's variance of ``f`` (``original_firstorder_Variance``).
- ``contrast``: the mean squared difference of in-plane neighbours (distance 1, the four
  directions of a 2D GLCM, averaged over them) inside the ROI, in units of ``f`` squared: the
  GLCM contrast ``sum_ij p(i, j) (i - j)**2`` before grey-level binning, i.e. pyradiomics'
  ``original_glcm_Contrast`` times the bin width squared (up to the binning's ``binWidth**2 / 6``,
  below 1 % here) (Haralick, Shanmugam and Dinstein, IEEE Trans SMC 1973, 3:610).

``variance`` and ``contrast`` together give the lag-1 correlation ``1 - contrast / (2 variance)``
(white noise raises ``contrast`` towards twice ``variance``; a smooth texture keeps it low).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STATISTICS = ("mean", "variance", "contrast")
#: The released feature behind each statistic (``contrast`` times the bin width squared).
RELEASED_FEATURES = {"mean": "original_firstorder_Mean", "variance": "original_firstorder_Variance",
                     "contrast": "original_glcm_Contrast"}
#: In-plane neighbour offsets (dy, dx) of a 2D GLCM at distance 1.
_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


def normalise(image: np.ndarray, scale: float = 100.0) -> np.ndarray:
    """``scale (x - mean) / std`` over the whole image, as pyradiomics' ``normalizeImage``."""
    x = np.asarray(image, dtype=np.float64)
    return (x - x.mean()) * (scale / x.std())


def _neighbour_contrast(f: np.ndarray, inside: np.ndarray) -> float:
    """Mean over the four directions of the mean squared difference of in-ROI neighbour pairs."""
    ny, nx = f.shape[-2:]
    per_direction = []
    for dy, dx in _DIRECTIONS:
        a = (slice(None), slice(0, ny - dy), slice(max(-dx, 0), nx - max(dx, 0)))
        b = (slice(None), slice(dy, ny), slice(max(dx, 0), nx - max(-dx, 0)))
        both = inside[a] & inside[b]
        if both.any():
            per_direction.append(float(np.mean((f[a][both] - f[b][both]) ** 2)))
    return float(np.mean(per_direction)) if per_direction else float("nan")


def image_statistics(image: np.ndarray, mask: np.ndarray) -> pd.DataFrame:
    """The statistics of every ROI of ``mask`` (labels in increasing order) on ``image``.

    ``image`` is the stored magnitude (rounded to integers as the study files hold it);
    rows are in label order, as the study's released files list their ROIs.
    """
    f = normalise(np.rint(image))
    rows = []
    for label in np.unique(mask[mask > 0]):
        inside = mask == label
        values = f[inside]
        rows.append({"label": int(label), "mean": float(values.mean()), "variance": float(values.var()),
                     "contrast": _neighbour_contrast(f, inside)})
    return pd.DataFrame(rows)


def released_statistics(features: pd.DataFrame, bin_width: float) -> pd.DataFrame:
    """The statistics of every ROI (row) of a released feature table extracted with ``bin_width``."""
    return pd.DataFrame({
        "mean": features[RELEASED_FEATURES["mean"]].to_numpy(float),
        "variance": features[RELEASED_FEATURES["variance"]].to_numpy(float),
        "contrast": features[RELEASED_FEATURES["contrast"]].to_numpy(float) * bin_width**2,
    })


def lag1_correlation(stats: pd.DataFrame) -> np.ndarray:
    """``1 - contrast / (2 variance)`` of each row."""
    return 1.0 - stats["contrast"].to_numpy(float) / (2.0 * stats["variance"].to_numpy(float))
