"""The study file: load it, resolve its paths, and validate everything before any extraction.

A study YAML names the acquisitions (image + label-map mask, or a pyradiomics feature CSV),
the pyradiomics parameter file, and the comparisons (ICC or CCC between acquisitions). See the
how-to page docs/how-to/multicentre-study.md for the format. Every error raised here names the study file,
the acquisition, the file, the ROI or the key at fault, and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from robustlab.common import safe_yaml
from robustlab.common.hashing import file_hash
from robustlab.common.resources import data_dir
from robustlab.radiomics.errors import StudyError
from robustlab.radiomics.extraction.params import (
    Extraction,
    ExtractionSpec,
    check_extraction,
    parse_extraction,
)

if TYPE_CHECKING:  # pandas is imported where used: extraction workers import this module
    import pandas as pd

COMBINE = ("intersection",)
IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
_ACQ_KEYS = {"image", "mask", "rois", "features", "labels", "extraction", "family"}
_STUDY_KEYS = {"name", "threshold", "roi_column", "extraction", "scanners", "acquisitions",
               "comparisons", "published", "description"}
_SCANNER_KEYS = {"extraction", "description"}
_CMP_KEYS = {"name", "statistic", "acquisitions", "pairs", "combine", "group", "description"}


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
    def settings(self) -> Extraction | None:
        """The effective extraction settings (None for a CSV acquisition naming none)."""
        return None if self.extraction is None else Extraction(self.extraction, self.overrides)

    def mask_of(self, roi: str) -> tuple[Path, int | None]:
        """The mask file of ``roi`` and its label there (None: found at validation)."""
        if self.rois is not None:
            return self.rois[roi].path, self.rois[roi].label
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


def extraction_dir() -> Path:
    """The folder of the bundled pyradiomics parameter files, ``conf/radiomics/extraction``."""
    return data_dir("radiomics", "extraction")


def study_dir() -> Path:
    """The folder of the bundled studies, ``conf/radiomics/studies``.

    Not ``conf/radiomics/study``: a folder of that name would make ``study`` a Hydra config
    group, and ``study=<path to a YAML>`` would no longer be accepted on the command line.
    """
    return data_dir("radiomics", "studies")


def list_extractions() -> list[str]:
    """Names of the bundled pyradiomics parameter files (e.g. ``paper2d``, ``paper3d``)."""
    return sorted(p.stem for p in extraction_dir().glob("*.yaml"))


def list_studies() -> list[str]:
    """Names of the bundled studies."""
    return sorted(p.stem for p in study_dir().glob("*.yaml"))


def _unknown(kind: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return f"unknown {kind} {name!r}{hint} (known: {', '.join(known) or 'none'})"


def resolve_extraction(value: str, base: Path, where: str) -> Path:
    """A bundled parameter-file name or a path (relative to ``base``) -> the file's path."""
    value = str(value)
    looks_like_path = any(s in value for s in "/\\") or value.endswith((".yaml", ".yml", ".json"))
    if looks_like_path:
        path = _resolve((base / value).expanduser(), where)
        if not path.is_file():
            raise StudyError(f"{where}: pyradiomics parameter file {value!r} not found (looked at {path})")
        try:  # pyradiomics' own reader keeps the last of two equal keys without a word
            safe_yaml.load(path)
        except (safe_yaml.DuplicateKeyError, safe_yaml.YAMLSyntaxError) as exc:
            raise StudyError(f"{where}: pyradiomics parameter file: {exc}") from None
        return path
    bundled = extraction_dir() / f"{value}.yaml"
    if not bundled.is_file():
        raise StudyError(f"{where}: " + _unknown("extraction", value, list_extractions()))
    return bundled


def _resolve(path: Path, where: str) -> Path:
    """``path`` made absolute with its links followed; a link loop is a one-line error."""
    try:
        return path.resolve()
    except (RuntimeError, OSError, ValueError) as exc:  # a link loop: RuntimeError before Python 3.13
        raise StudyError(f"{where}: cannot resolve the path {str(path)!r}: {exc}") from None


def resolve_study(study: str | Path) -> Path:
    """A bundled study name or a path to a study YAML -> the file's absolute path."""
    text = str(study)
    path = Path(text).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in text:
        if not path.is_file():
            raise StudyError(f"study file {text!r} not found (looked at {_resolve(path, 'study')})")
        return _resolve(path, "study")
    bundled = study_dir() / f"{text}.yaml"
    if not bundled.is_file():
        raise StudyError(_unknown("study", text, list_studies()))
    return bundled


def _check_keys(where: str, given: Mapping[str, Any], allowed: set[str]) -> None:
    for key in given:
        if key not in allowed:
            raise StudyError(f"{where}: " + _unknown("key", str(key), sorted(allowed)))


def load_study(study: str | Path) -> Study:
    """Read a study YAML (a path or a bundled name) and resolve its paths.

    Args:
        study: a path to a study YAML, or the name of one in ``conf/radiomics/studies/``.

    Returns:
        The :class:`Study`; nothing is read beyond the YAML itself (see :func:`validate_study`).

    Raises:
        StudyError: naming the file and the key when the YAML does not follow the format.
    """
    path = resolve_study(study)
    try:
        raw = safe_yaml.load(path)
    except (safe_yaml.DuplicateKeyError, safe_yaml.YAMLSyntaxError) as exc:
        raise StudyError(str(exc)) from None
    if not isinstance(raw, dict):
        raise StudyError(f"{path}: a study file is a mapping with 'acquisitions' and 'comparisons'")
    _check_keys(str(path), raw, _STUDY_KEYS)
    base = path.parent
    for key in ("acquisitions", "comparisons"):
        if not raw.get(key):
            raise StudyError(f"{path}: key {key!r} is missing or empty")
    if not isinstance(raw["acquisitions"], dict):
        raise StudyError(f"{path}: 'acquisitions' must map an id to its files")
    threshold = raw.get("threshold", 0.9)
    if not isinstance(threshold, (int, float)) or not -1 < float(threshold) < 1:
        raise StudyError(f"{path}: 'threshold' must be a number in (-1, 1); got {threshold!r}")
    default = _extraction_spec(raw.get("extraction"), base, f"{path}: key 'extraction'", ExtractionSpec())
    scanners = _load_scanners(path, raw.get("scanners"), base, default, raw["acquisitions"])
    acquisitions = {
        str(aid): _load_acquisition(path, str(aid), spec, base,
                                    scanners.get(str(spec.get("scanner")), default)
                                    if isinstance(spec, dict) else default)
        for aid, spec in raw["acquisitions"].items()
    }
    if any(a.is_image for a in acquisitions.values()):
        # a feature CSV beside images: its family from its column names (csv_family), unless given
        acquisitions = {aid: a if a.is_image or a.family != "all" or "family" in raw["acquisitions"][aid]
                        else dataclasses.replace(a, family=csv_family(a.features))
                        for aid, a in acquisitions.items()}
    if not isinstance(raw["comparisons"], list):
        raise StudyError(f"{path}: 'comparisons' must be a list")
    comparisons = tuple(
        _load_comparison(path, i, spec, acquisitions) for i, spec in enumerate(raw["comparisons"])
    )
    names = [c.name for c in comparisons]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise StudyError(f"{path}: comparison names must be unique; repeated: {', '.join(dupes)}")
    published = _load_published(path, raw.get("published"))
    roi_column = raw.get("roi_column")
    return Study(
        name=str(raw.get("name") or path.stem), path=path, threshold=float(threshold),
        roi_column=None if roi_column is None else str(roi_column),
        extraction=default.file, acquisitions=acquisitions, comparisons=comparisons,
        published=published,
    )


def _load_published(path: Path, raw: Any) -> dict[str, tuple[float, float]]:
    """``published``: comparison group -> ``[low %, high %]``, two finite numbers each."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise StudyError(f"{path}: 'published' must map a comparison group to [low %, high %]; got {raw!r}")
    out = {}
    for group, rng in raw.items():
        if not (isinstance(rng, (list, tuple)) and len(rng) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in rng)):
            raise StudyError(f"{path}: published.{group} must be [low %, high %]; got {rng!r}")
        out[str(group)] = (float(rng[0]), float(rng[1]))
    return out


def _extraction_spec(value: Any, base: Path, where: str, inherited: ExtractionSpec) -> ExtractionSpec:
    try:
        return parse_extraction(value, base, where, inherited, resolve_extraction)
    except ValueError as exc:
        raise StudyError(str(exc)) from None


def _load_scanners(path: Path, raw: Any, base: Path, default: ExtractionSpec,
                   acquisitions: Mapping[str, Any]) -> dict[str, ExtractionSpec]:
    """``scanners:``: scanner name -> the extraction its acquisitions inherit."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise StudyError(f"{path}: 'scanners' must map a scanner name to its settings "
                         "(e.g. {{s2: {{extraction: {{binWidth: 10}}}}}})")
    used = {str(spec.get("scanner")) for spec in acquisitions.values() if isinstance(spec, dict)}
    out = {}
    for name, spec in raw.items():
        where = f"{path}: scanners.{name}"
        if not isinstance(spec, dict):
            raise StudyError(f"{where}: expected a mapping with 'extraction'; got {spec!r}")
        _check_keys(where, spec, _SCANNER_KEYS)
        if str(name) not in used:
            raise StudyError(f"{where}: no acquisition has 'scanner: {name}' "
                             f"(scanners of the acquisitions: {', '.join(sorted(used - {'None'})) or 'none'})")
        out[str(name)] = _extraction_spec(spec.get("extraction"), base, f"{where}.extraction", default)
    return out


def _load_rois(where: str, raw: Any, base: Path) -> dict[str, RoiMask]:
    """``rois:``: ROI name -> a mask file (binary) or ``{file: ..., label: N}``."""
    if not isinstance(raw, dict) or not raw:
        raise StudyError(f"{where}: 'rois' must map each ROI name to its mask file; got {raw!r}")
    out = {}
    for name, spec in raw.items():
        if isinstance(spec, dict):
            unknown = set(spec) - {"file", "label"}
            label = spec.get("label")
            if "file" not in spec or unknown or not (
                    label is None or (isinstance(label, int) and not isinstance(label, bool) and label > 0)):
                raise StudyError(f"{where}: rois.{name} must be a mask file or {{file: ..., label: "
                                 f"<positive integer>}}; got {spec!r}")
            out[str(name)] = RoiMask(_resolve(base / str(spec["file"]), f"{where}: rois.{name}"), label)
        elif isinstance(spec, str):
            out[str(name)] = RoiMask(_resolve(base / spec, f"{where}: rois.{name}"))
        else:
            raise StudyError(f"{where}: rois.{name} must be a mask file; got {spec!r}")
    return out


def _load_acquisition(
    path: Path, aid: str, spec: Any, base: Path, inherited: ExtractionSpec
) -> Acquisition:
    where = f"{path}: acquisition {aid!r}"
    if not isinstance(spec, dict):
        raise StudyError(f"{where}: expected a mapping with image+mask or features; got {spec!r}")
    has_image = "image" in spec or "mask" in spec or "rois" in spec
    if has_image and "features" in spec:
        raise StudyError(f"{where}: give either an image (with mask or rois) or features, not both")
    if not has_image and "features" not in spec:
        raise StudyError(f"{where}: needs either image+mask, image+rois or features (a pyradiomics CSV)")
    if has_image and ("image" not in spec or ("mask" in spec) == ("rois" in spec)):
        missing = "image" if "image" not in spec else "mask' or 'rois"
        if "mask" in spec and "rois" in spec:
            raise StudyError(f"{where}: give either 'mask' (a label map) or 'rois' (one mask file "
                             "per ROI), not both")
        raise StudyError(f"{where}: key '{missing}' is missing (an image needs its mask)")
    meta = {k: v for k, v in spec.items() if k not in _ACQ_KEYS}
    labels = spec.get("labels")
    if labels is not None:
        if "rois" in spec:
            raise StudyError(f"{where}: 'labels' selects labels of 'mask'; with 'rois' give each "
                             "ROI's label as {file: ..., label: N}")
        if isinstance(labels, int):
            labels = [labels]
        if not isinstance(labels, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in labels):
            raise StudyError(f"{where}: 'labels' must be positive integers; got {labels!r}")
        labels = tuple(labels)
    extraction = _extraction_spec(spec.get("extraction"), base, f"{where}, key 'extraction'",
                                  inherited if has_image or "extraction" in spec else ExtractionSpec())
    settings = extraction.resolve()
    family = str(spec.get("family") or (settings.family if settings is not None else
                                        spec.get("mode") or "all"))
    common = {"labels": labels, "meta": meta, "family": family,
              "extraction": settings.file if settings else None,
              "overrides": settings.overrides if settings else ""}
    if has_image:
        if settings is None:
            raise StudyError(f"{where}: no pyradiomics parameter file; set 'extraction' in the "
                             "study, the scanner group or the acquisition")
        rois = _load_rois(where, spec["rois"], base) if "rois" in spec else None
        mask = None if rois is not None else _resolve(base / str(spec["mask"]), f"{where}, key 'mask'")
        image = _resolve(base / str(spec["image"]), f"{where}, key 'image'")
        return Acquisition(aid, image=image, mask=mask, rois=rois, **common)
    return Acquisition(aid, features=_resolve(base / str(spec["features"]), f"{where}, key 'features'"),
                       **common)


def csv_family(path: Path) -> str:
    """The extraction family of a pyradiomics feature CSV, from its column names.

    pyradiomics names a wavelet decomposition by one letter per filtered axis: ``wavelet-LH``
    in a forced-2D extraction (``force2D``, family ``2D``), ``wavelet-LLH`` in 3D (``3D``);
    the 2D shape class is ``shape2D``. ``"all"`` when the names say neither (or the file
    cannot be read here: validation then names the problem).
    """
    import csv
    import re

    try:
        with open(path, encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError):
        return "all"
    letters = {len(m.group(1)) for c in header if (m := re.match(r"wavelet-([LH]+)_", c))}
    if letters == {2} or (not letters and any("_shape2D_" in c for c in header)):
        return "2D"
    return "3D" if letters == {3} else "all"


def _load_comparison(path: Path, i: int, spec: Any, acqs: Mapping[str, Acquisition]) -> Comparison:
    if not isinstance(spec, dict) or "name" not in spec:
        raise StudyError(f"{path}: comparison #{i + 1} must be a mapping with a 'name'")
    from robustlab.radiomics.statistics import get_statistic

    name = str(spec["name"])
    where = f"{path}: comparison {name!r}"
    statistic = str(spec.get("statistic", "")).lower()
    try:
        stat = get_statistic(statistic)
    except KeyError as exc:
        raise StudyError(f"{where}: key 'statistic': {exc.args[0]}") from None
    _check_keys(where, spec, _CMP_KEYS | set(stat.options))
    has_acq, has_pairs = "acquisitions" in spec, "pairs" in spec
    all_pairs = spec.get("pairs") == "all"
    if has_acq == has_pairs and not all_pairs:
        raise StudyError(f"{where}: give exactly one of 'acquisitions' or 'pairs' "
                         "('pairs: all' with 'acquisitions': every pair of them)")
    acquisitions, pairs = _comparison_members(where, spec, stat, all_pairs, has_pairs)
    for unit in [acquisitions, *pairs]:
        _check_distinct(where, unit)
    members = list(acquisitions) or [m for p in pairs for m in p]
    for m in members:
        if m not in acqs:
            raise StudyError(f"{where}: " + _unknown("acquisition", m, sorted(acqs)))
    combine = str(spec.get("combine", "intersection"))
    if combine not in COMBINE:
        raise StudyError(f"{where}: key 'combine' must be one of {', '.join(COMBINE)}; got {combine!r}")
    options = stat.defaults()
    for key, choices in stat.options.items():
        if key in spec:
            if spec[key] not in choices:
                raise StudyError(f"{where}: key {key!r} must be one of {', '.join(choices)}; "
                                 f"got {spec[key]!r}")
            options[key] = str(spec[key])
    family = _check_members(where, [acqs[m] for m in dict.fromkeys(members)])
    return Comparison(name=name, statistic=statistic, acquisitions=acquisitions, pairs=pairs,
                      combine=combine, options=options,
                      group=None if spec.get("group") is None else str(spec["group"]),
                      family=family)


def _comparison_members(where: str, spec: Mapping[str, Any], stat: Any, all_pairs: bool,
                        has_pairs: bool) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """A comparison's ``(acquisitions, pairs)``: one of them given, the other empty."""
    if all_pairs:
        listed = list(_id_list(where, "acquisitions", spec.get("acquisitions") or []))
        _check_distinct(where, listed)
        if len(listed) < 2:
            raise StudyError(f"{where}: 'pairs: all' needs 'acquisitions' listing at least two")
        return (), tuple(itertools.combinations(dict.fromkeys(listed), 2))
    if has_pairs:
        raw_pairs = spec["pairs"]
        if not isinstance(raw_pairs, list) or not raw_pairs or not all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in raw_pairs
        ):
            raise StudyError(f"{where}: 'pairs' must be a list of [a, b] pairs; got {raw_pairs!r}")
        pairs = [_id_list(where, "pairs", p) for p in raw_pairs]
        return (), tuple((a, b) for a, b in pairs)
    acquisitions = _id_list(where, "acquisitions", spec["acquisitions"])
    low, high = stat.n_raters
    if len(acquisitions) < low or (high is not None and len(acquisitions) > high):
        need = f"exactly {low}" if low == high else (
            f"at least {low}" if high is None else f"{low} to {high}")
        raise StudyError(f"{where}: {stat.name} needs {need} acquisitions; got {len(acquisitions)}")
    return acquisitions, ()


def _id_list(where: str, key: str, value: Any) -> tuple[str, ...]:
    """A list of acquisition ids (text or integers) as text; anything else raises (a string
    would otherwise be read letter by letter, a mapping by its keys)."""
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise StudyError(f"{where}: {key!r} must be a list of acquisition ids; got {value!r}")
    return tuple(str(v) for v in value)


def _check_distinct(where: str, unit: Sequence[str]) -> None:
    """Raise when an acquisition appears twice among those compared (its ICC would be 1)."""
    repeated = [a for i, a in enumerate(unit) if a in unit[:i]]
    if repeated:
        raise StudyError(f"{where}: compares acquisition {repeated[0]!r} with itself "
                         f"({', '.join(unit)}); a comparison needs distinct acquisitions")


def _check_members(where: str, members: list[Acquisition]) -> str:
    """The one family of a comparison's acquisitions; raises when their settings give different
    feature names (other image types, feature classes or ``force2D``) or families differ."""
    families = {a.family for a in members}
    if len(families) > 1:
        detail = ", ".join(f"{a.id}: {a.family}" for a in members)
        raise StudyError(f"{where}: compares acquisitions of different extraction families "
                         f"({detail}); a comparison stays within one family")
    extracted = [a for a in members if a.is_image]
    signatures = {a.settings.feature_signature() for a in extracted}
    if len(signatures) > 1:
        detail = ", ".join(f"{a.id}: {a.settings.label}" for a in extracted)
        raise StudyError(f"{where}: compares acquisitions whose parameter files give different "
                         f"feature names (image types, feature classes or force2D differ: "
                         f"{detail}); compare only settings with the same features")
    return families.pop()


# --- validation against the files -------------------------------------------------------------


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
    """

    study: Study
    rois: Mapping[str, tuple[str, ...]]
    tables: Mapping[str, pd.DataFrame]
    hashes: Mapping[Path, str]
    voxels: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    labels: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


def read_image(path: Path, where: str) -> Any:
    """Read an image with SimpleITK: a NIfTI/NRRD/MHA file, or a folder holding a DICOM series."""
    import SimpleITK as sitk

    if not path.exists():
        raise StudyError(f"{where}: file {path} does not exist")
    try:
        if path.is_dir():
            reader = sitk.ImageSeriesReader()
            series = reader.GetGDCMSeriesIDs(str(path))
            if not series:
                raise StudyError(f"{where}: folder {path} holds no DICOM series")
            if len(series) > 1:
                raise StudyError(f"{where}: folder {path} holds {len(series)} DICOM series; "
                                 "point at a folder with one")
            reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(path), series[0]))
            return reader.Execute()
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StudyError(f"{where}: cannot read {path}: {first}") from exc


def check_geometry(image: Any, mask: Any, tolerance: float, where: str) -> None:
    """Raise when the mask's size, spacing, origin or direction differ from the image's.

    Args:
        tolerance: the largest absolute difference accepted in spacing (mm), origin (mm) and
            direction cosines.
    """
    if image.GetSize() != mask.GetSize():
        raise StudyError(f"{where}: mask size {mask.GetSize()} differs from image size {image.GetSize()}")
    for what in ("Spacing", "Origin", "Direction"):
        a = np.asarray(getattr(image, f"Get{what}")())
        b = np.asarray(getattr(mask, f"Get{what}")())
        if a.shape != b.shape or np.max(np.abs(a - b)) > tolerance:
            raise StudyError(f"{where}: mask {what.lower()} {tuple(b.round(6))} differs from image "
                             f"{what.lower()} {tuple(a.round(6))} (tolerance {tolerance})")


def check_scalar_volume(image: Any, path: Path, where: str) -> None:
    """Raise when ``image`` is not a 2-D or 3-D image of one value per voxel (pyradiomics
    would refuse every ROI of a 4-D series or a vector image, after the extraction started)."""
    dim, components = image.GetDimension(), image.GetNumberOfComponentsPerPixel()
    if dim not in (2, 3) or components != 1:
        raise StudyError(f"{where}: {path.name} is a {dim}-D image with {components} value(s) per "
                         "voxel; pyradiomics reads a 2-D or 3-D image of one value per voxel "
                         "(split a 4-D series or a vector image into 3-D volumes)")


def check_pyradiomics_geometry(image: Any, mask: Any, setting: Mapping[str, Any], where: str) -> None:
    """Raise when pyradiomics would refuse the mask as not in the image's physical space.

    pyradiomics (``imageoperations.checkMask``) runs SimpleITK's ``LabelStatisticsImageFilter``
    on the image and the mask; ITK accepts origins and spacings that differ by at most
    ``geometryTolerance`` times the image's first spacing, direction cosines by
    ``geometryTolerance`` (SimpleITK's default 1e-6 when the setting is absent). The same filter
    runs here on one-voxel stand-ins with the image's and the mask's geometry, under the
    tolerance the extraction will use, so validation and extraction agree. Settings with which
    pyradiomics resamples the mask itself (``correctMask``, ``resampledPixelSpacing``) skip it.
    """
    import SimpleITK as sitk

    if setting.get("correctMask") or setting.get("resampledPixelSpacing"):
        return
    stand_ins = []
    for source, pixel in ((image, sitk.sitkFloat32), (mask, sitk.sitkUInt8)):
        probe = sitk.Image([1] * source.GetDimension(), pixel)
        probe.SetOrigin(source.GetOrigin())
        probe.SetSpacing(source.GetSpacing())
        probe.SetDirection(source.GetDirection())
        stand_ins.append(probe)
    tolerance = setting.get("geometryTolerance")
    process = sitk.ProcessObject
    saved = process.GetGlobalDefaultCoordinateTolerance(), process.GetGlobalDefaultDirectionTolerance()
    try:
        if tolerance is not None:
            process.SetGlobalDefaultCoordinateTolerance(float(tolerance))
            process.SetGlobalDefaultDirectionTolerance(float(tolerance))
        sitk.LabelStatisticsImageFilter().Execute(*stand_ins)
    except RuntimeError as exc:
        if "same physical space" not in str(exc):
            raise
        used = saved[0] if tolerance is None else float(tolerance)
        raise StudyError(f"{where}: mask and image geometry differ beyond pyradiomics' tolerance "
                         f"(geometryTolerance {used:g} of the spacing, within geometry_tolerance): "
                         "pyradiomics would refuse every ROI; raise setting geometryTolerance in "
                         "the parameter file or the study's extraction, or set correctMask: true"
                         ) from None
    finally:
        process.SetGlobalDefaultCoordinateTolerance(saved[0])
        process.SetGlobalDefaultDirectionTolerance(saved[1])


#: Columns of a pyradiomics batch output that are not features: its input columns, carried over.
NON_FEATURE_COLUMNS = ("ID", "Image", "Mask", "Label", "Label_channel")


def feature_columns(columns: list[str], roi_column: str | None = None) -> list[str]:
    """The feature columns of a pyradiomics batch output: no diagnostics, no identifiers."""
    return [
        c for c in columns
        if not c.startswith("diagnostics_") and c not in NON_FEATURE_COLUMNS
        and not c.startswith("Unnamed:") and c != "" and c != roi_column
    ]


def read_feature_csv(path: Path, roi_column: str | None, where: str) -> pd.DataFrame:
    """Read a pyradiomics feature CSV into a wide table (index ``roi``, one column per feature).

    ROIs are named by ``roi_column`` when given, else by row order (``"1"``, ``"2"``, ...).
    Rows that repeat the header (as spreadsheet exports of several tables often leave them) are
    dropped with a warning naming the file and their line numbers; any other cell of a feature
    column that is not a number stops the run, naming the file, the line and the column.
    """
    import pandas as pd

    if not path.is_file():
        raise StudyError(f"{where}: feature file {path} does not exist")
    try:
        raw = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise StudyError(f"{where}: cannot read feature CSV {path}: {exc}") from exc
    _check_repeated_columns(path, where)
    raw = drop_repeated_headers(raw, path)
    cols = feature_columns([str(c) for c in raw.columns], roi_column)
    if not cols:
        raise StudyError(f"{where}: {path} has no feature columns")
    unnamed = [c for c in cols if len(c.split("_", 2)) != 3]
    if unnamed:
        raise StudyError(f"{where}: {path}: column {unnamed[0]!r} is neither a pyradiomics feature "
                         "(<imageType>_<class>_<feature>) nor an identifier column "
                         f"({', '.join(NON_FEATURE_COLUMNS)}); name the ROI column with roi_column "
                         "or remove the column")
    if roi_column is not None:
        if roi_column not in raw.columns:
            raise StudyError(f"{where}: {path} has no ROI column {roi_column!r} (roi_column)")
        rois = raw[roi_column].astype(str)
        if rois.duplicated().any():
            raise StudyError(f"{where}: {path}: ROI ids repeat in column {roi_column!r}: "
                             f"{sorted(set(rois[rois.duplicated()]))[:5]}")
    else:
        rois = pd.Series([str(i + 1) for i in range(len(raw))])
    values = raw[cols].apply(pd.to_numeric, errors="coerce").astype(np.float64)
    bad = values.isna().to_numpy() & raw[cols].notna().to_numpy()
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise StudyError(f"{where}: {path}: line {raw.index[row]}, column {cols[col]!r} is not a "
                         f"number: {raw[cols[col]].iloc[row]!r} ({int(bad.sum())} such cell(s))")
    _check_cells(values, path, where)
    values.index = pd.Index(rois.to_list(), name="roi")
    return values


def _check_repeated_columns(path: Path, where: str) -> None:
    """Raise when a column name repeats in the header (pandas would rename the second ``X.1``)."""
    import pandas as pd

    header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in seen and name != "":
            raise StudyError(f"{where}: {path}: column {name!r} appears twice in the header "
                             f"(columns {seen[name] + 1} and {i + 1}); keep one")
        seen.setdefault(name, i)


def _check_cells(values: pd.DataFrame, path: Path, where: str) -> None:
    """Refuse infinite values (``inf``, ``1e400``), as non-finite voxels are refused; warn once,
    naming the first, about missing ones (empty, ``NA``, ``NaN``): those features are undefined.

    ``values`` is indexed by the line of each row in the file.
    """
    import warnings

    arr = values.to_numpy()
    infinite = np.isinf(arr)
    if infinite.any():
        row, col = (int(i) for i in np.argwhere(infinite)[0])
        raise StudyError(f"{where}: {path}: line {values.index[row]}, column {values.columns[col]!r} "
                         f"is not finite ({arr[row, col]}; {int(infinite.sum())} such cell(s)); a "
                         "feature value must be a finite number")
    missing = np.isnan(arr)
    if missing.any():
        row, col = (int(i) for i in np.argwhere(missing)[0])
        warnings.warn(f"{where}: {path}: {int(missing.sum())} missing cell(s) (empty, NA or NaN), the "
                      f"first at line {values.index[row]}, column {values.columns[col]!r}; each such "
                      "feature is undefined in the comparisons of this file", UserWarning, stacklevel=3)


def identifier_table(path: Path, index: pd.Index) -> pd.DataFrame:
    """The identifier columns (``ID``, ``Image``, ``Mask``, ``Label``) of a feature CSV as text,
    one row per row of its wide table (``index``); rows repeating the header are left out."""
    import pandas as pd

    raw = pd.read_csv(path, dtype=str, usecols=lambda c: c in NON_FEATURE_COLUMNS)
    raw = raw[~(raw == pd.Series(raw.columns, index=raw.columns)).all(axis=1)]
    if len(raw) != len(index):  # the feature table kept other rows: nothing to compare
        return pd.DataFrame(index=index)
    return raw.set_axis(index, axis=0)


def drop_repeated_headers(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``raw`` without the rows that repeat its header, indexed by their line in the file.

    A row repeats the header when every non-empty cell equals its column's name; each dropped
    line is named in one warning. The returned index is the line number (the header is line 1;
    a file with quoted line breaks inside cells is numbered by rows).
    """
    import warnings

    raw = raw.set_axis(np.arange(2, len(raw) + 2), axis=0)
    cells = raw.astype(str).to_numpy()
    names = np.asarray([str(c) for c in raw.columns], dtype=object)
    empty = raw.isna().to_numpy()
    repeated = np.all((cells == names) | empty, axis=1) & ~np.all(empty, axis=1)
    if repeated.any():
        lines = raw.index[repeated].tolist()
        warnings.warn(f"{path}: dropped {len(lines)} row(s) repeating the header, at line(s) "
                      f"{', '.join(map(str, lines))}", UserWarning, stacklevel=3)
    return raw[~repeated]


def validate_study(study: Study, geometry_tolerance: float = 1e-4,
                   verdicts: Path | None = None) -> ValidatedStudy:
    """Check every file and every comparison of ``study`` before any extraction.

    Checks: every file exists, is complete and loads (NIfTI, NRRD, DICOM series through
    SimpleITK, a compressed stream verified to its checksum; feature CSVs through pandas);
    image and mask geometry agree within ``geometry_tolerance``; every listed label is present
    and non-empty, and its voxels are finite; a mask has at least one ROI; compared acquisitions
    share the same ROIs and, for feature CSVs, the same feature columns and (rows paired by
    order) the same identifiers row by row (:mod:`robustlab.radiomics.study.integrity`).

    Args:
        study: from :func:`load_study`.
        geometry_tolerance: largest accepted difference in spacing, origin and direction.
        verdicts: where the completeness checks of image files are kept by content hash
            (None: none kept; see :func:`robustlab.radiomics.study.integrity.image_file_hash`).

    Returns:
        :class:`ValidatedStudy` with each acquisition's ROIs, the CSV tables and file hashes.

    Raises:
        StudyError: naming the acquisition, the file, the label or the comparison at fault.
    """

    from robustlab.radiomics.study.integrity import ImageFile, image_file_hash

    rois: dict[str, tuple[str, ...]] = {}
    identifiers: dict[str, pd.DataFrame] = {}
    tables: dict[str, pd.DataFrame] = {}
    hashes: dict[Path, str] = {}
    files: dict[Path, ImageFile] = {}
    voxels: dict[str, dict[str, int]] = {}
    labels: dict[str, dict[str, int]] = {}
    for aid, acq in study.acquisitions.items():
        where = f"{study.path.name}: acquisition {aid!r}"
        if not acq.is_image:
            table = read_feature_csv(acq.features, study.roi_column, where)
            ids = identifier_table(acq.features, table.index)
            if acq.labels is not None:
                wanted = [str(v) for v in acq.labels]
                missing = [r for r in wanted if r not in table.index]
                if missing:
                    raise StudyError(f"{where}: ROI(s) {missing} not in {acq.features.name}")
                table = table.loc[wanted]
            tables[aid] = table
            identifiers[aid] = ids.loc[table.index]
            rois[aid] = tuple(table.index)
            if acq.features not in hashes:
                hashes[acq.features] = file_hash(acq.features)
            continue
        for p, key in ((acq.image, "image"), *((m, "mask" if acq.rois is None else "rois")
                                                for m in acq.mask_files)):
            if p.exists() and p not in hashes:  # complete files only (a missing one: read_image)
                files[p] = image_file_hash(p, f"{where}, key {key!r}", verdicts)
                hashes[p] = files[p].sha256
        stored_nonfinite = files[acq.image].nonfinite if acq.image in files else None
        rois[aid], voxels[aid], labels[aid] = _validate_image(acq, where, geometry_tolerance,
                                                              stored_nonfinite)
    _check_settings(study)
    _check_comparisons(study, rois, tables, identifiers)
    return ValidatedStudy(study=study, rois=rois, tables=tables, hashes=hashes, voxels=voxels,
                          labels=labels)


def _check_settings(study: Study) -> None:
    """Every distinct extraction setting of the study through pyradiomics' own schema."""
    checked: set[Extraction] = set()
    for aid, acq in study.acquisitions.items():
        if acq.settings is not None and acq.settings not in checked:
            checked.add(acq.settings)
            try:
                check_extraction(acq.settings, f"{study.path.name}: acquisition {aid!r}, key 'extraction'")
            except ValueError as exc:
                raise StudyError(str(exc)) from None


def _check_comparisons(study: Study, rois: Mapping[str, tuple[str, ...]], tables: Mapping[str, pd.DataFrame],
                       identifiers: Mapping[str, pd.DataFrame]) -> None:
    """Compared acquisitions share their ROIs and, for feature CSVs, columns and row identifiers."""
    from robustlab.radiomics.statistics import get_statistic
    from robustlab.radiomics.study.integrity import check_row_pairing

    for cmp in study.comparisons:
        where = f"{study.path.name}: comparison {cmp.name!r}"
        for name, members in cmp.units():
            first = members[0]
            _warn_too_few_rois(study.path.name, name, cmp.statistic, rois[first],
                               get_statistic(cmp.statistic).min_rois)
            for other in members[1:]:
                if set(rois[other]) != set(rois[first]):
                    only_a = sorted(set(rois[first]) - set(rois[other]))
                    only_b = sorted(set(rois[other]) - set(rois[first]))
                    raise StudyError(f"{where}: acquisitions {first!r} and {other!r} have different "
                                     f"ROIs (only in {first}: {only_a[:5]}; only in {other}: {only_b[:5]})")
                if first in tables and other in tables:
                    check_same_columns(tables[first], tables[other], first, other, where)
                    if study.roi_column is None:
                        check_row_pairing(identifiers[first], identifiers[other], (first, other),
                                          (study.acquisitions[first].features,
                                           study.acquisitions[other].features), where)


def _warn_too_few_rois(study: str, name: str, statistic: str, rois: Sequence[str], need: int) -> None:
    """Warn, before extraction, about a comparison whose statistic is undefined by design: its
    acquisitions share fewer ROIs than the statistic needs (its ``pct_excellent`` is NaN)."""
    import warnings

    if len(rois) < need:
        warnings.warn(f"{study}: comparison {name!r} compares {len(rois)} ROI(s); {statistic} needs at "
                      f"least {need}: every feature's {statistic} is undefined and pct_excellent is "
                      "NaN (not 0)", UserWarning, stacklevel=4)


def _label_counts(mask: Any, name: str, where: str) -> dict[int, int]:
    """Voxels per non-zero label of a mask; raises when it is not a label map."""
    import SimpleITK as sitk

    arr = sitk.GetArrayViewFromImage(mask)
    if not np.issubdtype(arr.dtype, np.integer) and not np.all(np.mod(arr, 1) == 0):
        raise StudyError(f"{where}: mask {name} is not a label map (non-integer values)")
    present, counts = np.unique(arr.astype(np.int64), return_counts=True)
    count = dict(zip(present.tolist(), counts.tolist(), strict=True))
    negative = [v for v in count if v < 0]
    if negative:
        raise StudyError(f"{where}: mask {name} holds negative label(s) {negative[:5]} "
                         f"({sum(count[v] for v in negative)} voxel(s)); labels are positive "
                         "integers, 0 the background")
    count.pop(0, None)
    return count


def _validate_image(acq: Acquisition, where: str, tolerance: float,
                    stored_nonfinite: np.ndarray | None = None) -> tuple[
        tuple[str, ...], dict[str, int], dict[str, int]]:
    """An image acquisition's ROI ids, voxels per ROI and label per ROI, its files checked.

    ``stored_nonfinite``: the non-finite voxels as stored in the image file
    (:class:`~robustlab.radiomics.study.integrity.ImageFile`); with those SimpleITK shows, none may lie
    inside a ROI.
    """
    import SimpleITK as sitk

    from robustlab.radiomics.study.integrity import check_finite, nonfinite_voxels

    image = read_image(acq.image, f"{where}, key 'image'")
    check_scalar_volume(image, acq.image, f"{where}, key 'image'")
    bad = nonfinite_voxels(sitk.GetArrayViewFromImage(image), stored_nonfinite)
    counts: dict[Path, dict[int, int]] = {}
    masks = {}
    setting = acq.settings.params()["setting"] if acq.settings is not None else {}
    for path in acq.mask_files:
        key = "mask" if acq.rois is None else "rois"
        masks[path] = mask = read_image(path, f"{where}, key {key!r}")
        check_scalar_volume(mask, path, f"{where}, key {key!r}")
        check_geometry(image, mask, tolerance, f"{where}: {path.name} vs {acq.image.name}")
        check_pyradiomics_geometry(image, mask, setting, f"{where}: {path.name} vs {acq.image.name}")
        counts[path] = _label_counts(mask, path.name, where)
    rois, voxels, labels = _image_rois(acq, counts, where)
    for path, mask in masks.items():
        inside = [labels[r] for r in rois if (acq.rois is None or acq.rois[r].path == path)]
        check_finite(bad, sitk.GetArrayViewFromImage(mask), inside, f"{where}: {acq.image.name}")
    return rois, voxels, labels


def _image_rois(acq: Acquisition, counts: Mapping[Path, Mapping[int, int]], where: str) -> tuple[
        tuple[str, ...], dict[str, int], dict[str, int]]:
    """ROI ids, voxels per ROI and label per ROI from the label counts of the mask files."""
    if acq.rois is None:
        count = counts[acq.mask]
        if not count:
            raise StudyError(f"{where}: mask {acq.mask.name} is empty (no non-zero label, no ROI)")
        for label in acq.labels or ():
            if label not in count:
                raise StudyError(f"{where}: label {label} is absent from mask {acq.mask.name} "
                                 f"(labels present: {sorted(count) or 'none'})")
        chosen = acq.labels or tuple(sorted(count))
        return (tuple(str(v) for v in chosen), {str(v): count[v] for v in chosen},
                {str(v): int(v) for v in chosen})
    voxels, labels = {}, {}
    for name, roi in acq.rois.items():
        count = counts[roi.path]
        if roi.label is None and len(count) != 1:
            raise StudyError(f"{where}: ROI {name!r}: mask {roi.path.name} must be binary (one "
                             f"non-zero value; it holds {sorted(count) or 'none'}); for a label "
                             "map give {file: ..., label: N}")
        label = roi.label if roi.label is not None else next(iter(count))
        if label not in count:
            raise StudyError(f"{where}: ROI {name!r}: label {label} is absent from mask "
                             f"{roi.path.name} (labels present: {sorted(count) or 'none'})")
        voxels[name], labels[name] = count[label], int(label)
    return tuple(acq.rois), voxels, labels


def check_same_columns(a: pd.DataFrame, b: pd.DataFrame, name_a: str, name_b: str, where: str) -> None:
    """Raise when two wide tables do not hold the same feature columns."""
    ca, cb = set(a.columns), set(b.columns)
    if ca != cb:
        only_a, only_b = sorted(ca - cb), sorted(cb - ca)
        raise StudyError(f"{where}: acquisitions {name_a!r} and {name_b!r} have different feature "
                         f"columns ({len(only_a)} only in {name_a}, e.g. {only_a[:3]}; "
                         f"{len(only_b)} only in {name_b}, e.g. {only_b[:3]})")
