"""Checks that stop a damaged input before it gives a silently wrong result.

- **Complete image files.** ITK reads a truncated ``.nii.gz`` without an error and fills the
  missing voxels with zeros (a scan cut at a third reads with 64 % of its voxels zero). While a
  file is hashed, :func:`image_file_hash` also decompresses it: the gzip stream must end with its
  end-of-stream marker, CRC-32 and length (RFC 1952), and the NIfTI or NRRD payload must hold
  every voxel its header declares.
- **Finite ROIs.** One NaN voxel changes most features of its ROI; :func:`check_finite` names
  the acquisition, the label and the count of non-finite voxels in every ROI. ITK reads a NaN
  of a NIfTI file as 0, so a NIfTI file's voxels are also looked at as they are stored.
- **Rows paired by order.** Feature CSVs without ``roi_column`` are paired row by row;
  :func:`check_row_pairing` compares the identifier columns pyradiomics writes (``ID``,
  ``Image``, ``Mask``, ``Label``) so that files sorted differently are not compared.
- **Enough ROIs.** An agreement statistic needs two ROIs at least; :func:`check_enough_rois`
  stops a comparison that failed extractions left with fewer, instead of a row of 0 % excellent.

References:
    Deutsch P. (1996). GZIP file format specification version 4.3, RFC 1952.
    Cox R.W. et al. (2004). A (sort of) new image data format standard: NIfTI-1.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from robustlab.common.hashing import file_hash
from robustlab.radiomics.errors import StudyError

if TYPE_CHECKING:
    import pandas as pd

#: Identifier columns of a pyradiomics batch output (its input columns, carried over).
IDENTIFIER_COLUMNS = ("ID", "Image", "Mask", "Label")
_NRRD_TYPES = {
    "signed char": 1, "int8": 1, "int8_t": 1, "uchar": 1, "unsigned char": 1, "uint8": 1,
    "uint8_t": 1, "short": 2, "short int": 2, "signed short": 2, "int16": 2, "int16_t": 2,
    "ushort": 2, "unsigned short": 2, "uint16": 2, "uint16_t": 2, "int": 4, "signed int": 4,
    "int32": 4, "int32_t": 4, "uint": 4, "unsigned int": 4, "uint32": 4, "uint32_t": 4,
    "longlong": 8, "long long": 8, "int64": 8, "int64_t": 8, "ulonglong": 8, "uint64": 8,
    "unsigned long long": 8, "uint64_t": 8, "float": 4, "double": 8,
}


@dataclass(frozen=True)
class ImageFile:
    """What :func:`image_file_hash` learnt of a file.

    Attributes:
        sha256: the content hash.
        nonfinite: flat (C-order, ``z, y, x``) indices of the NaN or infinite voxels as stored
            in a floating-point NIfTI file (None for other files).
    """

    sha256: str
    nonfinite: np.ndarray | None = None


_NIFTI_FLOATS = {16: "f4", 64: "f8"}


def image_file_hash(path: Path, where: str, verdicts: Path | None = None) -> ImageFile:
    """SHA-256 of an image file, checked complete on the way (see the module docstring).

    A DICOM folder is hashed file by file and not checked here (SimpleITK reads every slice).

    Args:
        verdicts: a folder keeping the result for each content hash (a rerun on the same
            files hashes them and reads the result instead of decompressing them again).

    Raises:
        StudyError: a truncated or corrupt compressed stream, or fewer voxel bytes than the
            header declares; the message names the file.
    """
    if path.is_dir():
        return ImageFile(file_hash(path))
    if verdicts is None:
        return _check_file(path, where)
    known = _read_verdict(verdicts, file_hash(path))
    if known is not None:
        return known
    checked = _check_file(path, where)
    from robustlab.common.io import write_json

    write_json(verdicts / checked.sha256[:2] / f"{checked.sha256}.json",
               {"format": 1, "sha256": checked.sha256,
                "nonfinite": None if checked.nonfinite is None else checked.nonfinite.tolist()})
    return checked


def _read_verdict(verdicts: Path, digest: str) -> ImageFile | None:
    """The stored result of a file with content hash ``digest`` (None: absent or unreadable)."""
    import json

    try:
        stored = json.loads((verdicts / digest[:2] / f"{digest}.json").read_text())
        if stored["format"] != 1 or stored["sha256"] != digest:
            return None
        nonfinite = stored["nonfinite"]
        return ImageFile(digest, None if nonfinite is None else np.asarray(nonfinite, dtype=np.int64))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _check_file(path: Path, where: str) -> ImageFile:
    """:func:`image_file_hash` without the stored results."""
    name = path.name.lower()
    if name.endswith(".nrrd"):
        data = path.read_bytes()
        _check_nrrd(data, path, where)
        return ImageFile(hashlib.sha256(data).hexdigest())
    nifti = name.endswith((".nii", ".nii.gz"))
    digest, content = _hash_and_inflate(path, where, gzipped=name.endswith(".gz"), keep=nifti)
    if not nifti:
        return ImageFile(digest)
    header = _nifti_header(bytes(content[:544]))
    if header is None:
        return ImageFile(digest)
    order, datatype, offset, expected = header
    if len(content) < expected:
        raise StudyError(f"{where}: {path} is truncated: its NIfTI header declares {expected} "
                         f"bytes of header and voxels, the file holds {len(content)}; write it again")
    if datatype not in _NIFTI_FLOATS:
        return ImageFile(digest)
    voxels = np.frombuffer(content, dtype=order + _NIFTI_FLOATS[datatype],
                           count=(expected - offset) // int(_NIFTI_FLOATS[datatype][1]), offset=offset)
    return ImageFile(digest, np.flatnonzero(~np.isfinite(voxels)))


def _hash_and_inflate(path: Path, where: str, gzipped: bool, keep: bool) -> tuple[str, bytearray]:
    """``(sha256 of the file, its content)``, inflating gzip; the content is kept when ``keep``
    (else only its first kilobyte: a NIfTI header), with its length padded by zeros."""
    h = hashlib.sha256()
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    content, size = bytearray(), 0
    with open(path, "rb") as fh:
        try:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
                while inflater is not None and chunk:
                    out = inflater.decompress(chunk)
                    chunk = inflater.unused_data if inflater.eof else b""
                    if inflater.eof and chunk:  # a second gzip member follows
                        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    content += out if keep else out[: max(0, 1024 - len(content))]
                    size += len(out)
                if inflater is None:
                    content += chunk if keep else chunk[: max(0, 1024 - len(content))]
                    size += len(chunk)
        except zlib.error as exc:
            raise StudyError(f"{where}: {path} is corrupt: its gzip stream does not verify "
                             f"({exc}); write it again") from exc
    if inflater is not None and not inflater.eof:
        raise StudyError(f"{where}: {path} is truncated: its gzip stream ends before its "
                         "end-of-stream marker and checksum; write it again")
    if len(content) < size:
        content += bytes(size - len(content))  # only the length counts beyond the header
    return h.hexdigest(), content


def _nifti_header(head: bytes) -> tuple[str, int, int, int] | None:
    """``(byte order, datatype, voxel offset, header + voxel bytes)`` of a single-file NIfTI-1
    or NIfTI-2 header, or None when ``head`` is not one."""
    for order in "<>":
        if len(head) >= 348 and struct.unpack(order + "i", head[:4])[0] == 348 \
                and head[344:347] == b"n+1":
            dims = struct.unpack(order + "8h", head[40:56])
            datatype, bitpix = struct.unpack(order + "2h", head[70:74])
            offset = int(struct.unpack(order + "f", head[108:112])[0])
        elif len(head) >= 540 and struct.unpack(order + "i", head[:4])[0] == 540 \
                and head[4:7] == b"n+2":
            datatype, bitpix = struct.unpack(order + "2h", head[12:16])
            dims = struct.unpack(order + "8q", head[16:80])
            offset = struct.unpack(order + "q", head[168:176])[0]
        else:
            continue
        n = int(np.prod([max(d, 1) for d in dims[1: dims[0] + 1]], dtype=np.int64)) \
            if 0 < dims[0] <= 7 else 0
        return order, int(datatype), int(offset), int(offset) + n * int(bitpix) // 8
    return None


def _check_nrrd(data: bytes, path: Path, where: str) -> None:
    """Raise when an attached NRRD payload (raw or gzip) holds fewer bytes than declared."""
    end = data.find(b"\n\n")
    if not data.startswith(b"NRRD") or end < 0:
        return
    fields = {}
    for line in data[:end].decode("latin-1").splitlines()[1:]:
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.lstrip("=").strip()
    if "data file" in fields or "datafile" in fields:
        return  # detached data: ITK reads (and checks) that file
    size = _NRRD_TYPES.get(fields.get("type", "").lower())
    sizes = [int(s) for s in re.findall(r"\d+", fields.get("sizes", ""))]
    if size is None or not sizes:
        return
    expected = size * int(np.prod(sizes, dtype=np.int64))
    payload = data[end + 2:]
    encoding = fields.get("encoding", "raw").lower()
    if encoding in ("gzip", "gz"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            payload = inflater.decompress(payload)
        except zlib.error as exc:
            raise StudyError(f"{where}: {path} is corrupt: its gzip data does not verify ({exc})") from exc
        if not inflater.eof:
            raise StudyError(f"{where}: {path} is truncated: its gzip data ends before its "
                             "end-of-stream marker and checksum; write it again")
    elif encoding != "raw":
        return
    if len(payload) < expected:
        raise StudyError(f"{where}: {path} is truncated: its NRRD header declares {expected} "
                         f"voxel bytes, the file holds {len(payload)}; write it again")


def nonfinite_voxels(image: np.ndarray, stored: np.ndarray | None = None) -> np.ndarray:
    """Flat indices of the NaN or infinite voxels of ``image``, and of those ``stored`` in its
    file (:attr:`ImageFile.nonfinite`: what ITK read as 0)."""
    found = (np.flatnonzero(~np.isfinite(image)) if np.issubdtype(image.dtype, np.floating)
             else np.empty(0, dtype=np.int64))
    if stored is not None and len(stored) and stored.max() < image.size:
        found = np.union1d(found, stored)
    return found


def check_finite(bad: np.ndarray, labels: np.ndarray, wanted: Sequence[int], where: str) -> None:
    """Raise when a voxel of a ROI in ``wanted`` is NaN or infinite (names label and count).

    Args:
        bad: flat indices of the non-finite voxels (:func:`nonfinite_voxels`).
        labels: the mask, as an array of the image's shape.
    """
    if not len(bad):
        return
    found, counts = np.unique(labels.ravel()[bad], return_counts=True)
    size = dict(zip(*np.unique(labels, return_counts=True), strict=True))
    hits = [(int(v), int(c)) for v, c in zip(found, counts, strict=True) if int(v) in set(wanted)]
    if hits:
        detail = ", ".join(f"label {v}: {c} of {size[v]} voxels" for v, c in hits)
        raise StudyError(f"{where}: the image has non-finite voxels (NaN or inf) inside ROIs "
                         f"({detail}); every feature of such a ROI would be wrong: fix the image "
                         "or leave the label out with 'labels'")


def check_row_pairing(a: pd.DataFrame, b: pd.DataFrame, names: tuple[str, str],
                      files: tuple[Path, Path], where: str) -> None:
    """Raise when two feature CSVs paired by row order disagree on an identifier column.

    Only columns whose values are unique within each file and shared between the files say
    which row is which ROI; their values must then be equal row by row. (A column whose
    values all differ between the files, such as per-scan IDs or image paths, says nothing.)
    """
    for column in IDENTIFIER_COLUMNS:
        if column not in a.columns or column not in b.columns or len(a) != len(b):
            continue
        x, y = a[column].to_numpy(dtype=str), b[column].to_numpy(dtype=str)
        if len(set(x)) < len(x) or len(set(y)) < len(y) or not set(x) & set(y):
            continue
        differ = np.flatnonzero(x != y)
        if len(differ):
            i = int(differ[0])
            raise StudyError(
                f"{where}: the rows of {files[0].name} ({names[0]!r}) and {files[1].name} "
                f"({names[1]!r}) are paired by order (roi_column is not set), but column "
                f"{column!r} differs in {len(differ)} row(s), e.g. row {i + 1}: {x[i]!r} vs "
                f"{y[i]!r}; sort both files alike, or set roi_column: {column} to pair rows by it")


def check_enough_rois(comparisons: Sequence[Any], tables: Mapping[str, pd.DataFrame],
                      designed: Mapping[str, Sequence[str]], failures: pd.DataFrame,
                      minimum: Mapping[str, int], where: str) -> None:
    """Raise when failed extractions left a comparison unit too few ROIs for its statistic.

    A unit whose acquisitions share enough ROIs in the study (``designed``: acquisition -> its
    ROIs) but too few with features in every one of them (``tables``) would give a row of NaN,
    counted as 0 % excellent. (A study that compares fewer ROIs by design, e.g. to extract
    only, keeps its NaN row.)

    Args:
        minimum: statistic name -> its least number of ROIs.
    """
    for cmp in comparisons:
        need = minimum[cmp.statistic]
        for name, members in cmp.units():
            planned = set.intersection(*(set(designed[m]) for m in members))
            first = tables[members[0]]
            common = [r for r in first.index if all(r in tables[m].index for m in members)]
            if len(common) >= need or len(planned) < need:
                continue
            failed = failures[failures["acquisition"].isin(members)]
            lost = "; ".join(f"{a}:{r}" for a, r in zip(failed["acquisition"], failed["roi"],
                                                          strict=True)) or "none"
            raise StudyError(f"{where}: comparison {name!r} has {len(common)} ROI(s) with features "
                             f"in every acquisition; {cmp.statistic} needs at least {need} "
                             f"(failed ROIs: {lost}; see failures.csv)")
