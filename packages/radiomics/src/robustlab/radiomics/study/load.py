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
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

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
from robustlab.radiomics.study.schema import (
    COMBINE as COMBINE,  # offered here as before
)
from robustlab.radiomics.study.schema import (
    ComparisonKeys,
    RoiFile,
    ScannerKeys,
    StudyKeys,
    bind,
    bind_acquisition,
    bind_comparison,
)
from robustlab.radiomics.study.validate import check_distinct, check_members


def load_study(study: str | Path) -> Study:
    """Read a study YAML (a path or a bundled name) and resolve its paths.

    Every key is checked against its declared constraint (:mod:`.schema`) before what the keys
    say of each other (an acquisition a comparison names exists, an image has its mask).

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
    keys = bind(StudyKeys, raw, str(path))
    base = path.parent
    default = _extraction_spec(keys.extraction, base, f"{path}: key 'extraction'", ExtractionSpec())
    scanners = _load_scanners(path, keys.scanners, base, default, keys.acquisitions)
    acquisitions = {
        str(aid): _load_acquisition(path, str(aid), spec, base,
                                    scanners.get(str(spec.get("scanner")), default))
        for aid, spec in keys.acquisitions.items()
    }
    if any(a.is_image for a in acquisitions.values()):
        # a feature CSV beside images: its family from its column names (csv_family), unless given
        acquisitions = {aid: a if a.is_image or a.family != "all" or "family" in raw["acquisitions"][aid]
                        else dataclasses.replace(a, family=csv_family(a.features_path))
                        for aid, a in acquisitions.items()}
    comparisons = tuple(
        _load_comparison(path, i, spec, acquisitions) for i, spec in enumerate(keys.comparisons)
    )
    names = [c.name for c in comparisons]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise StudyError(f"{path}: comparison names must be unique; repeated: {', '.join(dupes)}")
    return Study(
        name=str(keys.name or path.stem), path=path, threshold=float(keys.threshold),
        roi_column=keys.roi_column, extraction=default.file, acquisitions=acquisitions,
        comparisons=comparisons,
        published={str(g): (float(lo), float(hi))
                   for g, (lo, hi) in (keys.published or {}).items()},
    )


def _extraction_spec(value: Any, base: Path, where: str, inherited: ExtractionSpec) -> ExtractionSpec:
    try:
        return parse_extraction(value, base, where, inherited, resolve_extraction)
    except ValueError as exc:
        raise StudyError(str(exc)) from None


def _load_scanners(path: Path, raw: Mapping[str, ScannerKeys] | None, base: Path,
                   default: ExtractionSpec,
                   acquisitions: Mapping[str, Any]) -> dict[str, ExtractionSpec]:
    """``scanners:``: scanner name -> the extraction its acquisitions inherit."""
    used = {str(spec.get("scanner")) for spec in acquisitions.values()}
    out = {}
    for name, spec in (raw or {}).items():
        where = f"{path}: scanners.{name}"
        if str(name) not in used:
            raise StudyError(f"{where}: no acquisition has 'scanner: {name}' "
                             f"(scanners of the acquisitions: {', '.join(sorted(used - {'None'})) or 'none'})")
        out[str(name)] = _extraction_spec(spec.extraction, base, f"{where}.extraction", default)
    return out


def _load_rois(where: str, rois: Mapping[str, str | RoiFile], base: Path) -> dict[str, RoiMask]:
    """``rois:``: ROI name -> a mask file (binary) or ``{file: ..., label: N}``."""
    out = {}
    for name, spec in rois.items():
        file, label = (spec.file, spec.label) if isinstance(spec, RoiFile) else (spec, None)
        out[str(name)] = RoiMask(resolve_path(base / file, f"{where}: rois.{name}"), label)
    return out


def _load_acquisition(
    path: Path, aid: str, spec: Mapping[str, Any], base: Path, inherited: ExtractionSpec
) -> Acquisition:
    keys, meta = bind_acquisition(spec, str(path), aid)
    where = f"{path}: acquisition {aid!r}"
    has_image = keys.image is not None or keys.mask is not None or keys.rois is not None
    if has_image and keys.features is not None:
        raise StudyError(f"{where}: give either an image (with mask or rois) or features, not both")
    if not has_image and keys.features is None:
        raise StudyError(f"{where}: needs either image+mask, image+rois or features (a pyradiomics CSV)")
    if has_image and (keys.image is None or (keys.mask is None) == (keys.rois is None)):
        missing = "image" if keys.image is None else "mask' or 'rois"
        if keys.mask is not None and keys.rois is not None:
            raise StudyError(f"{where}: give either 'mask' (a label map) or 'rois' (one mask file "
                             "per ROI), not both")
        raise StudyError(f"{where}: key '{missing}' is missing (an image needs its mask)")
    if keys.labels is not None and keys.rois is not None:
        raise StudyError(f"{where}: 'labels' selects labels of 'mask'; with 'rois' give each "
                         "ROI's label as {file: ..., label: N}")
    extraction = _extraction_spec(keys.extraction, base, f"{where}, key 'extraction'",
                                  inherited if has_image or "extraction" in spec else ExtractionSpec())
    settings = extraction.resolve()
    family = str(keys.family or (settings.family if settings is not None else
                                 meta.get("mode") or "all"))
    labels = None if keys.labels is None else tuple(keys.labels)
    acquisition = functools.partial(Acquisition, aid, labels=labels, meta=meta, family=family,
                                    extraction=settings.file if settings else None,
                                    overrides=settings.overrides if settings else "")
    if has_image:
        if settings is None:
            raise StudyError(f"{where}: no pyradiomics parameter file; set 'extraction' in the "
                             "study, the scanner group or the acquisition")
        rois = _load_rois(where, keys.rois, base) if keys.rois is not None else None
        mask = None if rois is not None else resolve_path(base / str(keys.mask),
                                                          f"{where}, key 'mask'")
        image = resolve_path(base / str(keys.image), f"{where}, key 'image'")
        return acquisition(image=image, mask=mask, rois=rois)
    features = resolve_path(base / str(keys.features), f"{where}, key 'features'")
    return acquisition(features=features)


def _load_comparison(path: Path, i: int, spec: Any, acqs: Mapping[str, Acquisition]) -> Comparison:
    keys, options, _ = bind_comparison(spec, str(path), i)
    name = str(keys.name)
    where = f"{path}: comparison {name!r}"
    acquisitions, pairs = comparison_members(where, keys, acqs)
    members = list(acquisitions) or [m for p in pairs for m in p]
    family = check_members(where, [acqs[m] for m in dict.fromkeys(members)])
    return Comparison(name=name, statistic=keys.statistic, acquisitions=acquisitions, pairs=pairs,
                      combine=keys.combine, options=options,
                      group=None if keys.group is None else str(keys.group), family=family)


def comparison_members(where: str, keys: ComparisonKeys, known: Collection[str]) -> tuple[
        tuple[str, ...], tuple[tuple[str, str], ...]]:
    """A comparison's ``(acquisitions, pairs)``, one of them given and the other empty: as many
    acquisitions as its statistic compares, each one of ``known`` (the acquisitions of the study
    or design), none twice in a unit.

    Raises:
        StudyError: naming ``where`` (the file and the comparison).
    """
    from robustlab.radiomics.statistics import STATISTICS

    if (keys.acquisitions is None) == (keys.pairs is None) and keys.pairs != "all":
        raise StudyError(f"{where}: give exactly one of 'acquisitions' or 'pairs' "
                         "('pairs: all' with 'acquisitions': every pair of them)")
    listed = tuple(str(a) for a in keys.acquisitions or ())
    check_distinct(where, listed)
    acquisitions: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()
    if keys.pairs == "all":
        if len(listed) < 2:
            raise StudyError(f"{where}: 'pairs: all' needs 'acquisitions' listing at least two")
        pairs = tuple(itertools.combinations(listed, 2))
    elif isinstance(keys.pairs, list):
        pairs = tuple((str(a), str(b)) for a, b in keys.pairs)
    else:
        acquisitions = listed
        low, high = STATISTICS.get(keys.statistic).n_raters
        if len(listed) < low or (high is not None and len(listed) > high):
            need = f"exactly {low}" if low == high else (
                f"at least {low}" if high is None else f"{low} to {high}")
            raise StudyError(f"{where}: {keys.statistic} needs {need} acquisitions; "
                             f"got {len(listed)}")
    for unit in pairs:
        check_distinct(where, unit)
    for member in [*acquisitions, *(m for p in pairs for m in p)]:
        if member not in known:
            raise StudyError(f"{where}: " + unknown("acquisition", member, sorted(known)))
    return acquisitions, pairs
