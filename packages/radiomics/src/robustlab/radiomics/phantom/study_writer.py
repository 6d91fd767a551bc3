"""Writing simulated acquisitions (NIfTI) and the study file of the robust-feature pipeline."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import SimpleITK as sitk
import yaml

from robustlab.common.errors import ConfigError
from robustlab.common.io import atomic_path, write_json, write_text
from robustlab.radiomics.phantom.acquisition import SimulatedAcquisition

if TYPE_CHECKING:
    from robustlab.radiomics.extraction.params import Extraction
    from robustlab.radiomics.phantom.protocol import AcquisitionSpec, StudyPlan

HEADER = """\
# Study file written by robustlab.radiomics.phantom.simulate_study: a digital twin of the
# multicentre T2-weighted pelvic-phantom experiment of arXiv 2005.06833.
# `published` holds the shares (%) of features with excellent agreement reported in that
# paper's abstract (arXiv 2005.06833); the report prints the simulated shares beside them.
"""


def mask_name(acq_id: str, size: int) -> str:
    """The study-relative path of the label map of ROI size ``size`` (from 0) of an acquisition."""
    return f"masks/{acq_id}_size{size + 1}.nii.gz"


def sidecar_path(out_dir: Path, acq_id: str) -> Path:
    """The metadata file written last beside an acquisition (its completion mark)."""
    return out_dir / "images" / f"{acq_id}.json"


def acquisition_paths(out_dir: Path, acq_id: str, n_sizes: int) -> list[Path]:
    """Every file of one acquisition: its image, a label map per ROI size, its sidecar."""
    return [out_dir / "images" / f"{acq_id}.nii.gz",
            *(out_dir / mask_name(acq_id, j) for j in range(n_sizes)),
            sidecar_path(out_dir, acq_id)]


def read_sidecar(out_dir: Path, acq_id: str) -> dict[str, Any] | None:
    """The metadata written beside an acquisition, or ``None`` when absent or unreadable."""
    path = sidecar_path(out_dir, acq_id)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def as_image(array: np.ndarray, spacing_mm: tuple[float, float, float],
             origin_mm: tuple[float, float, float]) -> sitk.Image:
    """A ``(nz, ny, nx)`` array as an ITK image with spacing, origin and identity direction."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in spacing_mm))
    image.SetOrigin(tuple(float(o) for o in origin_mm))
    image.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    return image


def write_nifti(path: Path, array: np.ndarray, spacing_mm: tuple[float, float, float],
                origin_mm: tuple[float, float, float]) -> Path:
    """Write a ``(nz, ny, nx)`` array (:func:`as_image`) as gzipped NIfTI.

    ITK picks its writer from the file name, so the image goes to a ``.nii.gz`` name inside
    the atomic temporary and is then moved onto it.
    """
    image = as_image(array, spacing_mm, origin_mm)
    with atomic_path(path) as tmp:
        named = tmp.with_name(tmp.name + ".nii.gz")
        try:
            sitk.WriteImage(image, str(named), True, 1)
            os.replace(named, tmp)
        finally:
            if named.exists():
                named.unlink()
    return path


def write_acquisition(out_dir: Path, acq: AcquisitionSpec, sim: SimulatedAcquisition,
                      digest: str) -> None:
    """Write the image (int16, rounded), a label map per ROI size and the sidecar (last: the
    completion mark)."""
    image_path, *mask_paths, sidecar = acquisition_paths(out_dir, acq.id, len(sim.mask))
    image = np.clip(np.rint(sim.image), 0, np.iinfo(np.int16).max).astype(np.int16)
    write_nifti(image_path, image, sim.spacing_mm, sim.origin_mm)
    for path, labels in zip(mask_paths, sim.mask, strict=True):
        write_nifti(path, labels.astype(np.int16), sim.spacing_mm, sim.origin_mm)
    write_json(sidecar, {
        "id": acq.id, "digest": digest, "scanner": acq.scanner.name, "vendor": acq.scanner.vendor,
        "field_strength": acq.scanner.field_t, "mode": acq.mode, "te": acq.te_ms, "tr": acq.tr_ms,
        "spacing_mm": list(sim.spacing_mm), "matrix": list(acq.grid.matrix),
        "n_slices": acq.grid.n_slices, "roi_slices": [acq.rois.roi_block.start, acq.rois.roi_block.stop],
        "roi_diameters_mm": list(acq.rois.diameters_mm),
        **({"roi_step": dict(zip(("normal_deg", "offset_mm"), acq.rois.step, strict=True))}
           if acq.rois.step is not None else {}),
        "session": acq.session,
        "pose": {"rotation_deg": acq.pose.rotation_deg,
                 "translation_mm": list(acq.pose.translation_mm)},
        "noise_sigma": sim.noise_sigma,
    })


def study_document(plan: StudyPlan) -> dict[str, Any]:
    """The study file's content (see the pipeline's study-file format)."""
    acquisitions = {}
    for acq_id, a in plan.acquisitions.items():
        n_inserts, n_sizes = len(plan.phantom.inserts), len(a.rois.diameters_mm)
        entry: dict[str, Any] = {
            "image": f"images/{acq_id}.nii.gz",
            "rois": {str(a.rois.label(i, j)): {"file": mask_name(acq_id, j), "label": a.rois.label(i, j)}
                     for i in range(n_inserts) for j in range(n_sizes)},
            "scanner": a.scanner_key,
            "field_strength": a.scanner.field_t,
            "vendor": a.scanner.vendor,
            "repetition": a.repetition,
            "position": a.position,
            "te": a.te_ms,
            "tr": a.tr_ms,
            "mode": a.mode,
        }
        if a.mode == "3D":
            entry["extraction"] = plan.extraction_3d
        if a.extraction is not None:  # the acquisition's own settings refine the inherited ones
            entry["extraction"] = (a.extraction if not isinstance(a.extraction, dict) or a.mode == "2D"
                                   else {"file": plan.extraction_3d, **a.extraction})
        acquisitions[acq_id] = entry
    sizes = ", ".join(f"{d:g}" for d in plan.rois.diameters_mm)
    doc: dict[str, Any] = {
        "name": plan.name,
        "description": (
            f"Simulated phantom study ({plan.phantom.name} phantom, seed {plan.seed}): "
            f"{len(plan.acquisitions)} acquisitions, {len(plan.phantom.inserts)} inserts x "
            f"{len(plan.rois.diameters_mm)} ROI sizes ({sizes} mm across, or an acquisition's own "
            "diameters_mm). ROI label = "
            "10 x insert + size (1 = largest); the sizes of an insert are nested on the same "
            "slices, each size in its own mask file."
        ),
        "threshold": plan.threshold,
        "roi_column": None,
        "extraction": plan.extraction,
        # a scanner without acquisitions in this plan (a subset of a protocol) is left out: a
        # study file names only the scanners of its acquisitions
        **({"scanners": scanners} if (scanners := {
            k: {"extraction": v} for k, v in plan.scanner_extraction.items()
            if any(a.scanner_key == k for a in plan.acquisitions.values())}) else {}),
        "acquisitions": acquisitions,
        "comparisons": plan.comparisons,
    }
    if plan.published:
        doc["published"] = plan.published
    return doc


def acquisition_extractions(plan: StudyPlan) -> dict[str, tuple[Extraction | None, str]]:
    """Each acquisition's effective extraction settings, resolved as the study file will give
    them (the study's, refined by its scanner's, refined by its own), with the protocol key they
    come from: ``{id: (Extraction or None, key)}``.

    Raises:
        ConfigError: a parameter file is unknown or a value malformed (naming the key).
    """
    from robustlab.radiomics.extraction.params import ExtractionSpec, parse_extraction
    from robustlab.radiomics.study.bundled import resolve_extraction

    doc, base = study_document(plan), Path.cwd()

    def spec(value: Any, where: str, inherited: ExtractionSpec) -> ExtractionSpec:
        try:
            return parse_extraction(value, base, where, inherited, resolve_extraction)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    study = spec(doc["extraction"], "protocol.extraction", ExtractionSpec())
    scanners = {k: (spec(v["extraction"], f"protocol.scanners.{k}.extraction", study),
                    f"protocol.scanners.{k}.extraction") for k, v in doc.get("scanners", {}).items()}
    out = {}
    for aid, entry in doc["acquisitions"].items():
        inherited, where = scanners.get(entry["scanner"], (study, "protocol.extraction"))
        if plan.acquisitions[aid].extraction is not None:
            where = f"protocol.acquisitions.{aid}.extraction"
        out[aid] = (spec(entry.get("extraction"), where, inherited).resolve(), where)
    return out


def check_extractions(plan: StudyPlan) -> None:
    """Each acquisition's extraction settings (:func:`acquisition_extractions`) checked by
    pyradiomics' schema now: a bad setting in a protocol is a one-line ``ConfigError`` before
    any simulation.
    """
    from robustlab.radiomics.extraction.params import check_extraction

    checked = set()
    for extraction, where in acquisition_extractions(plan).values():
        if extraction is not None and extraction not in checked:
            checked.add(extraction)
            try:
                check_extraction(extraction, where)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None


def write_study_yaml(out_dir: Path, plan: StudyPlan) -> Path:
    """Write ``study.yaml`` atomically; return its path."""
    text = HEADER + yaml.safe_dump(study_document(plan), sort_keys=False, default_flow_style=None,
                                   width=100)
    return write_text(Path(out_dir) / "study.yaml", text)
