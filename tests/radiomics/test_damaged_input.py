"""Damaged or mistaken input that used to give a silently wrong result now stops with its name.

Every case here ran to exit 0 before, with a wrong or empty result; each test shows the error
that names the file, acquisition, label, line or key, and that nothing was extracted.
"""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from robustlab.common.errors import ConfigError
from robustlab.radiomics.study import StudyError, load_study, validate_study

# --- images: complete files, finite voxels ------------------------------------------------------


def truncate_gz(study):
    path = study.parent / "rep2.nii.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    # what ITK makes of it: no error, the missing voxels zero
    assert (sitk.GetArrayFromImage(sitk.ReadImage(str(path))) == 0).mean() > 0.5
    return r"acquisition 'rep2', key 'image'.*rep2\.nii\.gz is truncated: its gzip stream ends"


def flip_gzip_checksum(study):
    path = study.parent / "rep1_mask.nii.gz"
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF  # the CRC-32 of the trailer
    path.write_bytes(bytes(data))
    return r"key 'mask'.*rep1_mask\.nii\.gz is corrupt: its gzip stream does not verify"


def drop_voxels(study):
    path = study.parent / "rep1.nii.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[: len(raw) - 4000]))  # a complete stream of too few voxels
    return (rf"rep1\.nii\.gz is truncated: its NIfTI header declares {len(raw)} bytes.*"
            rf"holds {len(raw) - 4000}")


def truncate_nrrd(study):
    path = study.parent / "rep1.nrrd"
    image = sitk.ReadImage(str(study.parent / "rep1.nii.gz"))
    sitk.WriteImage(image, str(path), useCompression=True)
    path.write_bytes(path.read_bytes()[:-200])
    study.write_text(study.read_text().replace("image: rep1.nii.gz", "image: rep1.nrrd"))
    return r"rep1\.nrrd is (truncated|corrupt)"


@pytest.mark.parametrize("damage", [truncate_gz, flip_gzip_checksum, drop_voxels, truncate_nrrd],
                         ids=lambda damage: damage.__name__)
def test_an_incomplete_or_corrupt_image_file_is_refused_naming_it(image_study, run, extracted,
                                                                  damage):
    study = image_study()
    with pytest.raises(StudyError, match=damage(study)):
        run(study)
    assert extracted() == []


def test_one_nan_voxel_in_a_roi_names_acquisition_label_and_count(image_study, tmp_path, run,
                                                                  extracted, rewrite_image):
    study = image_study()
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(study.parent / "rep1_mask.nii.gz")))
    z, y, x = np.argwhere(mask == 3)[0]

    def one_nan(arr):
        arr[z, y, x] = np.nan
        return arr

    rewrite_image(study.parent / "rep1.nii.gz", one_nan)
    n3 = int((mask == 3).sum())
    with pytest.raises(StudyError, match=rf"acquisition 'rep1': rep1\.nii\.gz: the image has "
                                         rf"non-finite voxels.*label 3: 1 of {n3} voxels"):
        run(study)
    assert extracted() == []
    # outside every ROI a NaN changes no feature: accepted
    rewrite_image(study.parent / "rep1.nii.gz", lambda a: np.where(np.isnan(a), 0, a))
    rewrite_image(study.parent / "rep1.nii.gz", lambda a: np.where(mask == 0, np.nan, a)
                  .astype(np.float32))
    assert validate_study(load_study(study)).rois["rep1"] == ("1", "2", "3", "4")


def test_an_all_nan_image_does_not_exit_0(image_study, tmp_path, run, rewrite_image):
    study = image_study()
    rewrite_image(study.parent / "rep2.nii.gz", lambda a: np.full_like(a, np.nan))
    with pytest.raises(StudyError, match=r"acquisition 'rep2'.*non-finite.*label 1: .*label 4"):
        run(study)


def test_a_comparison_left_with_one_roi_is_an_error_not_a_0_percent_row(image_study, tmp_path, run,
                                                                        rewrite_image):
    study = image_study()

    def one_voxel_rois(arr):
        for label in (2, 3, 4):  # pyradiomics refuses single-voxel ROIs
            arr[arr == label] = 0
            arr[2, label, 1] = label
        return arr

    rewrite_image(study.parent / "rep2_mask.nii.gz", one_voxel_rois)
    with pytest.raises(StudyError, match=r"comparison 'repeat' has 1 ROI\(s\) with features in "
                                         r"every acquisition; icc needs at least 3 \(failed ROIs: "
                                         r"rep2:2; rep2:3; rep2:4; see failures.csv\)"):
        run(study, texture=False)
    failures = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert failures["roi"].tolist() == [2, 3, 4]


# --- study validation the docs promise -----------------------------------------------------------


def test_compared_acquisitions_with_different_roi_sets(image_study, tmp_path, run, extracted,
                                                       rewrite_image):
    study = image_study()
    rewrite_image(study.parent / "rep2_mask.nii.gz", lambda a: np.where(a == 4, 7, a).astype(a.dtype))
    with pytest.raises(StudyError, match=r"comparison 'repeat': acquisitions 'rep1' and 'rep2' have "
                                         r"different ROIs \(only in rep1: \['4'\]; only in rep2: "
                                         r"\['7'\]\)"):
        run(study)
    assert extracted() == []


@pytest.mark.parametrize(("labels", "shown"), [
    (lambda a: np.where(a == 2, 2.5, a).astype(np.float32),
     r"is not a label map \(non-integer values\)"),
    # before: a traceback from NumPy's SeedSequence (a negative label) after validation
    (lambda a: np.where(a == 3, -3, a.astype(np.int16)),
     r"holds negative label\(s\) \[-3\] \(\d+ voxel\(s\)\); labels are positive"),
])
def test_a_mask_of_other_than_positive_integer_labels_is_refused(image_study, run, rewrite_image,
                                                                  labels, shown):
    study = image_study()
    rewrite_image(study.parent / "rep1_mask.nii.gz", labels)
    with pytest.raises(StudyError, match=rf"acquisition 'rep1': mask rep1_mask\.nii\.gz {shown}"):
        run(study)


def test_dicom_folder_with_two_series(image_study, tmp_path, run):
    study = image_study()
    folder = study.parent / "dicom"
    folder.mkdir()
    image = sitk.Cast(sitk.ReadImage(str(study.parent / "rep1.nii.gz")), sitk.sitkInt16)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for series in ("1.2.826.0.1.3680043.2.1125.1", "1.2.826.0.1.3680043.2.1125.2"):
        for z in range(2):
            sl = image[:, :, z]
            for key, value in (("0020|000e", series), ("0020|0013", str(z + 1)),
                               ("0008|0060", "MR"), ("0020|0032", f"0\\0\\{3 * z}")):
                sl.SetMetaData(key, value)
            writer.SetFileName(str(folder / f"{series[-1]}_{z}.dcm"))
            writer.Execute(sl)
    assert len(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))) == 2
    study.write_text(study.read_text().replace("image: rep1.nii.gz", "image: dicom"))
    with pytest.raises(StudyError, match=r"acquisition 'rep1', key 'image'.*dicom holds 2 DICOM "
                                         r"series; point at a folder with one"):
        run(study)


# --- the study file and options -------------------------------------------------------------------


def test_an_acquisition_written_twice_names_both_lines(image_study, tmp_path, run):
    study = image_study()
    lines = study.read_text().splitlines()
    start = lines.index("  rep2:")
    block = [ln for ln in lines[start:] if ln.startswith("    ")][:7]
    lines[start + 1 + len(block):start + 1 + len(block)] = ["  rep2:", *block]
    study.write_text("\n".join(lines) + "\n")
    second = start + 2 + len(block)
    with pytest.raises(StudyError, match=rf"study\.yaml: key 'rep2' is written twice \(lines "
                                         rf"{start + 1} and {second}\); keep one"):
        run(study)


def test_a_parameter_file_key_written_twice(image_study, tmp_path, run):
    study = image_study()
    params = study.parent / "params.yaml"
    params.write_text(params.read_text() + "setting:\n  binWidth: 25\n")
    with pytest.raises(StudyError, match=r"params\.yaml: key 'setting' is written twice"):
        run(study)


@pytest.mark.parametrize("option, value, message", [
    ("threshold", 1.5, r"threshold: must be in \(0, 1\) or null; got 1\.5"),
    ("threshold", -0.5, r"threshold: must be in \(0, 1\) or null; got -0\.5"),
    ("alpha", 0.0, r"alpha: must be in \(0, 1\); got 0\.0"),
    ("bands", (0.9, 0.75, 0.5), r"bands: must be increasing; got \(0\.9, 0\.75, 0\.5\)"),
    ("shape_rho", 2, r"shape_rho: must be in \(0, 1\]; got 2"),
])
def test_options_keep_their_range_checks_outside_the_study_file(image_study, tmp_path, option,
                                                                 value, message, run, extracted):
    with pytest.raises(ConfigError, match=message):
        run(image_study(), **{option: value})
    assert extracted() == []


def write_csvs(tmp_path, b_order, roi_column=None, extra=None):
    rng = np.random.default_rng(0)
    cols = ["original_firstorder_Mean", "original_glcm_Idmn", "original_shape_VoxelVolume"]
    truth = rng.normal(size=(6, 3))
    ids = [f"roi{i}" for i in range(6)]
    for name, order, noise in (("a", range(6), 0.0), ("b", b_order, 0.01)):
        table = pd.DataFrame(truth[list(order)] + noise, columns=cols)
        table.insert(0, "ID", [f"{name}-{i}" for i in order])  # per-scan ids: say nothing
        table.insert(1, "Mask", [f"masks/{ids[i]}.nii.gz" for i in order])
        for key, values in (extra or {}).items():
            table[key] = values
        table.to_csv(tmp_path / f"{name}.csv", index=False)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "roi_column": roi_column,
        "acquisitions": {"a": {"features": "a.csv"}, "b": {"features": "b.csv"}},
        "comparisons": [{"name": "ab", "statistic": "icc", "acquisitions": ["a", "b"]}]}))
    return tmp_path / "s.yaml"


def test_feature_csv_rows_in_another_order_are_refused(tmp_path, run):
    study = write_csvs(tmp_path, b_order=[1, 0, 2, 3, 5, 4])
    with pytest.raises(StudyError, match=r"rows of a\.csv \('a'\) and b\.csv \('b'\) are paired by "
                                         r"order \(roi_column is not set\), but column 'Mask' "
                                         r"differs in 4 row\(s\), e\.g\. row 1.*roi0.*roi1.*set "
                                         r"roi_column: Mask"):
        run(study)
    # with roi_column naming the column, the rows are matched by it
    study = write_csvs(tmp_path, b_order=[1, 0, 2, 3, 5, 4], roi_column="Mask")
    res = run(study)
    assert res.summary.set_index("comparison").loc["ab", "pct_excellent"] == 100.0
    # in the same order, per-scan IDs that all differ say nothing: accepted
    assert run(write_csvs(tmp_path, b_order=range(6))).summary["n_rois"].iloc[0] == 6


def test_a_label_column_is_an_identifier_and_an_unknown_column_is_named(tmp_path, run):
    study = write_csvs(tmp_path, b_order=range(6), extra={"Label": [1] * 6})
    assert run(study).summary["n_features"].iloc[0] == 3
    study = write_csvs(tmp_path, b_order=range(6), extra={"Operator": ["x"] * 6})
    with pytest.raises(StudyError, match=r"acquisition 'a': .*a\.csv: column 'Operator' is neither a "
                                         r"pyradiomics feature"):
        validate_study(load_study(study))


def test_a_rerun_reads_the_image_checks_and_a_changed_file_is_checked_again(image_study, tmp_path,
                                                                           monkeypatch):
    from robustlab.common.hashing import file_hash
    from robustlab.radiomics.study import integrity

    study = image_study()
    verdicts = tmp_path / "checked"
    validate_study(load_study(study), verdicts=verdicts)
    files = [study.parent / f"rep{i}{kind}.nii.gz" for i in (1, 2) for kind in ("", "_mask")]
    assert len(list(verdicts.glob("*/*.json"))) == len({file_hash(p) for p in files})
    inflated = []
    real = integrity._check_file
    monkeypatch.setattr(integrity, "_check_file", lambda p, w: inflated.append(p.name) or real(p, w))
    validate_study(load_study(study), verdicts=verdicts)
    assert inflated == []  # every file known by its content hash
    path = study.parent / "rep2.nii.gz"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(StudyError, match=r"rep2\.nii\.gz is truncated"):
        validate_study(load_study(study), verdicts=verdicts)
    assert inflated == ["rep2.nii.gz"]


def nifti_declaring(path, dims, payload=1 << 16):
    """A gzipped NIfTI-1 file whose header declares ``dims`` float32 voxels; ``payload`` zero
    bytes follow it."""
    import struct

    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, len(dims), *dims, *[1] * (7 - len(dims)))
    struct.pack_into("<2h", header, 70, 16, 32)  # float32
    struct.pack_into("<8f", header, 76, *[1.0] * 8)  # voxel sizes
    struct.pack_into("<f", header, 108, 352.0)  # voxel offset
    header[344:348] = b"n+1\0"
    path.write_bytes(gzip.compress(bytes(header) + bytes(4 + payload)))


def test_an_image_declaring_more_than_the_memory_budget_is_refused_from_its_header(
        image_study, run, extracted):
    """Before: a 4 MB .nii.gz declaring 1024^3 float voxels was inflated until MemoryError."""
    study = image_study()
    nifti_declaring(study.parent / "rep2.nii.gz", (1024, 1024, 1024))
    with pytest.raises(StudyError, match=r"acquisition 'rep2', key 'image': .*rep2\.nii\.gz declares "
                                         r"1024 x 1024 x 1024 voxels of 32-bit float \(4\.0 GiB\), more "
                                         r"than the memory budget of 2\.0 GiB for one image"):
        run(study)
    assert extracted() == []


def test_the_image_memory_budget_is_an_option_of_the_run(image_study, run):
    study = image_study()  # 48 x 48 x 5 float32 voxels: 45 KiB
    with pytest.raises(StudyError, match=r"rep1\.nii\.gz declares 48 x 48 x 5 voxels of 32-bit float "
                                         r"\(45\.0 KiB\), more than the memory budget of 40\.0 KiB"):
        run(study, image_budget=40 * 1024)
    assert run(study, image_budget=46 * 1024, texture=False).counts["failed"] == 0


def test_the_image_memory_budget_is_a_config_key(image_study, tmp_path):
    """Before: a keyword of run_study only; the command line had no way to set it."""
    import subprocess
    import sys

    study = image_study()
    code = "from robustlab.radiomics.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code, f"study={study}", "image_budget=40960",
                             "progress=false", "report=false", f"hydra.run.dir={tmp_path / 'run'}",
                             f"cache_dir={tmp_path / 'cache'}"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].endswith(
        "(45.0 KiB), more than the memory budget of 40.0 KiB for one image (image_budget); nothing "
        "of it was read (--verbose shows the traceback)")
