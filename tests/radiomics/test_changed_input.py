"""Inputs that change under a run: the bytes hashed for a cache key are the bytes extracted.

Before: an image replaced between the study's validation and its extraction was extracted and
cached under the key of the validated content, and every later run reused those features, even
after the original was restored.
"""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from robustlab.radiomics.errors import StudyError
from robustlab.radiomics.extraction import FeatureCache, extract, work_items
from robustlab.radiomics.study import load_study, validate_study


def other_mask(path):
    """A mask with one ROI fewer, written over ``path``."""
    mask = sitk.ReadImage(str(path))
    arr = sitk.GetArrayFromImage(mask)
    out = sitk.GetImageFromArray(np.where(arr == 4, 0, arr).astype(arr.dtype))
    out.CopyInformation(mask)
    sitk.WriteImage(out, str(path))


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("swapped", ["rep1.nii.gz", "rep3.nii.gz", "rep2_mask.nii.gz"])
def test_a_file_replaced_after_validation_is_refused_and_nothing_cached_under_its_key(
        image_study, tmp_path, n_jobs, swapped):
    study = image_study(n_acquisitions=3)
    items = work_items(validate_study(load_study(study)))
    path = study.parent / swapped
    original = path.read_bytes()
    if "mask" in swapped:
        other_mask(path)
    else:  # another scan of the same phantom: same geometry, other noise
        shutil.copyfile(study.parent / ("rep2.nii.gz"), path)
    cache = FeatureCache(tmp_path / "cache")
    with pytest.raises(StudyError, match=rf"{swapped.split('.')[0]}\.nii\.gz changed after the "
                                         r"study was validated.*nothing of it was extracted"):
        extract(items, cache, n_jobs=n_jobs, progress=False)
    touched = [it for it in items if path in (it.image, it.mask)]
    assert touched and not any(cache.contains(it.key) for it in touched)
    # the original back: extracted now, with the features of the original bytes
    path.write_bytes(original)
    counts, payloads = extract(items, cache, n_jobs=1, progress=False)
    fresh = extract(touched, FeatureCache(tmp_path / "fresh"), n_jobs=1, progress=False)[1]
    assert counts["failed"] == 0 and all(payloads[it.key] == fresh[it.key] for it in touched)


def test_a_feature_csv_changed_while_it_is_read_is_refused(csv_study, monkeypatch):
    from robustlab.radiomics.study import validate as validate_module

    study = csv_study()
    real = validate_module.identifier_table

    def read_then_change(path, index):  # another writer, between the two reads of the file
        table = real(path, index)
        path.write_text(path.read_text().replace("\n", "\r\n"))
        return table

    monkeypatch.setattr(validate_module, "identifier_table", read_then_change)
    with pytest.raises(StudyError, match=r"acquisition 'a': .*a\.csv changed while it was read"):
        validate_study(load_study(study))


@pytest.mark.parametrize("kind", ["image", "csv"])
def test_byte_identical_acquisitions_of_a_comparison_are_named_in_the_log_and_the_report(
        image_study, csv_study, run, kind, caplog):
    """Before: two acquisitions that are one file under two names gave ICC 1 without a word."""
    study = image_study() if kind == "image" else csv_study()
    if kind == "image":
        for name in ("rep2.nii.gz", "rep2_mask.nii.gz"):
            shutil.copyfile(study.parent / name.replace("rep2", "rep1"), study.parent / name)
    else:
        shutil.copyfile(study.parent / "a.csv", study.parent / "b.csv")
    first, second = ("rep1", "rep2") if kind == "image" else ("a", "b")
    shown = (rf"comparison '(repeat|ab)': acquisitions '{first}' and '{second}' are byte-identical "
             r"files \(.+ and .+\); their agreement is 1 by construction")
    with caplog.at_level("WARNING", logger="robustlab.radiomics"):
        result = run(study, report=True, texture=False)
    assert any(re.search(shown, r.getMessage()) for r in caplog.records)
    assert len(result.warnings) == 1 and re.search(shown, result.warnings[0])
    assert re.search(shown, (result.out_dir / "report.md").read_text())


def test_distinct_acquisitions_give_no_such_warning(image_study, run, caplog):
    with caplog.at_level("WARNING", logger="robustlab.radiomics"):
        result = run(image_study(), texture=False)
    assert result.warnings == []
    assert not any("byte-identical" in r.getMessage() for r in caplog.records)
