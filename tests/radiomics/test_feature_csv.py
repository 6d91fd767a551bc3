"""Feature CSVs as spreadsheets export them: repeated header rows, stray text cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustlab.radiomics.study import StudyError, read_feature_csv

HEADER = "ID,Image,Mask,diagnostics_Versions_PyRadiomics,original_firstorder_Mean,original_glcm_Contrast"


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_repeated_header_rows_are_dropped_with_a_warning(tmp_path: Path) -> None:
    path = _write(tmp_path / "export.csv", [
        "a,i.nii,m.nii,3.0.1,10.5,1.25",
        "b,i.nii,m.nii,3.0.1,11.5,1.5",
        HEADER,
        "c,i.nii,m.nii,3.0.1,12.5,1.75",
        HEADER,
        "d,i.nii,m.nii,3.0.1,13.5,2.0",
    ])
    with pytest.warns(UserWarning, match=r"export\.csv: dropped 2 row\(s\) repeating the header, at line\(s\) 4, 6"):
        table = read_feature_csv(path, None, "acq")
    assert table.index.tolist() == ["1", "2", "3", "4"]
    assert table["original_firstorder_Mean"].tolist() == [10.5, 11.5, 12.5, 13.5]
    assert table.dtypes.unique().tolist() == ["float64"]
    with pytest.warns(UserWarning, match="repeating the header"):
        by_id = read_feature_csv(path, "ID", "acq")
    assert by_id.index.tolist() == ["a", "b", "c", "d"]


def test_a_text_cell_names_file_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.csv", [
        "a,i.nii,m.nii,3.0.1,10.5,1.25",
        "b,i.nii,m.nii,3.0.1,11.5,#DIV/0!",
        "c,i.nii,m.nii,3.0.1,12.5,1.75",
    ])
    with pytest.raises(StudyError, match=r"acq: .*bad\.csv: line 3, column 'original_glcm_Contrast' "
                                         r"is not a number: '#DIV/0!'"):
        read_feature_csv(path, None, "acq")


def test_empty_cells_stay_missing_values(tmp_path: Path) -> None:
    path = _write(tmp_path / "gaps.csv", ["a,i.nii,m.nii,3.0.1,10.5,", "b,i.nii,m.nii,3.0.1,11.5,1.5"])
    with pytest.warns(UserWarning, match=r"1 missing cell\(s\).*line 2, column 'original_glcm_Contrast'"):
        table = read_feature_csv(path, None, "acq")
    assert table["original_glcm_Contrast"].isna().tolist() == [True, False]
