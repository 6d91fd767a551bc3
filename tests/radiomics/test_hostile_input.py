"""Inputs that gave a silently wrong result: each is refused in one line, or reported as undefined."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from robustlab.radiomics.errors import StudyError
from robustlab.radiomics.study import load_study, read_feature_csv


@pytest.mark.parametrize("members", [
    {"acquisitions": ["a", "a"]},
    {"acquisitions": ["a", "b", "a"], "statistic": "icc"},
    {"pairs": [["a", "b"], ["b", "b"]]},
    {"pairs": "all", "acquisitions": ["a", "b", "a"]},
])
def test_a_comparison_of_an_acquisition_with_itself_is_refused(csv_study, members, edit_study):
    """Before: ICC 1 and 96 % excellent for an acquisition compared with itself."""
    def change(study):
        cmp = study["comparisons"][0]
        cmp.pop("acquisitions")
        cmp.update(members)

    study = edit_study(csv_study(), change)
    repeated = "b" if members.get("pairs", "all") != "all" else "a"
    with pytest.raises(StudyError, match=rf"comparison 'ab': compares acquisition '{repeated}' with "
                                         r"itself \(.*\); a comparison needs distinct acquisitions$"):
        load_study(study)


def test_a_column_repeated_in_a_feature_csv_names_file_and_column(tmp_path):
    """Before: pandas renamed the second copy 'original_firstorder_Mean.1', a feature of its own."""
    path = tmp_path / "dup.csv"
    path.write_text("original_firstorder_Mean,original_glcm_Idmn,original_firstorder_Mean\n"
                    "1.0,2.0,3.0\n1.5,2.5,3.5\n")
    with pytest.raises(StudyError, match=r"acq: .*dup\.csv: column 'original_firstorder_Mean' appears "
                                         r"twice in the header \(columns 1 and 3\); keep one$"):
        read_feature_csv(path, None, "acq")


@pytest.mark.parametrize("cell, shown", [("inf", "inf"), ("-inf", "-inf"), ("1e400", "inf"),
                                         ("-Infinity", "-inf")])
def test_an_infinite_cell_is_refused_naming_file_line_and_column(tmp_path, cell, shown):
    """Before: an infinite value made the feature undefined without a word (non-finite voxels
    are refused; non-finite cells now are too)."""
    path = tmp_path / "inf.csv"
    path.write_text(f"original_firstorder_Mean,original_glcm_Idmn\n1.0,2.0\n1.5,{cell}\n2.0,3.0\n")
    with pytest.raises(StudyError, match=rf"acq: .*inf\.csv: line 3, column 'original_glcm_Idmn' is "
                                         rf"not finite \({shown}; 1 such cell\(s\)\)"):
        read_feature_csv(path, None, "acq")


@pytest.mark.parametrize("cell", ["NA", "", "NaN", "nan", "N/A"])
def test_a_missing_cell_is_reported_and_its_feature_undefined(tmp_path, cell):
    """A missing value is not refused (pyradiomics leaves a feature it cannot compute empty),
    but it is no longer silent: one warning names the file, the count and the first cell."""
    path = tmp_path / "gap.csv"
    path.write_text(f"original_firstorder_Mean,original_glcm_Idmn\n1.0,2.0\n1.5,{cell}\n2.0,3.0\n")
    with pytest.warns(UserWarning, match=r"acq: .*gap\.csv: 1 missing cell\(s\) \(empty, NA or NaN\), the "
                                         r"first at line 3, column 'original_glcm_Idmn'; each such "
                                         "feature is undefined"):
        table = read_feature_csv(path, None, "acq")
    assert np.isnan(table["original_glcm_Idmn"].iloc[1])


def test_one_roi_per_acquisition_is_undefined_not_0_percent(csv_study, tmp_path, run):
    """Before: a study comparing one ROI reported 0 % excellent; the ICC is undefined there."""
    study = csv_study(n_rois=1)
    with pytest.warns(UserWarning, match=r"comparison 'ab' compares 1 ROI\(s\); icc needs at least "
                                         r"3: every feature's icc is undefined and pct_excellent "
                                         r"is NaN"):
        result = run(study, texture=False)
    row = result.summary.set_index("comparison").loc["ab"]
    assert np.isnan(row["pct_excellent"]) and row["band_undefined"] == row["n_features"] == 3
    written = pd.read_csv(tmp_path / "out" / "summary.csv").set_index("comparison")
    assert np.isnan(written.loc["ab", "pct_excellent"])


@pytest.mark.parametrize("statistic", ["icc", "ccc"])
def test_two_rois_are_too_few_for_an_icc_as_for_a_ccc(csv_study, edit_study, run, statistic):
    """Before: an ICC on 2 ROIs gave a share of excellent features (60 % in the two-site
    example) without a word, where a CCC on 2 ROIs warned and was undefined."""
    study = edit_study(csv_study(n_rois=2),
                       lambda s: s["comparisons"][0].update(statistic=statistic))
    with pytest.warns(UserWarning, match=rf"comparison 'ab' compares 2 ROI\(s\); {statistic} needs "
                                         rf"at least 3: every feature's {statistic} is undefined"):
        result = run(study, texture=False)
    assert np.isnan(result.summary.set_index("comparison").loc["ab", "pct_excellent"])


def test_enough_rois_give_no_warning_and_a_share(csv_study, tmp_path, run):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run(csv_study(n_rois=6), texture=False)
    assert result.summary["pct_excellent"].notna().all()


# --- image acquisitions ---------------------------------------------------------------------


def _shift_mask_origin(study, offset):
    import SimpleITK as sitk

    path = study.parent / "rep1_mask.nii.gz"
    mask = sitk.ReadImage(str(path))
    mask.SetOrigin(tuple(o + d for o, d in zip(mask.GetOrigin(), (offset, 0.0, 0.0), strict=True)))
    sitk.WriteImage(mask, str(path))


def test_a_mask_offset_within_geometry_tolerance_but_not_pyradiomics_is_refused_at_validation(
        image_study, tmp_path, run, extracted):
    """Before: 5e-5 mm passed validation (geometry_tolerance 1e-4), then pyradiomics refused
    every ROI after the extraction ('Image/Mask geometry mismatch')."""
    study = image_study()
    _shift_mask_origin(study, 5e-5)
    with pytest.raises(StudyError, match=r"acquisition 'rep1': rep1_mask\.nii\.gz vs rep1\.nii\.gz: mask "
                                         r"and image geometry differ beyond pyradiomics' tolerance "
                                         r"\(geometryTolerance 1e-06 of the spacing"):
        run(study, texture=False)
    assert extracted() == []  # before any extraction


def test_a_mask_offset_within_both_tolerances_is_extracted(image_study, tmp_path, run):
    """With pyradiomics' geometryTolerance raised in the study's extraction, validation and
    pyradiomics agree: every ROI is extracted."""
    from tests.radiomics.conftest import SMALL_PARAMS

    params = {**SMALL_PARAMS, "setting": {**SMALL_PARAMS["setting"], "geometryTolerance": 1e-4}}
    study = image_study(params=params)
    _shift_mask_origin(study, 5e-5)
    result = run(study, texture=False)
    assert result.failures is None or result.failures.empty
    assert result.summary["n_rois"].tolist() == [4]


def test_a_mask_offset_beyond_geometry_tolerance_is_refused_by_our_check(image_study, tmp_path,
                                                                         run):
    study = image_study()
    _shift_mask_origin(study, 5e-4)
    with pytest.raises(StudyError, match=r"acquisition 'rep1'.*mask origin .* differs from image "
                                         r"origin .* \(tolerance 0\.0001\)"):
        run(study, texture=False)


@pytest.mark.parametrize("kind", ["4d", "vector"])
def test_a_4d_or_vector_image_is_refused_at_validation_naming_the_file(image_study, tmp_path, kind,
                                                                       run, extracted):
    """Before: it passed validation and pyradiomics refused every ROI later."""
    import SimpleITK as sitk

    study = image_study()
    path = study.parent / "rep2.nii.gz"
    image = sitk.ReadImage(str(path))
    other = sitk.JoinSeries([image, image]) if kind == "4d" else sitk.Compose(image, image)
    sitk.WriteImage(other, str(path))
    shown = r"4-D image with 1 value\(s\)" if kind == "4d" else r"3-D image with 2 value\(s\)"
    with pytest.raises(StudyError, match=rf"acquisition 'rep2', key 'image': rep2\.nii\.gz is a {shown} "
                                         r"per voxel; pyradiomics reads a 2-D or 3-D image"):
        run(study, texture=False)
    assert extracted() == []


@pytest.mark.parametrize("where", ["study", "image", "features"])
def test_a_symbolic_link_loop_is_a_one_line_error(csv_study, image_study, tmp_path, where,
                                                  edit_study):
    """Before: RuntimeError('Symlink loop from ...') as a traceback."""
    import os

    study = image_study() if where == "image" else csv_study()
    root = study.parent
    os.symlink(root / "loop_b", root / "loop_a")
    os.symlink(root / "loop_a", root / "loop_b")
    if where == "study":
        os.symlink(root / "loop_c.yaml", root / "loop_d.yaml")
        os.symlink(root / "loop_d.yaml", root / "loop_c.yaml")
        study, pattern = root / "loop_c.yaml", r"study: cannot resolve the path '.*loop_c\.yaml': "
    elif where == "image":
        edit_study(study, lambda s: s["acquisitions"]["rep2"].update(image="loop_a/rep2.nii.gz"))
        pattern = r"acquisition 'rep2', key 'image': cannot resolve the path '.*loop_a/rep2\.nii\.gz': "
    else:
        edit_study(study, lambda s: s["acquisitions"]["b"].update(features="loop_a"))
        pattern = r"acquisition 'b', key 'features': cannot resolve the path '.*loop_a': "
    with pytest.raises(StudyError, match=pattern + r".*(loop|Too many levels)") as info:
        load_study(study)
    assert "\n" not in str(info.value)


# --- found by the fuzz suite (tests/fuzz) ----------------------------------------------------


@pytest.mark.parametrize("body, message", [
    (b">0", r"not valid YAML: while scanning a block scalar, expected indentation indicator in the "
            r"range 1-9, but found 0 at line 1, column 2$"),
    (b"@", r"not valid YAML: while scanning for the next token, found character '@' that cannot "
           r"start any token at line 1, column 1$"),
    (b"\x00", r"not valid YAML: unacceptable character #x0000: special characters are not allowed "
              r"at character 1$"),
    (b"\x80acquisitions: {}", r"not UTF-8 text \(byte 0x80 at offset 0\); save it as UTF-8$"),
])
def test_a_study_file_that_is_not_yaml_is_a_one_line_error(tmp_path, body, message):
    """Before: PyYAML's five-line message, or a UnicodeDecodeError traceback."""
    path = tmp_path / "study.yaml"
    path.write_bytes(body)
    with pytest.raises(StudyError, match=r"study\.yaml: " + message) as info:
        load_study(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update(published=[1, 2]),
     r"s\.yaml: published: expected a mapping, got \[1, 2\]$"),
    (lambda s: s.update(published={"g": ["x", 2]}),
     r"s\.yaml: published\.g\[0\]: expected float, got 'x'$"),
    (lambda s: s["comparisons"][0].update(acquisitions=None),
     r"comparison 'ab': give exactly one of 'acquisitions' or 'pairs'"),
    (lambda s: s["comparisons"][0].update(acquisitions="ab"),  # before: read as ['a', 'b']
     r"s\.yaml: comparisons\[0\] \(ab\)\.acquisitions: expected a list, got 'ab'$"),
    (lambda s: (s["comparisons"][0].pop("acquisitions"), s["comparisons"][0].update(pairs=[["a", ["b"]]])),
     r"s\.yaml: comparisons\[0\] \(ab\)\.pairs\[0\]\[1\]: must be a string or a whole number; "
     r"got \['b'\]$"),
    (lambda s: s["acquisitions"]["a"].update(labels=0.5),
     r"s\.yaml: acquisitions\.a\.labels: expected a list, got 0\.5$"),
])
def test_study_keys_of_the_wrong_kind_are_one_line_errors(csv_study, change, message, edit_study):
    """Found by the fuzz suite: AttributeError / TypeError tracebacks before, or a string of
    acquisition ids read letter by letter."""
    study = edit_study(csv_study(), change)
    with pytest.raises(StudyError, match=message) as info:
        load_study(study)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["csv", "image"])
def test_a_label_listed_twice_is_refused_naming_the_key_and_label(csv_study, image_study,
                                                                  edit_study, kind):
    """Before: a feature CSV's repeated label repeated its row in every comparison (a ROI
    counted twice in the ICC); an image acquisition dropped the repeat."""
    study = csv_study() if kind == "csv" else image_study()
    aid = "a" if kind == "csv" else "rep1"
    edit_study(study, lambda s: s["acquisitions"][aid].update(labels=[1, 2, 3, 2]))
    with pytest.raises(StudyError, match=rf"\w+\.yaml: acquisitions\.{aid}\.labels: must be "
                                         r"without repeated items or null; got \[1, 2, 3, 2\] "
                                         r"\(2 more than once\)$"):
        load_study(study)
