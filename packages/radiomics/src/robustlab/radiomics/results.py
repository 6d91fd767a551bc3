"""The results of a radiomics study and the options that produced them (no computing here).

:func:`robustlab.radiomics.study_analysis.analyse` computes a :class:`StudyResult` from the extracted
features; :func:`robustlab.radiomics.study_analysis.write_outputs` writes its tables
(:data:`OUTPUT_TABLES`) and the report; :mod:`robustlab.radiomics.analysis_cache` stores and
restores it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustlab.common.errors import ConfigError, UnknownNameError
from robustlab.common.registry import unknown_name_message

if TYPE_CHECKING:  # the command line binds Options without importing pandas
    import pandas as pd

#: The tables a study writes, in the order written: file stem, attribute of
#: :class:`StudyResult` and formats. ``texture_test`` is written when the test ran.
OUTPUT_TABLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("features", "features", ("parquet",)),
    ("features_wide", "features_wide", ("csv",)),
    ("per_feature", "per_feature", ("csv", "parquet")),
    ("summary", "summary", ("csv",)),
    ("robust_features", "robust", ("csv",)),
    ("selection", "selection", ("csv",)),
    ("shape_dependence", "shape", ("csv",)),
    ("texture_test", "texture", ("csv",)),
    ("failures", "failures", ("csv",)),
    ("wcv_by_size", "wcv_by_size", ("csv",)),
    ("band_counts", "band_counts", ("csv",)),
)


class UnknownOptionError(UnknownNameError, TypeError):
    """A keyword of :func:`~robustlab.radiomics.pipeline.run_study` that is not an option."""


@dataclass(frozen=True)
class Options:
    """Settings of the analysis (each one a keyword of :func:`~robustlab.radiomics.pipeline.run_study`).

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
        size_groups: the ROI groups of ``wcv_by_size.csv``: a number of size groups (equal
            counts, by voxels), or ``"paper"`` (the study's four fixed groups by ROI order,
            size1 the largest) or ``"insert"`` (groups of four ROIs by insert), see
            :func:`robustlab.radiomics.agreement.order_groups`.
        report: write figures, ``report.md`` and ``report.html``.
    """

    threshold: float | None = None
    alpha: float = 0.05
    bands: tuple[float, float, float] = (0.5, 0.75, 0.9)
    geometry_tolerance: float = 1e-4
    shape_rho: float = 0.8
    texture: bool = True
    texture_acquisitions: tuple[str, ...] | None = None
    texture_rtol: float = 1e-6
    texture_atol: float = 1e-9
    select_on: tuple[str, ...] | None = None
    drop_shape: bool = True
    size_groups: int | str = 3
    report: bool = True

    def __post_init__(self) -> None:
        """The same range checks as the study file's, wherever a value comes from."""
        def number(key: str, low: float, high: float, closed: str = "()") -> None:
            value = getattr(self, key)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
                (low <= value if closed[0] == "[" else low < value)
                and (value <= high if closed[1] == "]" else value < high))
            if not ok:
                raise ConfigError(f"{key}: must be a number in {closed[0]}{low}, {high}{closed[1]}; "
                                  f"got {value!r}")

        if self.threshold is not None:
            number("threshold", -1, 1)
        number("alpha", 0, 1)
        number("shape_rho", 0, 1, "(]")
        for key in ("geometry_tolerance", "texture_rtol", "texture_atol"):
            number(key, 0, float("inf"), "[)")
        groups = self.size_groups
        if not (groups in ("paper", "insert") or (isinstance(groups, int) and not isinstance(groups, bool)
                                                  and groups >= 1)):
            raise ConfigError(f"size_groups: must be a positive integer, 'paper' or 'insert'; got {groups!r}")
        bands = tuple(self.bands)
        if len(bands) != 3 or not all(isinstance(b, (int, float)) for b in bands) \
                or not -1 < bands[0] < bands[1] < bands[2] < 1:
            raise ConfigError(f"bands: must be three increasing numbers in (-1, 1); got {list(bands)}")

    @classmethod
    def from_kwargs(cls, options: Mapping[str, Any]) -> Options:
        """Build from keywords; an unknown keyword raises naming it and the close ones."""
        known = [f.name for f in dataclasses.fields(cls)]
        for key in options:
            if key not in known:
                raise UnknownOptionError(unknown_name_message("option", key, known))
        clean = dict(options)
        for key in ("bands", "texture_acquisitions", "select_on"):
            if clean.get(key) is not None:
                clean[key] = tuple(clean[key])
        return cls(**clean)


@dataclass
class StudyResult:
    """What :func:`~robustlab.radiomics.pipeline.run_study` produced (also written under ``out_dir``).

    Attributes:
        out_dir: the output folder.
        complete: False for a shard run whose study is not yet fully in the cache (then only
            ``counts`` and ``missing_shards`` are set).
        summary, per_feature, robust, selection, features, failures, shape, texture,
        wcv_by_size, band_counts, features_wide: the output tables (:data:`OUTPUT_TABLES`; ``features_wide`` is not kept
            by the analysis cache).
        counts: extraction counts (``cached``, ``extracted``, ``failed``).
        missing_shards: the shards (``i`` of ``n``) with items not yet in the cache.
        outputs: the files of the analysis, relative to ``out_dir``.
        restored: True when the analysis was restored from the analysis cache.
    """

    out_dir: Path
    complete: bool = True
    summary: pd.DataFrame | None = None
    per_feature: pd.DataFrame | None = None
    robust: pd.DataFrame | None = None
    selection: pd.DataFrame | None = None
    features: pd.DataFrame | None = None
    failures: pd.DataFrame | None = None
    shape: pd.DataFrame | None = None
    texture: pd.DataFrame | None = None
    wcv_by_size: pd.DataFrame | None = None
    band_counts: pd.DataFrame | None = None
    features_wide: pd.DataFrame | None = None
    counts: dict[str, int] = field(default_factory=dict)
    missing_shards: list[int] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    restored: bool = False


