"""Fuzzing the feature-CSV reader with tables of random columns and cells.

Columns are drawn from pyradiomics feature names, identifier and diagnostics columns and
junk names, repeats included; cells from finite numbers of any magnitude, integers, missing
markers, infinities, text, and copies of the header row. The reader returns a table whose
every number is exactly the number written, or raises one one-line project error; a repeated
column, a text cell or an infinite cell in a feature column is always refused.
"""

from __future__ import annotations

import csv
import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustlab.radiomics.errors import StudyError
from robustlab.radiomics.study import feature_columns, read_feature_csv
from tests.fuzz._contract import check_project_error, fuzz_settings

pytestmark = pytest.mark.fuzz

FEATURES = ["original_firstorder_Mean", "original_glcm_Idmn", "wavelet-LLH_glrlm_RunEntropy",
            "log-sigma-1-0-mm-3D_ngtdm_Busyness"]
OTHERS = ["ID", "Image", "Mask", "Label", "diagnostics_Versions_PyRadiomics", "roi"]
JUNK = ["foo", "original_firstorder_Mean.1", "a b_c d_e", "x,y_z_w", 'q"t_a_b']
MISSING = ["", "NA", "nan", "NaN", "N/A"]
INFINITE = ["inf", "-inf", "1e400", "-1e999", "Infinity"]
TEXT = ["abc", "#DIV/0!", "1,5", "--1", "0x10"]


def _cell():
    return st.one_of(
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.integers(-(2**53), 2**53).map(str),
        st.sampled_from(MISSING), st.sampled_from(INFINITE), st.sampled_from(TEXT),
    )


@st.composite
def tables(draw):
    header = draw(st.lists(st.sampled_from(FEATURES + OTHERS + JUNK), min_size=1, max_size=6))
    n_rows = draw(st.integers(0, 5))
    rows = []
    for _ in range(n_rows):
        if draw(st.integers(0, 9)) == 0:
            rows.append(list(header))  # a repeated header row
        else:
            rows.append([draw(st.sampled_from(["r1", "r2", "r3"])) if name in OTHERS else draw(_cell())
                         for name in header])
    roi_column = draw(st.sampled_from([None, "roi", "ID"]))
    return header, rows, roi_column


def _expected_number(cell: str) -> float | None:
    """The number a cell holds (NaN: missing), or None when it is not a finite number."""
    if cell in MISSING:
        return math.nan
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@fuzz_settings
@given(table=tables())
def test_a_feature_csv_reads_exactly_or_is_refused_in_one_line(table):
    header, rows, roi_column = table
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # repeated headers and missing cells are reported so
            try:
                got = read_feature_csv(path, roi_column, "acq")
            except StudyError as exc:
                check_project_error(exc)
                return
            except Exception as exc:  # noqa: BLE001 - the contract is checked on any exception
                check_project_error(exc)
    # Read: the header had no repeats, and every kept cell of a feature column is a finite
    # number or missing, read exactly.
    assert len(set(header)) == len(header), f"repeated column accepted: {header}"
    kept = [r for r in rows if r != header]
    wanted = feature_columns(header, roi_column)
    assert list(got.columns) == wanted
    assert got.shape == (len(kept), len(wanted))
    assert got.index.is_unique
    for j, name in enumerate(wanted):
        column = header.index(name)
        for i, row in enumerate(kept):
            expected = _expected_number(row[column])
            assert expected is not None, f"cell {row[column]!r} of {name!r} accepted"
            value = got.iloc[i, j]
            assert (math.isnan(expected) and math.isnan(value)) or value == expected, (
                f"{name!r} row {i}: wrote {row[column]!r}, read {value!r}")
    assert not np.isinf(got.to_numpy()).any()
