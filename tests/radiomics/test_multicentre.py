"""Multicentre studies: ROIs in separate (overlapping) mask files, per-acquisition settings,
scanner groups, every TE pair, and one robust list per extraction family."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from robustlab.radiomics.pipeline import run_study
from robustlab.radiomics.study import StudyError, load_study

PARAMS = {
    "setting": {"force2D": True, "force2Ddimension": 0, "binWidth": 5, "normalize": True,
                "normalizeScale": 100, "voxelArrayShift": 300, "preCrop": True},
    "imageType": {"Original": {}},
    "featureClass": {"shape": None, "firstorder": None, "glcm": None},
}


def write_discs(root: Path, n_acquisitions: int = 2, seed: int = 0) -> dict[str, Any]:
    """Scans of nested discs: ``outer`` (radius 11) holds ``inner`` (radius 5), each in its own
    binary mask file; ``side`` is label 2 of a label map. Returns the acquisitions' entries."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:40, :40]
    r_main = np.hypot(yy - 15, xx - 15)
    outer, inner = r_main <= 11, r_main <= 5
    side = np.hypot(yy - 32, xx - 32) <= 5
    base = 60 + 30 * np.sin(xx / 1.7) * np.cos(yy / 2.3) + 25 * inner + 10 * side
    masks = {"outer.nii.gz": outer.astype(np.uint8), "inner.nii.gz": 255 * inner.astype(np.uint8),
             "labels.nii.gz": 2 * side.astype(np.uint8)}
    reference = None
    entries = {}
    for a in range(n_acquisitions):
        volume = np.repeat(base[None], 4, axis=0) + rng.normal(size=(4, 40, 40))
        image = sitk.GetImageFromArray(volume.astype(np.float32))
        image.SetSpacing((0.8, 0.8, 4.0))
        sitk.WriteImage(image, str(root / f"scan{a + 1}.nii.gz"))
        reference = image
        entries[f"scan{a + 1}"] = {"image": f"scan{a + 1}.nii.gz", "scanner": "s1", "repetition": a + 1,
                                   "rois": {"outer": "outer.nii.gz", "inner": "inner.nii.gz",
                                            "side": {"file": "labels.nii.gz", "label": 2}}}
    for name, arr in masks.items():  # one mask per ROI, reused by every repeat
        mask = sitk.GetImageFromArray(np.repeat(arr[None], 4, axis=0))
        mask.CopyInformation(reference)
        sitk.WriteImage(mask, str(root / name))
    (root / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    return entries


def write_study(root: Path, acquisitions: dict[str, Any], comparisons: list[dict[str, Any]],
                **extra: Any) -> Path:
    study = {"name": "multi", "extraction": "params.yaml", **extra,
             "acquisitions": acquisitions, "comparisons": comparisons}
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def pyradiomics_direct(params: dict[str, Any], image: Path, mask: Path, label: int) -> pd.Series:
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    extractor = RadiomicsFeatureExtractor(params)
    extractor.settings["additionalInfo"] = False
    result = extractor.execute(str(image), str(mask), label=label)
    return pd.Series({k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")})


def test_overlapping_rois_each_equal_a_direct_pyradiomics_call(tmp_path: Path) -> None:
    root = tmp_path / "data"
    study = write_study(root, write_discs(root),
                        [{"name": "repeat", "statistic": "icc", "acquisitions": ["scan1", "scan2"]}])
    result = run_study(study, tmp_path / "out", n_jobs=1, cache_dir=tmp_path / "cache",
                       progress=False, texture=False, report=False)
    wide = pd.read_csv(tmp_path / "out" / "features_wide.csv").set_index(["acquisition", "roi"])
    assert sorted(wide.index.get_level_values("roi").unique()) == ["inner", "outer", "side"]
    for acq in ("scan1", "scan2"):
        for roi, (mask, label) in {"outer": ("outer.nii.gz", 1), "inner": ("inner.nii.gz", 255),
                                   "side": ("labels.nii.gz", 2)}.items():
            want = pyradiomics_direct(PARAMS, root / f"{acq}.nii.gz", root / mask, label)
            got = result.features.query("acquisition == @acq and roi == @roi").set_index("feature")["value"]
            assert got.index.tolist() == want.index.tolist()
            np.testing.assert_array_equal(got.to_numpy(), want.to_numpy(), err_msg=f"{acq}:{roi}")
    # nested: the inner disc's area is part of the outer one's, and they differ
    area = result.features.query("feature == 'original_shape_VoxelVolume' and acquisition == 'scan1'")
    sizes = area.set_index("roi")["value"]
    assert sizes["inner"] < sizes["outer"]


def test_mixed_bin_widths_are_compared_and_recorded(tmp_path: Path) -> None:
    root = tmp_path / "data"
    acquisitions = write_discs(root, n_acquisitions=3)
    acquisitions["scan2"]["extraction"] = {"binWidth": 10}
    acquisitions["scan3"]["scanner"] = "s3"
    study = write_study(root, acquisitions,
                        [{"name": "bins", "statistic": "icc", "acquisitions": ["scan1", "scan2"]},
                         {"name": "group", "statistic": "ccc", "acquisitions": ["scan1", "scan3"]}],
                        scanners={"s3": {"extraction": {"binWidth": 10}}})
    result = run_study(study, tmp_path / "out", n_jobs=1, cache_dir=tmp_path / "cache",
                       progress=False, texture=False, report=False)
    tidy = pd.read_parquet(tmp_path / "out" / "features.parquet")
    recorded = tidy.groupby("acquisition")["extraction"].unique().map(list).to_dict()
    assert recorded == {"scan1": ["params.yaml"], "scan2": ["params.yaml binWidth=10"],
                        "scan3": ["params.yaml binWidth=10"]}
    summary = result.summary.set_index("comparison")
    assert summary.loc["bins", "extraction"] == "scan1: params.yaml; scan2: params.yaml binWidth=10"
    assert summary.loc["group", "extraction"] == "scan1: params.yaml; scan3: params.yaml binWidth=10"
    want = pyradiomics_direct({**PARAMS, "setting": {**PARAMS["setting"], "binWidth": 10}},
                              root / "scan2.nii.gz", root / "outer.nii.gz", 1)
    got = tidy.query("acquisition == 'scan2' and roi == 'outer'").set_index("feature")["value"]
    np.testing.assert_array_equal(got.reindex(want.index).to_numpy(), want.to_numpy())
    plain = tidy.query("acquisition == 'scan1' and roi == 'outer'").set_index("feature")["value"]
    assert plain["original_glcm_JointEntropy"] != got["original_glcm_JointEntropy"]


def test_pairs_all_and_families(tmp_path: Path) -> None:
    root = tmp_path / "data"
    acquisitions = write_discs(root, n_acquisitions=3)
    for a, te in zip(("scan1", "scan2", "scan3"), (80, 85, 90), strict=True):
        acquisitions[a]["te"] = te
    acquisitions["scan1_3d"] = {**acquisitions["scan1"], "extraction": {"force2D": False}}
    acquisitions["scan2_3d"] = {**acquisitions["scan2"], "extraction": {"force2D": False}}
    study = write_study(root, acquisitions, [
        {"name": "te_all", "statistic": "ccc", "acquisitions": ["scan1", "scan2", "scan3"], "pairs": "all"},
        {"name": "repeat_3d", "statistic": "ccc", "acquisitions": ["scan1_3d", "scan2_3d"]},
    ])
    loaded = load_study(study)
    assert loaded.comparisons[0].pairs == (("scan1", "scan2"), ("scan1", "scan3"), ("scan2", "scan3"))
    assert [c.family for c in loaded.comparisons] == ["2D", "3D"]
    result = run_study(study, tmp_path / "out", n_jobs=1, cache_dir=tmp_path / "cache",
                       progress=False, texture=False, report=True, wcv_group_count=1)
    names = result.summary["comparison"].tolist()
    assert names == ["te_all/scan1_vs_scan2", "te_all/scan1_vs_scan3", "te_all/scan2_vs_scan3",
                     "te_all", "repeat_3d"]
    assert (tmp_path / "out" / "figures" / "te_pairs.png").is_file()
    # one size group holding the three ROIs (sizes from the masks): its wCV is the overall one
    by_size = pd.read_csv(tmp_path / "out" / "wcv_by_size.csv")
    assert set(by_size["size_group"]) == {"size1"} and (by_size["n_rois"] == 3).all()
    merged = by_size.merge(result.per_feature, on=["comparison", "feature"])
    assert len(merged) == len(by_size) == 4 * 56
    np.testing.assert_allclose(merged["wcv_x"], merged["wcv_y"], rtol=1e-12)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Robust, informative features, 2D extraction" in md and "3D extraction" in md
    sel = pd.read_csv(tmp_path / "out" / "selection.csv", keep_default_na=False)
    assert set(sel["family"]) == {"2D", "3D"}
    assert sel.groupby("feature")["family"].nunique().eq(2).all()  # both families judge every name
    assert (sel["n_comparisons"] == 1).all()
    robust = pd.read_csv(tmp_path / "out" / "robust_features.csv")
    assert list(robust.columns)[0] == "family"
    # each family's verdict follows its own comparison only
    per = result.per_feature.set_index(["comparison", "feature"])["excellent"]
    for family, comparison, other in (("2D", "te_all", "repeat_3d"), ("3D", "repeat_3d", "te_all")):
        mine = sel[(sel["family"] == family) & ~sel["feature"].str.contains("_shape_")]
        excellent = per.loc[comparison].reindex(mine["feature"]).to_numpy(bool)
        np.testing.assert_array_equal(mine["robust"].to_numpy(bool) & ~excellent, False)
        not_excellent = mine["reason"].str.contains("not excellent in").to_numpy(bool)
        np.testing.assert_array_equal(not_excellent, ~excellent)
        assert other not in " ".join(sel.loc[sel["family"] == family, "reason"])


def test_mixing_families_in_one_comparison_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    acquisitions = write_discs(root)
    acquisitions["scan2"]["extraction"] = {"force2D": False}
    study = write_study(root, acquisitions,
                        [{"name": "mixed", "statistic": "icc", "acquisitions": ["scan1", "scan2"]}])
    with pytest.raises(StudyError, match=r"comparison 'mixed'.*different extraction families.*scan2: 3D"):
        load_study(study)


def test_a_binary_mask_with_two_values_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    acquisitions = write_discs(root)
    acquisitions["scan1"]["rois"]["side"] = "labels.nii.gz"
    mask = sitk.ReadImage(str(root / "labels.nii.gz"))
    arr = sitk.GetArrayFromImage(mask)
    arr[0, 0, 0] = 7
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(mask)
    sitk.WriteImage(out, str(root / "labels.nii.gz"))
    study = write_study(root, acquisitions,
                        [{"name": "repeat", "statistic": "icc", "acquisitions": ["scan1", "scan2"]}])
    with pytest.raises(StudyError, match=r"acquisition 'scan1': ROI 'side': mask labels\.nii\.gz must "
                                         r"be binary.*\[2, 7\]"):
        run_study(study, tmp_path / "out", n_jobs=1, cache_dir=tmp_path / "cache", progress=False)
