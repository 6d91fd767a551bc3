"""What a study is: its acquisitions, its comparisons, and what validation learnt of its files.

Plain frozen dataclasses, no reading and no checking here: :mod:`.load` builds a :class:`Study`
from a study file, :mod:`.validate` a :class:`ValidatedStudy` from its files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustlab.radiomics.extraction.params import Extraction

if TYPE_CHECKING:  # pandas is imported where used
    import pandas as pd


@dataclass(frozen=True)
class RoiMask:
    """One ROI given by its own mask file: the voxels of ``label`` (None: the mask's one
    non-zero value, a binary mask)."""

    path: Path
    label: int | None = None


@dataclass(frozen=True)
class Acquisition:
    """One acquisition of a study.

    Attributes:
        id: its key in the study file.
        image, mask: the image and its label map (absolute), or None for a feature CSV.
        rois: instead of ``mask``, ROI name -> its own mask file (ROIs may overlap).
        features: the pyradiomics feature CSV (absolute), or None for an image.
        labels: the labels to extract (None: every non-zero label of the mask).
        extraction: the absolute path of its pyradiomics parameter file (None for a CSV
            acquisition that does not name one).
        overrides: pyradiomics ``setting:`` keys replacing the file's, as canonical JSON.
        family: the extraction family its comparisons and robust list belong to (``2D``,
            ``3D``, or the study's own name); see :func:`family_of`.
        meta: every other key (scanner, field_strength, te, tr, mode, ...).
    """

    id: str
    image: Path | None = None
    mask: Path | None = None
    features: Path | None = None
    labels: tuple[int, ...] | None = None
    extraction: Path | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    rois: Mapping[str, RoiMask] | None = None
    overrides: str = ""
    family: str = "all"

    @property
    def is_image(self) -> bool:
        """True when the features come from extraction, False for a feature CSV."""
        return self.features is None

    @property
    def image_path(self) -> Path:
        """:attr:`image`, of an image acquisition (a feature CSV has none: ``ValueError``)."""
        if self.image is None:
            raise ValueError(f"acquisition {self.id!r} has no image (a feature CSV)")
        return self.image

    @property
    def features_path(self) -> Path:
        """:attr:`features`, of a feature-CSV acquisition (an image has none: ``ValueError``)."""
        if self.features is None:
            raise ValueError(f"acquisition {self.id!r} has no feature CSV (an image)")
        return self.features

    @property
    def settings(self) -> Extraction | None:
        """The effective extraction settings (None for a CSV acquisition naming none)."""
        return None if self.extraction is None else Extraction(self.extraction, self.overrides)

    def mask_of(self, roi: str) -> tuple[Path, int | None]:
        """The mask file of ``roi`` and its label there (None: found at validation)."""
        if self.rois is not None:
            return self.rois[roi].path, self.rois[roi].label
        if self.mask is None:
            raise ValueError(f"acquisition {self.id!r} has no mask (a feature CSV)")
        return self.mask, int(roi)

    @property
    def mask_files(self) -> tuple[Path, ...]:
        """Every mask file the acquisition reads."""
        if self.rois is not None:
            return tuple(dict.fromkeys(r.path for r in self.rois.values()))
        return () if self.mask is None else (self.mask,)


@dataclass(frozen=True)
class Comparison:
    """One comparison: a statistic between acquisitions, or between each of several pairs.

    Attributes:
        name: its name in the outputs.
        statistic: a registered statistic (:mod:`robustlab.radiomics.statistics`): ``"icc"``
            or ``"ccc"`` built in.
        acquisitions: the compared acquisitions (the raters), for a single comparison.
        pairs: for a pairwise comparison, the pairs; each gives ``<name>/<a>_vs_<b>``.
        combine: how pairs combine into the row ``<name>`` (``"intersection"``: excellent in
            every pair).
        options: the statistic's options, defaults filled in (for ``icc``: ``model``/``type``/
            ``unit`` of :func:`robustlab.common.stats.icc`).
        group: an optional label kept in the summary (e.g. ``repeat_fixed``).
        family: the extraction family of its acquisitions (see :attr:`Acquisition.family`).
    """

    name: str
    statistic: str
    acquisitions: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()
    combine: str = "intersection"
    options: Mapping[str, str] = field(default_factory=dict)
    group: str | None = None
    family: str = "all"

    @property
    def members(self) -> tuple[str, ...]:
        """Every acquisition the comparison reads, in order of first appearance."""
        seen = list(self.acquisitions)
        for a, b in self.pairs:
            seen += [a, b]
        return tuple(dict.fromkeys(seen))

    def units(self) -> list[tuple[str, tuple[str, ...]]]:
        """The computed units: ``(result name, acquisitions)``, one per pair or one in all."""
        if self.pairs:
            return [(f"{self.name}/{a}_vs_{b}", (a, b)) for a, b in self.pairs]
        return [(self.name, self.acquisitions)]


@dataclass(frozen=True)
class Study:
    """A loaded study file (paths resolved, not yet validated against the files)."""

    name: str
    path: Path
    threshold: float
    roi_column: str | None
    extraction: Path | None
    acquisitions: Mapping[str, Acquisition]
    comparisons: tuple[Comparison, ...]
    published: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def families(self) -> list[str]:
        """The extraction families of the compared acquisitions, in order of first use."""
        return list(dict.fromkeys(c.family for c in self.comparisons))


@dataclass(frozen=True)
class ValidatedStudy:
    """A study whose files were all read and checked.

    Attributes:
        study: the loaded study.
        rois: acquisition id -> its ROI ids in order (labels as strings, or CSV row ids).
        tables: for feature-CSV acquisitions, id -> the wide table (index ROI, columns features).
        hashes: file path -> content hash, for every image, mask and feature CSV.
        voxels: image acquisition id -> ROI id -> its number of voxels.
        labels: image acquisition id -> ROI id -> its label in its mask file.
        extractors: the pyradiomics extractor built of each extraction setting while checking
            it (extraction takes them rather than build them again).
        warnings: what validation found suspicious without refusing it (e.g. byte-identical
            acquisitions compared), for the report.
    """

    study: Study
    rois: Mapping[str, tuple[str, ...]]
    tables: Mapping[str, pd.DataFrame]
    hashes: Mapping[Path, str]
    voxels: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    labels: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    extractors: Mapping[Extraction, Any] = field(default_factory=dict, compare=False, repr=False)
    warnings: tuple[str, ...] = ()
