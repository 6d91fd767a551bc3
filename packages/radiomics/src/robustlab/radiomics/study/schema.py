"""What a study file and a planner's design may say: each key with its declared constraint.

The keys are dataclasses whose fields declare their constraints
(:mod:`robustlab.common.constraints`); :func:`bind` checks a file's mapping against them with
the one binder (:func:`robustlab.common.config.from_dict`) and raises the one-line
:class:`~robustlab.radiomics.errors.StudyError` naming the file and the key path
(``study.yaml: acquisitions.a.labels: must be without repeated items; got [1, 2, 2] (2 more
than once)``). What one key says of another (an acquisition a comparison names exists, an
image has its mask, a statistic's number of acquisitions) is checked by the loader
(:mod:`.load`) and the planner; the settings of ``extraction`` by pyradiomics' own schema
(:func:`robustlab.radiomics.extraction.params.check_extraction`), the simulated protocol's keys
by the phantom.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from robustlab.common.config import check_value, from_dict
from robustlab.common.constraints import (
    Increasing,
    Interval,
    NonEmpty,
    OneOf,
    PositiveInt,
    Registered,
    Unique,
)
from robustlab.common.errors import ConfigError
from robustlab.radiomics.errors import StudyError
from robustlab.radiomics.options import Threshold
from robustlab.radiomics.statistics import STATISTICS

T = TypeVar("T")

#: How the pairs of a pairwise comparison combine into its row.
COMBINE = ("intersection",)
#: The keys of an acquisition that are not its metadata.
ACQUISITION_KEYS = ("image", "mask", "rois", "features", "labels", "extraction", "family")
#: A name or a path, as written (not empty).
Text = Annotated[str, NonEmpty()]
#: An acquisition id: a key of ``acquisitions`` (YAML reads ``1:`` as a number).
AcquisitionId = str | int
#: A share of features in per cent.
Percent = Annotated[float, Interval(0, 100)]
#: ``published``: a comparison group's ``[low %, high %]``.
PublishedRange = Annotated[tuple[Percent, Percent], Increasing(strict=False)]
#: The labels of a mask (or the rows of a feature CSV) to use, each once: a label listed twice
#: would count its ROI twice in every comparison.
Labels = Annotated[list[PositiveInt], NonEmpty(), Unique()]
#: ``extraction``: a parameter file (bundled name or path) or pyradiomics ``setting:`` keys.
ExtractionValue = Text | dict[str, Any]
#: A statistic a comparison may name (built in or registered by a plugin).
StatisticName = Annotated[str, Registered(STATISTICS)]


@dataclass
class RoiFile:
    """A ROI of ``rois:`` given as ``{file: ..., label: N}``: label ``N`` of a label map."""

    file: Text
    label: PositiveInt | None = None


@dataclass
class AcquisitionKeys:
    """The keys of an acquisition the loader reads (every other key is kept as its metadata):
    an image with its ``mask`` (a label map) or its ``rois`` (a mask file per ROI), or the
    pyradiomics feature CSV ``features``."""

    image: Text | None = None
    mask: Text | None = None
    rois: Annotated[dict[str, Text | RoiFile], NonEmpty()] | None = None
    features: Text | None = None
    labels: Labels | None = None
    extraction: ExtractionValue | None = None
    family: Text | None = None


@dataclass
class ScannerKeys:
    """``scanners.<name>``: the extraction settings its acquisitions inherit."""

    extraction: ExtractionValue | None = None
    description: str | None = None


@dataclass
class ComparisonKeys:
    """A comparison, but its statistic's options (``model``, ``type``, ``unit`` of ``icc``),
    which :func:`bind_comparison` checks against the statistic's choices."""

    name: Text | int
    statistic: StatisticName
    acquisitions: Annotated[list[AcquisitionId], NonEmpty()] | None = None
    pairs: Annotated[str, OneOf("all")] | Annotated[
        list[tuple[AcquisitionId, AcquisitionId]], NonEmpty()] | None = None
    combine: Annotated[str, OneOf(*COMBINE)] = "intersection"
    group: Text | int | None = None
    description: str | None = None


@dataclass
class StudyKeys:
    """A study file's top level (see docs/how-to/multicentre-study.md)."""

    acquisitions: Annotated[dict[str, dict[str, Any]], NonEmpty()]
    comparisons: Annotated[list[dict[str, Any]], NonEmpty()]
    name: Text | int | None = None
    threshold: Threshold = 0.9
    roi_column: Text | None = None
    extraction: ExtractionValue | None = None
    scanners: dict[str, ScannerKeys] | None = None
    published: dict[str, PublishedRange] | None = None
    description: str | None = None


@dataclass
class DesignKeys:
    """A planner's design (:mod:`robustlab.radiomics.planner`): the protocol format, the keys a
    designer chooses. ``scanners``: a bundled scanner, ``{base: <bundled>, ...overrides}`` or a
    path to a scanner file; the content of each acquisition and of the protocol keys below
    ``published`` is the phantom's to check (:func:`robustlab.radiomics.phantom.plan_study`)."""

    scanners: Annotated[dict[str, Text | dict[str, Any]], NonEmpty()]
    acquisitions: Annotated[dict[str, dict[str, Any]], NonEmpty()]
    comparisons: Annotated[list[dict[str, Any]], NonEmpty()]
    name: Text | int | None = None
    phantom: Text = "pelvic"
    published: dict[str, PublishedRange] | None = None
    threshold: Threshold | None = None
    poses: dict[str, Any] | None = None
    scale: Any = None
    extraction: Any = None
    extraction_3d: Any = None
    roi: Any = None
    noise: Any = None
    repositioning: Any = None
    acquisition_defaults: Any = None


def bind(cls: type[T], data: Any, file: str, where: str = "") -> T:
    """``data`` bound to the dataclass ``cls`` (:func:`~robustlab.common.config.from_dict`).

    Args:
        file: how messages name the file (``study.yaml``, ``design <path>``).
        where: the key path of ``data`` in the file (``acquisitions.a``; ``""``: the top).

    Raises:
        StudyError: ``<file>: <key path>: <what was expected>; got <value>``, one line.
    """
    if not isinstance(data, Mapping):
        raise StudyError(f"{file}: {where or 'the file'} must be a mapping of keys; got {data!r}")
    try:
        return from_dict(cls, data, where)
    except ConfigError as exc:
        raise StudyError(f"{file}: {exc}".replace(": config: ", ": ")) from None


def bind_acquisition(spec: Mapping[str, Any], file: str, aid: str) -> tuple[
        AcquisitionKeys, dict[str, Any]]:
    """An acquisition's keys (a single label may be written without a list) and its metadata
    (every other key)."""
    known = {k: v for k, v in spec.items() if k in ACQUISITION_KEYS}
    if isinstance(known.get("labels"), int) and not isinstance(known["labels"], bool):
        known["labels"] = [known["labels"]]
    meta = {str(k): v for k, v in spec.items() if k not in ACQUISITION_KEYS}
    return bind(AcquisitionKeys, known, file, f"acquisitions.{aid}"), meta


def bind_comparison(spec: Any, file: str, i: int) -> tuple[ComparisonKeys, dict[str, str], str]:
    """The ``i``-th comparison (0-based): its keys, its statistic's options (defaults filled in,
    each one of the statistic's choices) and its key path (``comparisons[0] (name)``). A
    statistic is named in any case (``ICC``)."""
    name = spec.get("name") if isinstance(spec, Mapping) else None
    where = f"comparisons[{i}]" + (f" ({name})" if isinstance(name, (str, int)) else "")
    if isinstance(spec, Mapping) and isinstance(spec.get("statistic"), str):
        spec = {**spec, "statistic": spec["statistic"].lower()}
    named = spec.get("statistic") if isinstance(spec, Mapping) else None
    statistic = STATISTICS.get(named) if isinstance(named, str) and named in STATISTICS else None
    choices = statistic.options if statistic is not None else {}
    keys = bind(ComparisonKeys, {k: v for k, v in spec.items() if k not in choices}
                if isinstance(spec, Mapping) else spec, file, where)
    options = statistic.defaults() if statistic is not None else {}
    for key, allowed in choices.items():
        if key in spec:
            try:
                options[key] = check_value(spec[key], Annotated[str, OneOf(*allowed)],
                                           f"{where}.{key}")
            except ConfigError as exc:
                raise StudyError(f"{file}: {exc}") from None
    return keys, options, where
