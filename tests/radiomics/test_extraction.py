"""The bundled parameter files, sharding, and the work items."""

from __future__ import annotations

import pytest

from robustlab.radiomics.extraction import shard_items, work_items
from robustlab.radiomics.pipeline import run_study
from robustlab.radiomics.study import list_extractions, load_study, validate_study


@pytest.mark.parametrize(("name", "expected"), [("paper2d", 944), ("paper3d", 1316)])
def test_bundled_parameter_files_feature_counts(image_study, tmp_path, name, expected):
    assert {"paper2d", "paper3d"} <= set(list_extractions())
    study = image_study(n_acquisitions=2, n_rois=1, extraction=name, size=40, slices=5)
    res = run_study(study, tmp_path / "out", n_jobs=2, cache_dir=tmp_path / "cache",
                    progress=False, texture=False, report=False)
    assert res.counts == {"cached": 0, "extracted": 2, "failed": 0}
    per_roi = res.features.groupby(["acquisition", "roi"]).size()
    assert (per_roi == expected).all(), per_roi
    types = set(res.features["image_type"])
    n_types = 10 if name == "paper2d" else 14
    assert len(types) == n_types, sorted(types)
    # sigma written as an integer, as the study's parameter files: its feature names
    assert ("log-sigma-6-mm-3D" if name == "paper2d" else "log-sigma-1-mm-3D") in types
    shape = res.features[res.features["feature_class"] == "shape"]
    assert shape.groupby(["acquisition", "roi"]).size().eq(14).all()


def test_shards_partition_the_items(image_study):
    validated = validate_study(load_study(image_study(n_acquisitions=3)))
    items = work_items(validated, shuffle=["rep1"], seed=0)
    assert len(items) == 3 * 4 + 4
    shards = [shard_items(items, (i, 3)) for i in range(3)]
    keys = [it.key for s in shards for it in s]
    assert sorted(keys) == sorted(it.key for it in items) and len(set(keys)) == len(keys)
    assert [it.key for it in shard_items(items, (1, 3))] == [it.key for it in shards[1]]
    with pytest.raises(ValueError, match="0 <= i < n"):
        shard_items(items, (3, 3))


def write_dicom_series(image, folder):
    """Write a 3-D SimpleITK image as a DICOM series, one file per slice."""
    import SimpleITK as sitk

    folder.mkdir(parents=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    uid = "1.2.826.0.1.3680043.2.1125.1"
    for i in range(image.GetDepth()):
        s = image[:, :, i]
        for tag, value in {
            "0020|000e": uid + ".1", "0020|000d": uid + ".2", "0008|0060": "MR",
            "0020|0013": str(i + 1), "0020|0037": "1\\0\\0\\0\\1\\0", "0018|0050": "3.0",
            "0020|0032": "\\".join(map(str, image.TransformIndexToPhysicalPoint((0, 0, i)))),
        }.items():
            s.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{i:03d}.dcm"))
        writer.Execute(s)


def test_dicom_series_gives_the_same_features_as_nifti(image_study, tmp_path):
    import SimpleITK as sitk
    import yaml

    study = image_study(n_acquisitions=1)
    root = study.parent
    image = sitk.Cast(sitk.ReadImage(str(root / "rep1.nii.gz")), sitk.sitkInt16)
    sitk.WriteImage(image, str(root / "int.nii.gz"))
    write_dicom_series(image, root / "dicom")
    spec = yaml.safe_load(study.read_text())
    spec["acquisitions"] = {"nifti": {"image": "int.nii.gz", "mask": "rep1_mask.nii.gz"},
                            "dicom": {"image": "dicom", "mask": "rep1_mask.nii.gz"}}
    spec["comparisons"] = [{"name": "formats", "statistic": "icc", "acquisitions": ["nifti", "dicom"]}]
    study.write_text(yaml.safe_dump(spec))
    res = run_study(study, tmp_path / "out", n_jobs=1, cache_dir=tmp_path / "cache",
                    progress=False, texture=False, report=False)
    assert res.counts["extracted"] == 8 and res.counts["failed"] == 0
    wide = res.features.pivot_table(index=["roi", "feature"], columns="acquisition", values="value")
    assert len(wide) == 4 * 56
    assert (wide["nifti"] == wide["dicom"]).all()


def test_an_extraction_worker_imports_only_the_image_reader_of_the_study_package():
    import json
    import subprocess
    import sys

    def study_modules(code):
        code = (f"import json, sys\n{code}\nprint(json.dumps(sorted(m for m in sys.modules "
                "if m.startswith('robustlab.radiomics.study'))))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
        return json.loads(out.stdout)

    worker = "import robustlab.radiomics.extraction.pool, robustlab.radiomics.extraction.worker"
    assert study_modules(worker) == ["robustlab.radiomics.study",
                                     "robustlab.radiomics.study.images"]
    # the package itself still offers every name, each module imported on first use
    loaded = study_modules("from robustlab.radiomics.study import load_study, validate_study")
    assert {"robustlab.radiomics.study.load", "robustlab.radiomics.study.validate"} <= set(loaded)
