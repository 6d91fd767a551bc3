"""pyradiomics feature CSVs: the feature columns, the wide table, the identifier columns.

A feature CSV stands for an acquisition whose features were extracted elsewhere (a
pyradiomics batch output, one row per ROI). Every error names the file, the line and the
column at fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from robustlab.radiomics.errors import StudyError

if TYPE_CHECKING:  # pandas is imported where used
    import pandas as pd


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
