"""Every check of a study, in one place, before any extraction.

- Of the loaded study (:func:`check_distinct`, :func:`check_members`, run by the loader on each
  comparison; :func:`texture_targets` on the texture test's acquisitions).
- Of its files (:func:`validate_study`): every image, mask and feature CSV read and checked
  (geometry, labels, scalar volumes, pyradiomics' own geometry check, settings through
  pyradiomics' schema), and the compared acquisitions against each other. The checks of
  damaged files (complete streams, finite voxels, rows paired by order, enough ROIs) are
  :mod:`.integrity`'s.

Every error names the study file, the acquisition, the file, the ROI or the key at fault, and
what was expected.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from robustlab.common.hashing import file_hash
from robustlab.radiomics.errors import StudyError
from robustlab.radiomics.extraction.params import Extraction, check_extraction
from robustlab.radiomics.study.feature_csv import identifier_table, read_feature_csv
from robustlab.radiomics.study.images import IMAGE_BUDGET, check_budget, read_image
from robustlab.radiomics.study.model import Acquisition, Study, ValidatedStudy

if TYPE_CHECKING:  # pandas is imported where used
    import pandas as pd

log = logging.getLogger(__name__)


def check_distinct(where: str, unit: Sequence[str]) -> None:
    """Raise when an acquisition appears twice among those compared (its ICC would be 1)."""
    repeated = [a for i, a in enumerate(unit) if a in unit[:i]]
    if repeated:
        raise StudyError(f"{where}: compares acquisition {repeated[0]!r} with itself "
                         f"({', '.join(unit)}); a comparison needs distinct acquisitions")


def check_members(where: str, members: list[Acquisition]) -> str:
    """The one family of a comparison's acquisitions; raises when their settings give different
    feature names (other image types, feature classes or ``force2D``) or families differ."""
    families = {a.family for a in members}
    if len(families) > 1:
        detail = ", ".join(f"{a.id}: {a.family}" for a in members)
        raise StudyError(f"{where}: compares acquisitions of different extraction families "
                         f"({detail}); a comparison stays within one family")
    extracted = {a.id: a.settings for a in members if a.is_image and a.settings is not None}
    signatures = {settings.feature_signature() for settings in extracted.values()}
    if len(signatures) > 1:
        detail = ", ".join(f"{aid}: {settings.label}" for aid, settings in extracted.items())
        raise StudyError(f"{where}: compares acquisitions whose parameter files give different "
                         f"feature names (image types, feature classes or force2D differ: "
                         f"{detail}); compare only settings with the same features")
    return families.pop()


def texture_targets(study: Study, chosen: Sequence[str] | None) -> list[str]:
    """The acquisitions of the texture test (validated: image acquisitions of the study)."""
    if chosen is not None:
        for aid in chosen:
            if aid not in study.acquisitions:
                raise StudyError(f"texture_acquisitions: unknown acquisition {aid!r}")
            if not study.acquisitions[aid].is_image:
                raise StudyError(f"texture_acquisitions: {aid!r} is a feature CSV; the texture "
                                 "test needs its image")
        return list(chosen)
    first: dict[Any, str] = {}
    for cmp in study.comparisons:
        for aid in cmp.members:
            acq = study.acquisitions[aid]
            if acq.is_image and acq.settings not in first:
                first[acq.settings] = aid
    return list(first.values())


def validate_study(study: Study, geometry_tolerance: float = 1e-4, verdicts: Path | None = None,
                   image_budget: int = IMAGE_BUDGET) -> ValidatedStudy:
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
        image_budget: the most voxel bytes an image file's header may declare; a larger one
            is refused from its header (:func:`robustlab.radiomics.study.images.check_budget`).

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
            tables[aid], identifiers[aid], hashes[acq.features_path] = _read_csv(acq, study.roi_column,
                                                                                 where)
            rois[aid] = tuple(tables[aid].index)
            continue
        for p, key in ((acq.image_path, "image"), *((m, "mask" if acq.rois is None else "rois")
                                                for m in acq.mask_files)):
            if p.exists() and p not in hashes:  # complete files only (a missing one: read_image)
                check_budget(p, f"{where}, key {key!r}", image_budget)  # before a byte is inflated
                files[p] = image_file_hash(p, f"{where}, key {key!r}", verdicts)
                hashes[p] = files[p].sha256
        stored_nonfinite = files[acq.image_path].nonfinite if acq.image_path in files else None
        rois[aid], voxels[aid], labels[aid] = _validate_image(acq, where, geometry_tolerance,
                                                              stored_nonfinite)
    extractors = _check_settings(study)
    _check_comparisons(study, rois, tables, identifiers)
    identical = identical_acquisitions(study, hashes)
    for text in identical:
        log.warning(text)
    return ValidatedStudy(study=study, rois=rois, tables=tables, hashes=hashes, voxels=voxels,
                          labels=labels, extractors=extractors, warnings=tuple(identical))


def _read_csv(acq: Acquisition, roi_column: str | None, where: str) -> tuple[
        pd.DataFrame, pd.DataFrame, str]:
    """A feature-CSV acquisition's wide table (its ``labels`` only), identifier table and
    content hash; the file is hashed before and after it is read, and must not change between."""
    path, labels = acq.features_path, acq.labels
    before = file_hash(path) if path.is_file() else None
    table = read_feature_csv(path, roi_column, where)
    ids = identifier_table(path, table.index)
    if labels is not None:
        wanted = [str(v) for v in labels]
        missing = [r for r in wanted if r not in table.index]
        if missing:
            raise StudyError(f"{where}: ROI(s) {missing} not in {path.name}")
        table = table.loc[wanted]
    digest = file_hash(path)
    if digest != before:
        raise StudyError(f"{where}: {path} changed while it was read; run the study again")
    return table, ids.loc[table.index], digest


def identical_acquisitions(study: Study, hashes: Mapping[Path, str]) -> list[str]:
    """One warning per pair of acquisitions compared with each other whose files are
    byte-identical (image and masks, or feature CSV) under the same settings: their agreement
    is 1 by construction, not a measurement (a file copied under two names, or one path given
    twice through links)."""
    def content(acq: Acquisition) -> tuple[Any, ...]:
        if not acq.is_image:
            return (hashes[acq.features_path],)
        return (hashes[acq.image_path], tuple(hashes[m] for m in acq.mask_files), acq.labels,
                acq.settings)

    def file_name(acq: Acquisition) -> str:
        return (acq.image_path if acq.is_image else acq.features_path).name

    found: dict[tuple[str, str], str] = {}
    for cmp in study.comparisons:
        for name, members in cmp.units():
            for a, b in itertools.combinations(members, 2):
                first, second = study.acquisitions[a], study.acquisitions[b]
                if (a, b) not in found and content(first) == content(second):
                    found[(a, b)] = (f"{study.path.name}: comparison {name!r}: acquisitions {a!r} "
                                     f"and {b!r} are byte-identical files ({file_name(first)} and "
                                     f"{file_name(second)}); their agreement is 1 by construction, "
                                     "not a measurement")
    return list(found.values())


def _check_settings(study: Study) -> dict[Extraction, Any]:
    """Every distinct extraction setting of the study through pyradiomics' own schema; the
    extractor pyradiomics built of each."""
    checked: dict[Extraction, Any] = {}
    for aid, acq in study.acquisitions.items():
        if acq.settings is not None and acq.settings not in checked:
            try:
                checked[acq.settings] = check_extraction(
                    acq.settings, f"{study.path.name}: acquisition {aid!r}, key 'extraction'")
            except ValueError as exc:
                raise StudyError(str(exc)) from None
    return checked


def _check_comparisons(study: Study, rois: Mapping[str, tuple[str, ...]], tables: Mapping[str, pd.DataFrame],
                       identifiers: Mapping[str, pd.DataFrame]) -> None:
    """Compared acquisitions share their ROIs and, for feature CSVs, columns and row identifiers."""
    from robustlab.radiomics.statistics import STATISTICS
    from robustlab.radiomics.study.integrity import check_row_pairing

    for cmp in study.comparisons:
        where = f"{study.path.name}: comparison {cmp.name!r}"
        for name, members in cmp.units():
            first = members[0]
            _warn_too_few_rois(study.path.name, name, cmp.statistic, rois[first],
                               STATISTICS.get(cmp.statistic).min_rois)
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
                                          (study.acquisitions[first].features_path,
                                           study.acquisitions[other].features_path), where)


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

    image_file = acq.image_path
    image = read_image(image_file, f"{where}, key 'image'", budget=None)  # checked when hashed
    check_scalar_volume(image, image_file, f"{where}, key 'image'")
    bad = nonfinite_voxels(sitk.GetArrayViewFromImage(image), stored_nonfinite)
    counts: dict[Path, dict[int, int]] = {}
    masks = {}
    setting = acq.settings.params()["setting"] if acq.settings is not None else {}
    for path in acq.mask_files:
        key = "mask" if acq.rois is None else "rois"
        masks[path] = mask = read_image(path, f"{where}, key {key!r}", budget=None)
        check_scalar_volume(mask, path, f"{where}, key {key!r}")
        check_geometry(image, mask, tolerance, f"{where}: {path.name} vs {image_file.name}")
        check_pyradiomics_geometry(image, mask, setting, f"{where}: {path.name} vs {image_file.name}")
        counts[path] = _label_counts(mask, path.name, where)
    rois, voxels, labels = _image_rois(acq, counts, where)
    for path, mask in masks.items():
        inside = [labels[r] for r in rois if (acq.rois is None or acq.rois[r].path == path)]
        check_finite(bad, sitk.GetArrayViewFromImage(mask), inside, f"{where}: {image_file.name}")
    return rois, voxels, labels


def _image_rois(acq: Acquisition, counts: Mapping[Path, Mapping[int, int]], where: str) -> tuple[
        tuple[str, ...], dict[str, int], dict[str, int]]:
    """ROI ids, voxels per ROI and label per ROI from the label counts of the mask files."""
    if acq.rois is None:
        (mask_file,) = acq.mask_files  # without rois, the one label map
        count = counts[mask_file]
        if not count:
            raise StudyError(f"{where}: mask {mask_file.name} is empty (no non-zero label, no ROI)")
        for label in acq.labels or ():
            if label not in count:
                raise StudyError(f"{where}: label {label} is absent from mask {mask_file.name} "
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
