"""Reading images: a NIfTI, NRRD or MHA file, or a folder holding one DICOM series.

The one part of the study package that extraction workers import (they read the images
validation checked). A file whose header declares more voxel bytes than a memory budget is
refused from its header alone, before a byte of its voxels is read or decompressed: a 4 MB
``.nii.gz`` can declare 1024^3 float voxels (4 GiB), and was read until memory ran out.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from robustlab.radiomics.errors import StudyError

#: The most voxel bytes one image file may declare (2 GiB: 512 x 512 x 2048 floats). An image
#: is held several times during its extraction (as read, normalized, cropped), in every process.
IMAGE_BUDGET = 2 * 1024**3


def declared_size(path: Path) -> tuple[tuple[int, ...], str, int] | None:
    """``(voxel grid, voxel type, bytes)`` of an image file, read from its header alone
    (SimpleITK's ``ImageFileReader.ReadImageInformation``); None when the header does not read
    (the full read then says why)."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return None
    kind = sitk.GetPixelIDValueAsString(reader.GetPixelID())
    bits = re.search(r"(\d+)-bit", kind)
    per_voxel = (int(bits.group(1)) // 8 if bits else 1) * reader.GetNumberOfComponents()
    size = tuple(int(n) for n in reader.GetSize())
    return size, kind, per_voxel * (2 if kind.startswith("complex") else 1) * math.prod(size)


def check_budget(path: Path, where: str, budget: int) -> None:
    """Raise when the header of the image file ``path`` declares more than ``budget`` bytes of
    voxels (a DICOM folder is not checked: its slices are files of their own)."""
    declared = declared_size(path) if path.is_file() else None
    if declared is not None and declared[2] > budget:
        size, kind, n_bytes = declared
        raise StudyError(f"{where}: {path} declares {' x '.join(map(str, size))} voxels of {kind} "
                         f"({_in_units(n_bytes)}), more than the memory budget of "
                         f"{_in_units(budget)} for one image (image_budget); nothing of it was read")



def read_image(path: Path, where: str, budget: int | None = IMAGE_BUDGET) -> Any:
    """Read an image with SimpleITK: a NIfTI/NRRD/MHA file, or a folder holding a DICOM series.

    Args:
        budget: the most voxel bytes its header may declare (:func:`check_budget`; None: not
            checked).
    """
    import SimpleITK as sitk

    if not path.exists():
        raise StudyError(f"{where}: file {path} does not exist")
    if budget is not None:
        check_budget(path, where, budget)
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


def _in_units(n_bytes: float) -> str:
    """``n_bytes`` in the largest binary unit that keeps it at least 1 (``4.0 GiB``)."""
    for unit in ("B", "KiB", "MiB"):
        if n_bytes < 1024:
            return f"{n_bytes:.1f} {unit}" if unit != "B" else f"{int(n_bytes)} B"
        n_bytes /= 1024
    return f"{n_bytes:.1f} GiB"
