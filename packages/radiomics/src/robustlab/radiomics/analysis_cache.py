"""A cache of finished analyses: a rerun of an unchanged study restores its outputs.

Every output of :func:`robustlab.radiomics.study_analysis.analyse` (tables, figures, report) is a
function of the loaded study, the content of every file it reads, the extracted features
(named by the cache keys of the work items), the options, and the code and libraries that
compute them. Once the features are cached, the statistics and the writing of tables and
figures are most of a rerun's time; a rerun whose inputs hash to a stored analysis copies its
files into the new output folder instead.

The key is the SHA-256 of: the loaded study (its paths, comparisons, thresholds), the content
hash of every file it reads, the ordered work items (acquisition, ROI, perturbation, feature
cache key), the options, the source of ``robustlab.radiomics`` and ``robustlab.common``, and the
NumPy, pandas, SciPy and PyArrow versions. Changing any of them misses.

An entry is a folder ``<root>/<key[:2]>/<key>/`` holding the output files, ``tables/<name>.parquet``
(the result's tables) and ``manifest.json`` (the SHA-256 of every other file, and which tables
are absent). It is built in a temporary folder and renamed into place (a reader never sees half
an entry) and verified on read: a missing or altered file reads as a miss, and the analysis
runs again. Nothing in an entry is a pickle: a cache folder is often shared, and its manifest
sits beside the files it checks, so it proves integrity, not origin. Parquet and JSON are read
as data only; a table that does not read as Parquet is a miss like any other corruption.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from robustlab.common.hashing import file_hash, tree_hash
from robustlab.common.io import atomic_path, shared_mode
from robustlab.radiomics.extraction.cache import make_key

if TYPE_CHECKING:
    from robustlab.radiomics.extraction.items import WorkItem
    from robustlab.radiomics.options import Options
    from robustlab.radiomics.result import StudyResult
    from robustlab.radiomics.study import ValidatedStudy

log = logging.getLogger(__name__)
FORMAT = 2
TABLES = ("summary", "per_feature", "robust", "selection", "features", "failures", "shape",
          "texture", "wcv_by_size", "band_counts")


def code_hash() -> str:
    """SHA-256 of the source files of ``robustlab.radiomics`` and ``robustlab.common``, and of the
    tables shipped with ``robustlab.radiomics`` (the phantom's calibration, shown in the report)."""
    import robustlab.common
    import robustlab.radiomics

    roots = [Path(package.__path__[0]) for package in (robustlab.common, robustlab.radiomics)]
    return tree_hash(roots) + tree_hash(roots[1:], pattern="*.csv")


def analysis_key(validated: ValidatedStudy, items: Sequence[WorkItem], options: Options,
                 shuffled: Sequence[str]) -> str:
    """The key of an analysis (see the module docstring for what it covers)."""
    # installed versions, whether or not imported yet (SciPy is imported where it is used)
    libraries = {name: _installed(name) for name in ("numpy", "pandas", "scipy", "pyarrow")}
    return make_key(
        format=FORMAT, study=repr(validated.study),
        files=sorted((str(p), h) for p, h in validated.hashes.items()),
        items=[(it.acquisition, it.roi, it.shuffle_seed, it.key, str(it.image), str(it.mask))
               for it in items],
        options=dataclasses.asdict(options), shuffled=list(shuffled), code=code_hash(),
        libraries=libraries)


def _installed(name: str) -> str | None:
    """The version of ``name``: the imported module's, else the installed distribution's."""
    import sys
    from importlib import metadata

    if name in sys.modules:
        return str(sys.modules[name].__version__)
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


class AnalysisCache:
    """Finished analyses under one directory.

    Args:
        root: the directory (created when missing).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """The folder of entry ``key``."""
        return self.root / key[:2] / key

    def put(self, key: str, result: StudyResult) -> Path:
        """Store ``result`` (its tables and its output files) under ``key``; return the folder."""
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=final.parent))
        try:
            os.chmod(staging, shared_mode(directory=True))  # mkdtemp's 0o700 would hide it from the lab
            files = {}
            for rel in result.outputs:
                target = staging / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(result.out_dir / rel, target)
                files[rel] = file_hash(target)
            (staging / "tables").mkdir()
            absent, text_columns = [], {}
            for name in TABLES:
                table = getattr(result, name)
                if table is None:
                    absent.append(name)
                    continue
                rel = f"tables/{name}.parquet"
                table.to_parquet(staging / rel)
                files[rel] = file_hash(staging / rel)
                text_columns[name] = [str(c) for c, t in table.dtypes.items() if t == np.dtype("O")]
            manifest = {"format": FORMAT, "key": key, "outputs": list(result.outputs),
                        "files": files, "absent_tables": absent, "object_columns": text_columns}
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=1))
            if final.exists():  # an older or corrupt entry of the same key
                shutil.rmtree(final)
            os.replace(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return final

    def get(self, key: str, out_dir: Path) -> dict[str, Any] | None:
        """Copy the stored outputs of ``key`` into ``out_dir``; return the stored tables.

        Returns:
            ``{"outputs": [...], <table name>: DataFrame or None, ...}``, or None when the
            entry is absent or does not verify (then nothing is written).
        """
        entry = self.path(key)
        manifest_path = entry / "manifest.json"
        if not manifest_path.is_file():
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
            copies = _planned_copies(entry, manifest, out_dir)
            ok = manifest.get("format") == FORMAT and manifest.get("key") == key and all(
                file_hash(_inside(entry, rel)) == digest for rel, digest in manifest["files"].items())
            tables = _read_tables(entry, manifest) if ok else None
        except UnsafePath as exc:
            log.warning("stored analysis %s lists %s; the analysis runs again", entry, exc)
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            tables = None
        if tables is None:
            log.warning("stored analysis %s is corrupt; the analysis runs again", entry)
            return None
        for source, target in copies:
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
        return {"outputs": list(manifest["outputs"]), **tables}


class UnsafePath(ValueError):
    """A path in a stored manifest that is absolute, climbs with ``..``, or leaves its folder."""


def _inside(base: Path, rel: object) -> Path:
    """``base / rel`` resolved, when ``rel`` is a relative path that stays under ``base``.

    A manifest sits in a cache folder that others can write: its text is not trusted to name
    a path. Absolute paths, ``..`` parts and symbolic links that lead out of ``base`` raise
    :class:`UnsafePath`.
    """
    from pathlib import PurePosixPath, PureWindowsPath

    if not isinstance(rel, str) or not rel or "\0" in rel:
        raise UnsafePath(f"the path {rel!r}, not a relative file name")
    # Windows' reading splits on both "/" and "\\", and sees "C:/x" and "//host/x" as absolute.
    if PurePosixPath(rel).is_absolute() or PureWindowsPath(rel).anchor or ".." in PureWindowsPath(rel).parts:
        raise UnsafePath(f"the unsafe path {rel!r} (absolute or with '..')")
    try:
        root = base.resolve()
        target = (root / rel).resolve()
    except (RuntimeError, OSError) as exc:  # a link loop: RuntimeError before Python 3.13
        raise UnsafePath(f"the path {rel!r}, which does not resolve ({exc})") from None
    if target == root or not target.is_relative_to(root):
        raise UnsafePath(f"the path {rel!r}, which leads out of {root}")
    return target


def _planned_copies(entry: Path, manifest: dict[str, Any], out_dir: Path) -> list[tuple[Path, Path]]:
    """``(stored file, target under out_dir)`` of every output; each output a checked file."""
    outputs, files = manifest["outputs"], manifest["files"]
    if not isinstance(outputs, list) or not isinstance(files, dict):
        raise TypeError("manifest outputs must be a list and files a mapping")
    for rel in files:
        _inside(entry, rel)
    unchecked = [rel for rel in outputs if rel not in files]
    if unchecked:
        raise UnsafePath(f"the output {unchecked[0]!r}, which is not among its checked files")
    return [(_inside(entry, rel), _inside(out_dir, rel)) for rel in outputs]


def _read_tables(entry: Path, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The stored tables (Parquet, read as data), or None when one is missing or unreadable."""
    import pandas as pd
    import pyarrow

    absent = set(manifest.get("absent_tables", []))
    tables: dict[str, Any] = {}
    for name in TABLES:
        rel = f"tables/{name}.parquet"
        if name in absent:
            tables[name] = None
        elif rel not in manifest["files"]:
            return None
        else:
            try:
                table = pd.read_parquet(entry / rel)
            except pyarrow.ArrowException:
                return None
            # Parquet keeps text, not pandas' object dtype: give the columns back what they had.
            objects = [c for c in table.columns if str(c) in manifest["object_columns"].get(name, ())]
            tables[name] = table.astype(dict.fromkeys(objects, object)) if objects else table
    return tables
