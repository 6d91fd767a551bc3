"""Bad input: each gives a clear error before extraction, or a recorded failure, and loses nothing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from robustlab.radiomics.extraction.cache import FeatureCache
from robustlab.radiomics.study import StudyError


def rewrite_mask(path, fn):
    mask = sitk.ReadImage(str(path))
    sitk.WriteImage(fn(mask), str(path))


def test_missing_image(image_study, tmp_path, run, extracted):
    study = image_study()
    (study.parent / "rep2.nii.gz").unlink()
    with pytest.raises(StudyError, match=r"acquisition 'rep2', key 'image'.*rep2\.nii\.gz does not exist"):
        run(study)
    assert extracted() == []  # validation comes before any extraction


def with_geometry(what):
    """The mask with its ``what`` set other than the image's."""

    def change(mask):
        if what == "size":
            return mask[:, :, 1:]
        value = {"spacing": (1.0, 1.0, 2.5), "origin": (0.0, 4.0, 0.0),
                 "direction": (0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)}[what]
        getattr(mask, f"Set{what.title()}")(value)
        return mask

    return change


@pytest.mark.parametrize(("what", "shown"), [
    ("spacing", r"mask spacing .*2\.5.* differs from image spacing"),
    ("origin", r"mask origin .*4\.0.* differs from image origin"),
    ("direction", r"mask direction .* differs from image direction"),
    ("size", r"mask size \(48, 48, 4\) differs from image size \(48, 48, 5\)"),
])
def test_mask_geometry_differs(image_study, what, shown, run, extracted):
    study = image_study()
    rewrite_mask(study.parent / "rep1_mask.nii.gz", with_geometry(what))
    with pytest.raises(StudyError, match=rf"acquisition 'rep1'.*rep1_mask\.nii\.gz.*{shown}"):
        run(study)
    assert extracted() == []


def test_label_absent_from_mask(image_study, tmp_path, run, edit_study):
    study = edit_study(image_study(), lambda s: s["acquisitions"]["rep2"].update(labels=[1, 2, 9]))
    with pytest.raises(StudyError, match=r"acquisition 'rep2'.*label 9 is absent.*present: \[1, 2, 3, 4\]"):
        run(study)


def test_empty_mask(image_study, tmp_path, run):
    study = image_study()
    rewrite_mask(study.parent / "rep1_mask.nii.gz", lambda m: m * 0)
    with pytest.raises(StudyError, match=r"acquisition 'rep1'.*rep1_mask\.nii\.gz is empty"):
        run(study)


def test_roi_too_small_is_a_recorded_failure(image_study, tmp_path, run):
    study = image_study()

    def one_voxel(mask):
        arr = sitk.GetArrayFromImage(mask)
        arr[arr == 4] = 0
        arr[2, 1, 1] = 4  # a single-voxel ROI: pyradiomics refuses it
        out = sitk.GetImageFromArray(arr)
        out.CopyInformation(mask)
        return out

    rewrite_mask(study.parent / "rep2_mask.nii.gz", one_voxel)
    res = run(study, texture=False)
    assert res.counts == {"cached": 0, "extracted": 8, "failed": 1}
    fail = res.failures
    assert fail[["acquisition", "roi"]].values.tolist() == [["rep2", "4"]]
    assert fail["error"].iloc[0] != ""
    on_disk = pd.read_csv(res.out_dir / "failures.csv")
    assert on_disk["acquisition"].tolist() == ["rep2"]
    # the rest went on: the comparison uses the 3 ROIs present in both, and says what is missing
    row = res.summary.set_index("comparison").loc["repeat"]
    assert row["n_rois"] == 3 and row["missing_rois"] == "rep2:4"
    assert res.summary["n_excellent"].iloc[0] > 0
    # the failure is cached: a rerun extracts nothing again
    assert run(study, texture=False).counts["extracted"] == 0


def test_feature_csvs_with_different_columns(tmp_path, run):
    rng = np.random.default_rng(0)
    cols = ["original_firstorder_Mean", "original_glcm_Idmn", "original_shape_VoxelVolume"]
    a = pd.DataFrame(rng.normal(size=(5, 3)), columns=cols)
    b = a.rename(columns={"original_glcm_Idmn": "original_glcm_Idm"})
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "acquisitions": {"a": {"features": "a.csv"}, "b": {"features": "b.csv"}},
        "comparisons": [{"name": "ab", "statistic": "icc", "acquisitions": ["a", "b"]}]}))
    with pytest.raises(StudyError, match=r"comparison 'ab'.*'a' and 'b' have different feature "
                                         r"columns.*original_glcm_Idmn.*original_glcm_Idm'"):
        run(tmp_path / "s.yaml")


def test_comparison_names_unknown_acquisition(image_study, tmp_path, run, edit_study):
    study = edit_study(image_study(), lambda s: s["comparisons"][0].update(
        acquisitions=["rep1", "rep_2"]))
    with pytest.raises(StudyError, match=r"comparison 'repeat'.*unknown acquisition 'rep_2'.*did you mean 'rep2'"):
        run(study)


def test_comparison_across_parameter_files_with_other_features(image_study, tmp_path, run,
                                                               edit_study):
    study = image_study()
    params = yaml.safe_load((study.parent / "params.yaml").read_text())
    params["featureClass"] = {"firstorder": None}
    (study.parent / "other.yaml").write_text(yaml.safe_dump(params))
    edit_study(study, lambda s: s["acquisitions"]["rep2"].update(extraction="other.yaml"))
    with pytest.raises(StudyError, match=r"comparison 'repeat'.*different feature names.*other\.yaml"):
        run(study)


def test_unknown_setting_override(image_study, tmp_path, run, edit_study):
    study = edit_study(image_study(), lambda s: s["acquisitions"]["rep2"].update(
        extraction={"binWidht": 10}))
    with pytest.raises(StudyError, match=r"acquisition 'rep2', key 'extraction': pyradiomics rejects "
                                         r"the settings params\.yaml binWidht=10"):
        run(study)


def test_unused_scanner_group(image_study, tmp_path, run, edit_study):
    study = edit_study(image_study(), lambda s: s.update(scanners={"s9": {"extraction": {"binWidth": 10}}}))
    with pytest.raises(StudyError, match=r"scanners\.s9: no acquisition has 'scanner: s9'.*s1"):
        run(study)


def test_unknown_bundled_extraction(image_study, tmp_path, run, edit_study):
    study = edit_study(image_study(), lambda s: s.update(extraction="paper2"))
    with pytest.raises(StudyError, match=r"unknown extraction 'paper2'.*paper2d"):
        run(study)


def test_corrupt_cache_entry_is_extracted_again(image_study, tmp_path, run, extracted):
    study = image_study()
    first = run(study, texture=False)
    assert first.counts["extracted"] == 8
    entries = extracted()
    assert len(entries) == 8
    head, body = entries[0].read_text().split("\n", 1)
    payload = json.loads(body)
    payload["features"][next(iter(payload["features"]))] += 1.0  # an altered value
    entries[0].write_text(head + "\n" + json.dumps(payload))
    entries[1].write_text(entries[1].read_text()[:-100])  # truncated
    assert FeatureCache(tmp_path / "cache").get(entries[0].stem) is None
    second = run(study, texture=False)
    assert second.counts == {"cached": 6, "extracted": 2, "failed": 0}
    pd.testing.assert_frame_equal(first.features, second.features)
