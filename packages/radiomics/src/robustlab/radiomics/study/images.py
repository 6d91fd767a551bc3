"""Reading images: a NIfTI, NRRD or MHA file, or a folder holding one DICOM series.

The one part of the study package that extraction workers import (they read the images
validation checked).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustlab.radiomics.errors import StudyError


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
