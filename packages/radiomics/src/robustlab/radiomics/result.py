"""The result of a radiomics study and the tables it writes (no computing here).

:func:`robustlab.radiomics.study_analysis.analyse` computes a :class:`StudyResult` from the extracted
features; :func:`robustlab.radiomics.study_analysis.write_outputs` writes its tables
(:data:`OUTPUT_TABLES`) and the report; :mod:`robustlab.radiomics.analysis_cache` stores and
restores it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # pandas is imported where the result is computed
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
        warnings: what the study's validation found suspicious (shown in the report).
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
    warnings: list[str] = field(default_factory=list)

    def table(self, name: TableName) -> pd.DataFrame:
        """The output table ``name`` (its attribute), which a complete run has.

        Raises:
            ValueError: the run did not produce it (a shard run before the study is complete).
        """
        table = getattr(self, name)
        if table is None:
            raise ValueError(f"{self.out_dir}: the study result has no {name} table"
                             + ("" if self.complete else " (a shard run: the study is not complete)"))
        return table


#: The attributes of :class:`StudyResult` that hold an output table.
TableName = Literal["summary", "per_feature", "robust", "selection", "features", "failures", "shape",
                    "texture", "wcv_by_size", "band_counts", "features_wide"]
