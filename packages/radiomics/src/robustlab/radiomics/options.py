"""The options of a radiomics study's analysis: :class:`Options`, checked wherever they come
from (the command line's config, or keywords of :func:`~robustlab.radiomics.pipeline.run_study`).

What they produce is a :class:`~robustlab.radiomics.result.StudyResult`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from robustlab.common.config import check_fields, check_value
from robustlab.common.constraints import (
    Increasing,
    Interval,
    NonEmpty,
    NonNegativeFloat,
    OneOf,
    PositiveInt,
    Unique,
)
from robustlab.common.errors import UnknownNameError
from robustlab.common.registry import unknown_name_message

log = logging.getLogger(__name__)
#: How ``wcv_by_size.csv`` may group the ROIs: by size, or by ROI order as the phantom study.
WCV_GROUPS = ("size", "paper", "insert")


class UnknownOptionError(UnknownNameError, TypeError):
    """A keyword of :func:`~robustlab.radiomics.pipeline.run_study` that is not an option."""


#: The excellence cut of ICC/CCC: a statistic above it is excellent. In (0, 1): at 0 or below,
#: features that do not agree at all (an ICC or CCC of 0) would be called excellent.
Threshold = Annotated[float, Interval(0, 1, closed="neither")]
#: The statistics' intervals have level ``1 - alpha``.
Alpha = Annotated[float, Interval(0, 1, closed="neither")]
#: The poor/moderate/good/excellent cut points, increasing in (0, 1).
Bands = Annotated[tuple[Alpha, Alpha, Alpha], Increasing()]
#: ``|Spearman rho|`` above which a feature carries shape information.
Rho = Annotated[float, Interval(0, 1, closed="right")]
#: Acquisition or comparison names: at least one, each once.
Names = Annotated[tuple[str, ...], NonEmpty(), Unique()]
#: How ``wcv_by_size.csv`` groups the ROIs (:func:`robustlab.radiomics.breakdowns.roi_groups`).
WcvGroups = Annotated[str, OneOf(*WCV_GROUPS)]
#: The deprecated ``size_groups``: a count of size groups, or a grouping by ROI order.
SizeGroups = Annotated[int, Interval(1, None)] | Annotated[str, OneOf(*WCV_GROUPS[1:])]


@dataclass(frozen=True)
class Options:
    """Settings of the analysis (each one a keyword of :func:`~robustlab.radiomics.pipeline.run_study`),
    each checked against its declared constraint when made.

    Attributes:
        threshold: the excellence cut; None keeps the study's (default 0.9).
        alpha: the statistics' intervals have level ``1 - alpha``.
        bands: the cut points of the poor/moderate/good/excellent bands (Koo and Li 2016).
        geometry_tolerance: largest accepted image/mask difference in spacing, origin (mm) and
            direction, checked before extraction; pyradiomics' own check (SimpleITK's, under
            the parameter file's ``geometryTolerance``) runs then too, so both agree.
        shape_rho: the ``|rho|`` above which a feature is shape-dependent.
        texture: run the voxel-shuffling texture test (image acquisitions only).
        texture_acquisitions: the acquisitions shuffled; None: for each extraction setting
            (parameter file and overrides), the first compared image acquisition.
        texture_rtol, texture_atol: "does not change": ``|shuffled - original| <= atol +
            rtol * |original|`` on every ROI.
        select_on: the comparisons a robust feature must be excellent in; None: every
            comparison (the combined row of a pairwise one).
        drop_shape: leave the shape features out of the robust list.
        wcv_groups: the ROI groups of ``wcv_by_size.csv``: ``"size"`` (``wcv_group_count``
            groups of equal count, by voxels), ``"paper"`` (the study's four fixed groups by
            ROI order, size1 the largest) or ``"insert"`` (groups of four ROIs by insert), see
            :func:`robustlab.radiomics.breakdowns.roi_groups`.
        wcv_group_count: the number of size groups of ``wcv_groups="size"``.
        report: write figures, ``report.md`` and ``report.html``.
    """

    threshold: Threshold | None = None
    alpha: Alpha = 0.05
    bands: Bands = (0.5, 0.75, 0.9)
    geometry_tolerance: NonNegativeFloat = 1e-4
    shape_rho: Rho = 0.8
    texture: bool = True
    texture_acquisitions: Names | None = None
    texture_rtol: NonNegativeFloat = 1e-6
    texture_atol: NonNegativeFloat = 1e-9
    select_on: Names | None = None
    drop_shape: bool = True
    wcv_groups: WcvGroups = "size"
    wcv_group_count: PositiveInt = 3
    report: bool = True

    def __post_init__(self) -> None:
        """The declared constraints, wherever a value comes from."""
        check_fields(self)

    @classmethod
    def from_kwargs(cls, options: Mapping[str, Any]) -> Options:
        """Build from keywords; an unknown keyword raises naming it and the close ones."""
        clean = dict(options)
        if "size_groups" in clean:
            clean.update(size_groups_alias(clean.pop("size_groups")))
        known = [f.name for f in dataclasses.fields(cls)]
        for key in clean:
            if key not in known:
                raise UnknownOptionError(unknown_name_message("option", key, known))
        for key in ("bands", "texture_acquisitions", "select_on"):
            if isinstance(clean.get(key), list):
                clean[key] = tuple(clean[key])
        return cls(**clean)


def size_groups_alias(value: Any) -> dict[str, Any]:
    """The keys that replace ``size_groups`` (deprecated: a count of size groups or a grouping
    name in one key), with a one-line warning saying what to write instead.

    Raises:
        ConfigError: a value the old key did not take either.
    """
    check_value(value, SizeGroups, "size_groups")
    new = {"wcv_groups": value} if isinstance(value, str) else {"wcv_groups": "size", "wcv_group_count": value}
    log.warning("size_groups is deprecated; write %s instead", " ".join(f"{k}={v}" for k, v in new.items()))
    return new


