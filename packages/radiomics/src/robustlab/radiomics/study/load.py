"""The study file: read it, resolve its paths, and build the :class:`~.model.Study`.

A study YAML names the acquisitions (image + label-map mask, or a pyradiomics feature CSV),
the pyradiomics parameter file, and the comparisons (ICC or CCC between acquisitions). See the
how-to page docs/how-to/multicentre-study.md for the format. Every error raised here names the
study file, the acquisition or the key at fault, and what was expected; nothing is read beyond
the YAML itself (the files are checked by :func:`~.validate.validate_study`).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from robustlab.common import safe_yaml
from robustlab.radiomics.errors import StudyError
from robustlab.radiomics.extraction.params import ExtractionSpec, parse_extraction
from robustlab.radiomics.study.bundled import (
    resolve_extraction,
    resolve_path,
    resolve_study,
    unknown,
)
from robustlab.radiomics.study.feature_csv import csv_family
from robustlab.radiomics.study.model import Acquisition, Comparison, RoiMask, Study
from robustlab.radiomics.study.validate import check_distinct, check_members

COMBINE = ("intersection",)
_ACQ_KEYS = {"image", "mask", "rois", "features", "labels", "extraction", "family"}
_STUDY_KEYS = {"name", "threshold", "roi_column", "extraction", "scanners", "acquisitions",
               "comparisons", "published", "description"}
_SCANNER_KEYS = {"extraction", "description"}
_CMP_KEYS = {"name", "statistic", "acquisitions", "pairs", "combine", "group", "description"}


def _check_keys(where: str, given: Mapping[str, Any], allowed: set[str]) -> None:
    for key in given:
        if key not in allowed:
            raise StudyError(f"{where}: " + unknown("key", str(key), sorted(allowed)))


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
                        else dataclasses.replace(a, family=csv_family(a.features_path))
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
            out[str(name)] = RoiMask(resolve_path(base / str(spec["file"]), f"{where}: rois.{name}"), label)
        elif isinstance(spec, str):
            out[str(name)] = RoiMask(resolve_path(base / spec, f"{where}: rois.{name}"))
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
    labels = _load_labels(where, spec)
    extraction = _extraction_spec(spec.get("extraction"), base, f"{where}, key 'extraction'",
                                  inherited if has_image or "extraction" in spec else ExtractionSpec())
    settings = extraction.resolve()
    family = str(spec.get("family") or (settings.family if settings is not None else
                                        spec.get("mode") or "all"))
    acquisition = functools.partial(Acquisition, aid, labels=labels, meta=meta, family=family,
                                    extraction=settings.file if settings else None,
                                    overrides=settings.overrides if settings else "")
    if has_image:
        if settings is None:
            raise StudyError(f"{where}: no pyradiomics parameter file; set 'extraction' in the "
                             "study, the scanner group or the acquisition")
        rois = _load_rois(where, spec["rois"], base) if "rois" in spec else None
        mask = None if rois is not None else resolve_path(base / str(spec["mask"]), f"{where}, key 'mask'")
        image = resolve_path(base / str(spec["image"]), f"{where}, key 'image'")
        return acquisition(image=image, mask=mask, rois=rois)
    return acquisition(features=resolve_path(base / str(spec["features"]), f"{where}, key 'features'"))


def _load_labels(where: str, spec: Mapping[str, Any]) -> tuple[int, ...] | None:
    """``labels:``: the labels (ROIs) of the mask or the rows of the feature CSV to use, each
    once (a label listed twice would repeat a ROI's row in every comparison)."""
    labels = spec.get("labels")
    if labels is None:
        return None
    if "rois" in spec:
        raise StudyError(f"{where}: 'labels' selects labels of 'mask'; with 'rois' give each "
                         "ROI's label as {file: ..., label: N}")
    if isinstance(labels, int):
        labels = [labels]
    if not isinstance(labels, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in labels):
        raise StudyError(f"{where}: 'labels' must be positive integers; got {labels!r}")
    repeated = [v for i, v in enumerate(labels) if v in labels[:i]]
    if repeated:
        raise StudyError(f"{where}: 'labels' lists label {repeated[0]} of "
                         f"{spec.get('features') or spec.get('mask')} twice; list each label once")
    return tuple(labels)


def _load_comparison(path: Path, i: int, spec: Any, acqs: Mapping[str, Acquisition]) -> Comparison:
    if not isinstance(spec, dict) or "name" not in spec:
        raise StudyError(f"{path}: comparison #{i + 1} must be a mapping with a 'name'")
    from robustlab.radiomics.statistics import STATISTICS

    name = str(spec["name"])
    where = f"{path}: comparison {name!r}"
    statistic = str(spec.get("statistic", "")).lower()
    try:
        stat = STATISTICS.get(statistic)
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
        check_distinct(where, unit)
    members = list(acquisitions) or [m for p in pairs for m in p]
    for m in members:
        if m not in acqs:
            raise StudyError(f"{where}: " + unknown("acquisition", m, sorted(acqs)))
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
    family = check_members(where, [acqs[m] for m in dict.fromkeys(members)])
    return Comparison(name=name, statistic=statistic, acquisitions=acquisitions, pairs=pairs,
                      combine=combine, options=options,
                      group=None if spec.get("group") is None else str(spec["group"]),
                      family=family)


def _comparison_members(where: str, spec: Mapping[str, Any], stat: Any, all_pairs: bool,
                        has_pairs: bool) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """A comparison's ``(acquisitions, pairs)``: one of them given, the other empty."""
    if all_pairs:
        listed = list(_id_list(where, "acquisitions", spec.get("acquisitions") or []))
        check_distinct(where, listed)
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
