"""The phantom's study writer: files, determinism, resuming, validation, and the `quick` study."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from robustlab.radiomics.phantom import (
    get_scanner,
    list_scanners,
    load_config,
    plan_study,
    simulate_study,
)


def tiny() -> tuple[dict[str, Any], dict[str, Any]]:
    """A three-acquisition protocol (one 3D) on a small, short phantom."""
    phantom = copy.deepcopy(load_config("phantom", "pelvic"))
    phantom["length_mm"] = 40.0
    proto = copy.deepcopy(load_config("protocol", "quick"))
    proto["scale"] = 0.25
    proto["roi"] = {"diameters_mm": [48.0, 24.0], "slices_2d": 1, "length_3d_mm": 4.0,
                    "margin_slices": [1, 1]}
    proto["acquisitions"] = {
        "A15_rep1": {"scanner": "A15", "session": "s1", "repetition": 1, "position": 1},
        "A15_rep2": {"scanner": "A15", "session": "s1", "repetition": 2, "position": 1},
        "B15_3d": {"scanner": "B15", "session": "s2", "mode": "3D", "voxel_mm": [1.0, 1.0, 1.0],
                   "matrix": [320, 320], "tr_ms": 2000.0},
    }
    proto["comparisons"] = [{"name": "repeat", "statistic": "icc",
                             "acquisitions": ["A15_rep1", "A15_rep2"], "group": "repeat_fixed"}]
    return proto, phantom


def read(path: Path) -> sitk.Image:
    return sitk.ReadImage(str(path))


def test_writes_images_masks_and_a_study_the_pipeline_accepts(tmp_path: Path) -> None:
    from robustlab.radiomics.study import load_study

    proto, phantom = tiny()
    study_path = simulate_study(proto, phantom, tmp_path / "s", seed=0, n_jobs=1, progress=False)
    doc = yaml.safe_load(study_path.read_text())
    assert doc["extraction"] == "paper2d"
    assert doc["published"] == proto["published"]
    assert doc["acquisitions"]["B15_3d"]["mode"] == "3D"
    assert doc["acquisitions"]["B15_3d"]["extraction"] == "paper3d"
    assert doc["acquisitions"]["A15_rep1"]["mode"] == "2D"
    assert doc["comparisons"][0]["group"] == "repeat_fixed"
    image = read(tmp_path / "s" / doc["acquisitions"]["A15_rep1"]["image"])
    rois = doc["acquisitions"]["A15_rep1"]["rois"]
    assert list(rois) == ["11", "12", "21", "22", "31", "32", "41", "42"]
    assert rois["12"] == {"file": "masks/A15_rep1_size2.nii.gz", "label": 12}
    assert image.GetSpacing() == pytest.approx((0.625, 0.625, 5.5))
    # the ROI's slice with one slice acquired below and one above it
    assert image.GetSize() == (128, 128, 3)
    sizes = []
    for j in (1, 2):
        mask = read(tmp_path / "s" / "masks" / f"A15_rep1_size{j}.nii.gz")
        assert mask.GetSpacing() == image.GetSpacing() and mask.GetOrigin() == image.GetOrigin()
        labels = sitk.GetArrayFromImage(mask)
        assert np.unique(labels).tolist() == [0, 10 + j, 20 + j, 30 + j, 40 + j]
        assert not labels[[0, 2]].any()  # the margins hold no ROI
        sizes.append(labels)
    # nested: each insert's small circle lies inside its large one, on the same slice
    for i in range(1, 5):
        small, large = sizes[1] == 10 * i + 2, sizes[0] == 10 * i + 1
        assert small.any() and np.all(large[small]) and large.sum() > 3 * small.sum()
    three_d = read(tmp_path / "s" / "images" / "B15_3d.nii.gz")
    assert three_d.GetSpacing() == pytest.approx((1.0, 1.0, 1.0))
    assert three_d.GetSize() == (80, 80, 6)
    study = load_study(study_path)
    assert set(study.acquisitions) == {"A15_rep1", "A15_rep2", "B15_3d"}


def test_deterministic_per_seed_and_resumable(tmp_path: Path) -> None:
    proto, phantom = tiny()
    first = simulate_study(proto, phantom, tmp_path / "a", seed=4, n_jobs=2, progress=False)
    again = simulate_study(proto, phantom, tmp_path / "b", seed=4, n_jobs=1, progress=False)
    other = simulate_study(proto, phantom, tmp_path / "c", seed=5, n_jobs=1, progress=False)
    arrays = {k: sitk.GetArrayFromImage(read(p.parent / "images" / "A15_rep1.nii.gz"))
              for k, p in (("a", first), ("b", again), ("c", other))}
    np.testing.assert_array_equal(arrays["a"], arrays["b"])
    assert not np.array_equal(arrays["a"], arrays["c"])
    assert first.read_text() == again.read_text()
    # resume: nothing is simulated again; a missing acquisition is, and only it
    images = tmp_path / "a" / "images"
    stamps = {p.name: p.stat().st_mtime_ns for p in images.glob("*.nii.gz")}
    (images / "A15_rep2.nii.gz").unlink()
    simulate_study(proto, phantom, tmp_path / "a", seed=4, n_jobs=1, progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in images.glob("*.nii.gz")}
    assert after["A15_rep1.nii.gz"] == stamps["A15_rep1.nii.gz"]
    assert after["B15_3d.nii.gz"] == stamps["B15_3d.nii.gz"]
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(read(images / "A15_rep2.nii.gz")),
        sitk.GetArrayFromImage(read(tmp_path / "b" / "images" / "A15_rep2.nii.gz")))
    # a changed configuration is simulated again
    proto["acquisitions"]["A15_rep1"]["te_ms"] = 90.0
    simulate_study(proto, phantom, tmp_path / "a", seed=4, n_jobs=1, progress=False)
    assert (images / "A15_rep1.nii.gz").stat().st_mtime_ns != stamps["A15_rep1.nii.gz"]
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p, f: p["acquisitions"]["A15_rep1"].update(te_ms=-5.0),
         "protocol.acquisitions.A15_rep1.te_ms"),
        (lambda p, f: p["acquisition_defaults"].update(tr_ms=-100.0),
         "tr_ms: expected a number > 0"),
        (lambda p, f: p["acquisitions"]["A15_rep1"].update(voxel_mm=[400.0, 400.0, 5.0]),
         "larger than the phantom"),
        (lambda p, f: p["scanners"].update(A15="vendor_a_1p5"),
         "unknown scanner 'vendor_a_1p5'; did you mean vendor_a_1p5t"),
        (lambda p, f: p["acquisitions"]["A15_rep1"].update(scanner="C30"),
         "protocol.acquisitions.A15_rep1.scanner: unknown scanner 'C30'"),
        (lambda p, f: p["roi"].update(diameters_mm=[70.0, 24.0]),
         "protocol.roi.diameters_mm: an ROI of 17.5 mm does not fit insert"),
        (lambda p, f: p["comparisons"][0].update(acquisitions=["A15_rep1", "A15_rep9"]),
         "unknown acquisition 'A15_rep9'"),
        (lambda p, f: f["inserts"][0].update(centre_mm=[120.0, 0.0]),
         "phantom.inserts[0] (medium_1): the insert"),
        (lambda p, f: p["acquisitions"]["A15_rep2"].update(mask_from="A15_rep9"),
         "protocol.acquisitions.A15_rep2.mask_from: unknown acquisition 'A15_rep9'"),
        (lambda p, f: p["acquisitions"]["A15_rep2"].update(mask_from="B15_3d"),
         "protocol.acquisitions.A15_rep2.mask_from: 'B15_3d' has another grid"),
        (lambda p, f: p["acquisitions"]["A15_rep2"].update(mask_from="A15_rep1", margin_slices=[0, 2]),
         "protocol.acquisitions.A15_rep2.mask_from: 'A15_rep1' has another grid"),
        (lambda p, f: p["roi"].update(margin_slices=[1]),
         "protocol.roi.margin_slices: expected two integers >= 0 [below, above], got [1]"),
        (lambda p, f: p["acquisitions"]["A15_rep1"].update(margin_slices=[-1, 2]),
         "protocol.acquisitions.A15_rep1.margin_slices: expected two integers >= 0"),
        (lambda p, f: p["acquisitions"]["A15_rep1"].update(diameters_mm=[70.0, 24.0]),
         "protocol.acquisitions.A15_rep1.diameters_mm: an ROI of 17.5 mm does not fit insert"),
        (lambda p, f: p["acquisitions"]["A15_rep1"].update(diameters_mm=48.0),
         "protocol.acquisitions.A15_rep1.diameters_mm: expected a list of diameters, got 48.0"),
        (lambda p, f: p["acquisitions"]["A15_rep1"].update(diameters_mm=[48.0]),
         "protocol.acquisitions.A15_rep1.diameters_mm: expected 2 sizes, as protocol.roi.diameters_mm, got 1"),
        (lambda p, f: p["acquisitions"]["A15_rep2"].update(mask_from="A15_rep1", diameters_mm=[52.0, 26.0]),
         "protocol.acquisitions.A15_rep2.mask_from: 'A15_rep1' has another grid"),
        (lambda p, f: p["acquisitions"]["A15_rep1"].update(roi_step={"normal_deg": 90.0, "offset": 1.0}),
         "protocol.acquisitions.A15_rep1.roi_step.offset: unknown key (expected normal_deg, offset_mm)"),
        (lambda p, f: p["acquisitions"]["A15_rep1"].update(roi_step={"normal_deg": "up", "offset_mm": 1.0}),
         "protocol.acquisitions.A15_rep1.roi_step.normal_deg: expected a number, got 'up'"),
        (lambda p, f: p["acquisitions"]["A15_rep1"].update(roi_step={"normal_deg": 90.0, "offset_mm": 1.0},
                                                           margin_slices=[1, 0]),
         "protocol.acquisitions.A15_rep1.roi_step: the stepped ROI needs a slice above the ROI's; "
         "margin_slices is [1, 0]"),
        (lambda p, f: p["scanners"].update(A15={"base": "vendor_a_1p5t",
                                                "nonuniformity": {"gradient_per_100mm": [0.1]}}),
         "protocol.scanners.A15.nonuniformity.gradient_per_100mm: expected two numbers [x, y], got [0.1]"),
        (lambda p, f: p["scanners"].update(A15={"base": "vendor_a_1p5t",
                                                "ghosting": {"phase_sd_rad": 0.05, "shots": 2.5}}),
         "protocol.scanners.A15.ghosting.shots: expected an integer >= 1, got 2.5"),
        (lambda p, f: p["scanners"].update(A15={"base": "vendor_a_1p5t", "ghosting": {"sd": 0.05}}),
         "protocol.scanners.A15.ghosting.sd: unknown key (expected phase_sd_rad, shots)"),
        (lambda p, f: p["scanners"].update(A15={"base": "vendor_a_1p5t", "extraction": 10}),
         "protocol.scanners.A15.extraction: expected a parameter file name or a mapping"),
    ],
)
def test_bad_configuration_is_refused_before_any_work(tmp_path: Path, edit: Any, message: str) -> None:
    proto, phantom = tiny()
    edit(proto, phantom)
    with pytest.raises(ValueError) as err:
        simulate_study(proto, phantom, tmp_path / "s", seed=0, progress=False)
    assert message in str(err.value)
    assert not (tmp_path / "s").exists()


def test_scanner_registry_lists_and_resolves() -> None:
    assert {"vendor_a_1p5t", "vendor_b_1p5t", "vendor_b_3t"} <= set(list_scanners())
    assert list_scanners("vendor_b_*") == ["vendor_b_1p5t", "vendor_b_3t"]
    assert get_scanner("vendor_b_3t")["field_strength"] == 3.0
    with pytest.raises(ValueError, match="did you mean vendor_b_3t"):
        get_scanner("vendor_b_3")


def test_a_mask_drawn_on_another_scan_and_per_scanner_settings(tmp_path: Path) -> None:
    from robustlab.radiomics.study import load_study

    proto, phantom = tiny()
    proto["scanners"]["A15"] = {"base": "vendor_a_1p5t", "extraction": {"binWidth": 10}}
    proto["acquisitions"]["A15_rep3"] = {"scanner": "A15", "session": "s3", "repetition": 3,
                                         "position": 2, "mask_from": "A15_rep1"}
    proto["acquisitions"]["A15_own"] = {"scanner": "A15", "session": "s3"}
    # an operator who draws larger circles (as vendor A's centre did: 52 mm where B drew 48)
    proto["acquisitions"]["A15_big"] = {"scanner": "A15", "session": "s1", "diameters_mm": [56.0, 28.0]}
    proto["acquisitions"]["A15_res"] = {"scanner": "A15", "session": "s1", "extraction": {
        "resampledPixelSpacing": [0.5, 0.5, 0], "interpolator": "sitkBSpline"}}
    study_path = simulate_study(proto, phantom, tmp_path / "s", seed=1, n_jobs=1, progress=False)
    masks = {a: sitk.GetArrayFromImage(read(tmp_path / "s" / "masks" / f"{a}_size1.nii.gz"))
             for a in ("A15_rep1", "A15_rep3", "A15_own", "A15_big")}
    # the repositioned scan keeps the first scan's ROIs; drawn on its own image they move
    np.testing.assert_array_equal(masks["A15_rep3"], masks["A15_rep1"])
    assert not np.array_equal(masks["A15_own"], masks["A15_rep1"])
    # its own sizes: the largest ROI of each insert grows as its diameter squared, (56 / 48)^2
    areas = {a: [(masks[a] == 10 * i + 1).sum() for i in range(1, 5)] for a in ("A15_rep1", "A15_big")}
    np.testing.assert_allclose(np.divide(areas["A15_big"], areas["A15_rep1"]), (56 / 48) ** 2, rtol=0.1)
    doc = yaml.safe_load(study_path.read_text())
    assert doc["scanners"] == {"A15": {"extraction": {"binWidth": 10}}}
    assert doc["acquisitions"]["A15_res"]["extraction"]["interpolator"] == "sitkBSpline"
    study = load_study(study_path)
    assert study.acquisitions["A15_rep1"].settings.label == "paper2d.yaml binWidth=10"
    assert "resampledPixelSpacing" in study.acquisitions["A15_res"].settings.label


def test_a_stepped_roi_lies_one_slice_higher_beyond_its_line() -> None:
    from robustlab.radiomics.phantom.simulate import simulate_acquisitions

    proto, phantom = tiny()
    proto["acquisitions"]["A15_step"] = {"scanner": "A15", "session": "s1",
                                         "roi_step": {"normal_deg": 90.0, "offset_mm": 8.0}}
    plan = plan_study(proto, phantom, seed=0)
    sims = simulate_acquisitions(plan, ["A15_rep1", "A15_step"])
    flat, step = sims["A15_rep1"].mask[0], sims["A15_step"].mask[0]
    block = plan.acquisitions["A15_step"].rois.roi_block  # one ROI slice, one slice above it
    ys = plan.acquisitions["A15_step"].grid.axis(flat.shape[2], plan.acquisitions["A15_step"].grid.spacing_mm[1])
    beyond = ys > 8.0  # normal 90 deg: the line y = 8 mm
    cut = 0
    for label in np.unique(flat[flat > 0]):
        on = flat[block.start] == label
        cut += 0 < (on & beyond[:, None]).sum() < on.sum()
        # the same voxels in plane, those beyond the line one slice higher
        np.testing.assert_array_equal(step[block.start] == label, on & ~beyond[:, None])
        np.testing.assert_array_equal(step[block.start + 1] == label, on & beyond[:, None])
    assert cut == 2  # the line cuts the ROIs of the two anterior inserts (y = 8.75 mm)


def test_paper_protocol_steps_vendor_a_repositioned_masks_as_released() -> None:
    from robustlab.radiomics.phantom.roi_drawing import draw_mask, ideal_circles

    plan = plan_study(load_config("protocol", "paper"), load_config("phantom", "pelvic"), seed=0)
    acq = plan.acquisitions["A15_rep3"]
    masks = draw_mask(acq.grid, ideal_circles(plan.phantom, acq.pose, acq.rois), acq.rois)
    above = acq.rois.roi_block.stop
    shares = [[(m[above] == acq.rois.label(i, j)).sum() / (m == acq.rois.label(i, j)).sum() * 3
               for j, m in enumerate(masks)] for i in range(4)]
    # the share of each ROI's area on the slice above (RadiomicFiles/IEO/radiomics_3_*)
    released = [[0.341, 0.290, 0.194, 0.002], [0.085, 0.003, 0, 0], [0] * 4, [0] * 4]
    np.testing.assert_allclose(shares, released, atol=0.005)
    assert all(a.rois.step is None for a in plan.acquisitions.values() if a.id != "A15_rep3")


def test_paper_protocol_mirrors_the_study() -> None:
    plan = plan_study(load_config("protocol", "paper"), load_config("phantom", "pelvic"), seed=0)
    acqs = plan.acquisitions
    assert len(acqs) == 22
    # as the study ran it: vendor A's centre at binWidth 10, the vendor comparison's B scan
    # resampled to 0.625 mm, the B centre's repositioned scans with the fixed-position masks
    assert plan.scanner_extraction == {"A15": {"binWidth": 10}}
    assert acqs["B15_vendor"].extraction == {"resampledPixelSpacing": [0.625, 0.625, 0],
                                             "interpolator": "sitkBSpline"}
    assert {a.id: a.mask_from for a in acqs.values() if a.mask_from} == {
        "B15_rep3": "B15_rep1", "B30_rep3": "B30_rep1"}
    matrices = {a.scanner.name: (a.grid.matrix, a.grid.spacing_mm) for a in acqs.values()
                if a.mode == "2D"}
    assert matrices == {"vendor_a_1p5t": ((512, 512), (0.625, 0.625, 5.5)),
                        "vendor_b_1p5t": ((528, 528), (0.644, 0.644, 5.0)),
                        "vendor_b_3t": ((560, 560), (0.607, 0.607, 5.0))}
    assert sorted(a.te_ms for a in acqs.values() if a.id.startswith("B15_te")) == list(
        np.arange(80.0, 121.0, 5.0))
    assert {a.tr_ms for a in acqs.values() if a.mode == "2D"} == {5000.0, 4405.0}
    for scanner in ("A15", "B15", "B30"):
        rep = [acqs[f"{scanner}_rep{r}"] for r in (1, 2, 3)]
        assert rep[0].pose == rep[1].pose != rep[2].pose
    assert [a.grid.spacing_mm for a in acqs.values() if a.mode == "3D"] == [(1.0, 1.0, 1.0)] * 2
    assert len(plan.rois.diameters_mm) * len(plan.phantom.inserts) == 16
    # the sizes each centre drew (vendor A's centre 1/12 larger than vendor B's)
    assert {a.rois.diameters_mm for a in acqs.values() if a.scanner_key == "A15"} == {(52.0, 39.0, 26.0, 13.0)}
    assert {a.rois.diameters_mm for a in acqs.values() if a.scanner_key != "A15"} == {(48.0, 36.0, 24.0, 12.0)}
    groups = {c["group"] for c in plan.comparisons}
    assert groups == {"repeat_fixed", "repeat_repositioned", "between_field_strengths",
                      "between_vendors", "te_adjacent", "tr", "repeat_3d"}
    assert plan.published["repeat_fixed"] == [79.9, 96.4]


@pytest.mark.slow
def test_quick_study_ranks_the_comparisons_like_the_paper(tmp_path: Path) -> None:
    from robustlab.radiomics.pipeline import run_study

    study = simulate_study(load_config("protocol", "quick"), load_config("phantom", "pelvic"),
                           tmp_path / "study", seed=0, progress=False)
    result = run_study(study, tmp_path / "run", n_jobs=2, cache_dir=tmp_path / "cache", seed=0,
                       progress=False, texture=False, report=False)
    pct = result.summary.set_index("comparison")["pct_excellent"]
    assert pct["repeat_fixed_A15"] > pct["repeat_repositioned_A15"] > pct["between_vendors"]
    te_pairs = [c for c in pct.index if c.startswith("te_adjacent/")]
    assert len(te_pairs) == 2
    for pair in te_pairs:
        assert pct[pair] >= 80.0, (pair, pct[pair])
