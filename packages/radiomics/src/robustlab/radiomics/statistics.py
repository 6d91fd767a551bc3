"""The agreement statistics a comparison may name: a small registry (name -> statistic).

A statistic takes the ratings of one comparison, ``(n_rois, k_acquisitions, n_features)``,
its options and ``alpha``, and returns its form's name and, per feature, the value and the
``1 - alpha`` interval, in one vectorized call. ``icc`` and ``ccc`` are built in; a user adds
one in a single file::

    from robustlab.radiomics.statistics import STATISTICS

    @STATISTICS.register("pearson", n_raters=(2, 2), min_rois=3)
    def pearson(ratings, options, alpha):
        ...
        return "Pearson r", value, ci_low, ci_high

and names it in a study file (``statistic: pearson``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from robustlab.common.registry import Entry, Registry, deprecated_alias
from robustlab.common.stats import ccc, icc

StatisticFn = Callable[[np.ndarray, Mapping[str, str], float],
                       tuple[str, np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Statistic(Entry[StatisticFn]):
    """A registered statistic.

    Attributes:
        name: the name a study file uses (``statistic: <name>``).
        fn: ``fn(ratings, options, alpha) -> (form, value, ci_low, ci_high)``.
        n_raters: the smallest and largest number of compared acquisitions (None: no limit).
        min_rois: fewer common ROIs give an undefined statistic.
        options: option key -> allowed values, with the default first.
    """

    n_raters: tuple[int, int | None] = (2, None)
    min_rois: int = 2
    options: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", dict(self.options or {}))

    def defaults(self) -> dict[str, str]:
        """The default of every option."""
        return {key: choices[0] for key, choices in self.options.items()}


#: Every statistic; plugins add theirs through the entry-point group ``robustlab.statistics``
#: or the config's ``plugins``.
STATISTICS: Registry[Statistic] = Registry("statistic", Statistic, group="robustlab.statistics")

register_statistic = deprecated_alias("register_statistic", STATISTICS.register, "STATISTICS.register")
get_statistic = deprecated_alias("get_statistic", STATISTICS.get, "STATISTICS.get")
list_statistics = deprecated_alias("list_statistics", STATISTICS.list, "STATISTICS.list")


@STATISTICS.register("icc", min_rois=3, options={"model": ("twoway", "oneway"),
                                                "type": ("agreement", "consistency"),
                                                "unit": ("single", "average")})
def _icc(ratings: np.ndarray, options: Mapping[str, str], alpha: float) -> tuple[
        str, np.ndarray, np.ndarray, np.ndarray]:
    """Intraclass correlation (McGraw and Wong 1996), default ICC(A,1); see
    :func:`robustlab.common.stats.icc` for the formulas.

    At least 3 ROIs, as for the CCC: with 2 the between-ROI mean square ``MSR`` rests on one
    degree of freedom, and ICC(A,1) of two acquisitions, ``(MSR - MSE) / (MSR + MSC)``, is
    unbounded below (its denominator may be near 0 while ``MSE`` is not); fewer ROIs give an
    undefined ICC (NaN) and a warning before extraction.
    """
    res = icc(ratings, alpha=alpha, nan_policy="propagate", **options)
    return res.form, res.value, res.ci_low, res.ci_high


@STATISTICS.register("ccc", n_raters=(2, 2), min_rois=3)
def _ccc(ratings: np.ndarray, options: Mapping[str, str], alpha: float) -> tuple[
        str, np.ndarray, np.ndarray, np.ndarray]:
    """Lin's (1989) concordance correlation coefficient of two acquisitions; see
    :func:`robustlab.common.stats.ccc`."""
    res = ccc(ratings[:, 0, :], ratings[:, 1, :], alpha=alpha, nan_policy="propagate")
    return "CCC", res.value, res.ci_low, res.ci_high
