"""ROIs cut out of a prepared acquisition give pyradiomics' own values; the parallel driver."""

from __future__ import annotations

import os

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from robustlab.radiomics.extraction import FeatureCache, extract, work_items
from robustlab.radiomics.extraction.pool import in_parallel
from robustlab.radiomics.extraction.regions import PreparedAcquisition, bounding_boxes, shareable
from robustlab.radiomics.extraction.worker import ExtractionProcess
from robustlab.radiomics.study import extraction_dir, load_study, validate_study

FILTERED = {
    "setting": {"force2D": True, "force2Ddimension": 0, "binWidth": 5, "normalize": True,
                "normalizeScale": 100, "removeOutliers": 2, "voxelArrayShift": 300,
                "preCrop": True, "padDistance": 2},
    "imageType": {"Original": {}, "LoG": {"sigma": [2.0]}, "Wavelet": {}, "Square": {}},
    "featureClass": {"firstorder": None, "glcm": None, "glszm": None},
}


def plain_pyradiomics(item):
    """What ``RadiomicsFeatureExtractor.execute`` gives for the item's files, diagnostics dropped."""
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    result = RadiomicsFeatureExtractor(str(item.params)).execute(str(item.image), str(item.mask),
                                                                 label=item.label)
    return {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}


@pytest.mark.parametrize("params", ["paper2d", "filtered", "no_precrop"])
def test_prepared_crops_give_pyradiomics_values_exactly(image_study, tmp_path, params):
    if params == "paper2d":
        study = image_study(n_rois=4, extraction="paper2d")
    else:
        settings = dict(FILTERED, setting={**FILTERED["setting"], "preCrop": params == "filtered"})
        study = image_study(n_rois=4, params=settings)
    items = work_items(validate_study(load_study(study)), acquisitions=["rep1"])
    # the inserts lie 2 voxels from the image's edge: the padded crop is clipped there
    got = dict(ExtractionProcess().extract_items(items, tmp_path / "cache"))
    for it in items:
        want = plain_pyradiomics(it)
        have = got[it.key]["features"]
        assert list(have) == list(want)
        assert np.array_equal(list(have.values()), list(want.values()), equal_nan=True), it.roi


def test_shareable_only_with_precrop_and_without_resampling():
    assert shareable({"preCrop": True, "interpolator": "sitkBSpline", "resampledPixelSpacing": None})
    assert not shareable({"preCrop": False})
    assert not shareable({"preCrop": True, "interpolator": "sitkBSpline",
                          "resampledPixelSpacing": [1, 1, 1]})


def test_bounding_boxes_are_pyradiomics_check_mask_boxes(image_study):
    from radiomics import imageoperations

    study = load_study(image_study(n_rois=5))
    acq = study.acquisitions["rep1"]
    image, mask = sitk.ReadImage(str(acq.image)), sitk.ReadImage(str(acq.mask))
    mask = sitk.Cast(mask, sitk.sitkUInt32)
    boxes = bounding_boxes(mask)
    assert sorted(boxes) == [1, 2, 3, 4, 5]
    for label, box in boxes.items():
        want, _ = imageoperations.checkMask(image, mask, label=label)
        assert box.tolist() == want.tolist()


def test_prepared_acquisition_refuses_a_mask_of_another_size():
    image = sitk.Image([8, 8, 3], sitk.sitkFloat32)
    with pytest.raises(ValueError, match="size"):
        PreparedAcquisition(image, sitk.Image([8, 7, 3], sitk.sitkUInt8), {"normalize": True})


def test_two_processes_give_the_values_of_one(image_study, tmp_path):
    study = image_study(n_acquisitions=3, n_rois=4)
    items = work_items(validate_study(load_study(study)), shuffle=["rep1"], seed=3)
    one = extract(items, FeatureCache(tmp_path / "one"), n_jobs=1, progress=False)
    two = extract(items, FeatureCache(tmp_path / "two"), n_jobs=2, progress=False)
    assert one[0] == two[0] == {"cached": 0, "extracted": 16, "failed": 0}
    assert one[1] == two[1]
    assert len(list((tmp_path / "two").glob("*/*.json"))) == 16


def test_a_failing_task_stops_the_parallel_run_and_restores_itk_threads(image_study, tmp_path):
    items = work_items(validate_study(load_study(image_study(n_acquisitions=2, n_rois=2))))
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("")
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    with pytest.raises(FileExistsError):
        list(in_parallel(items, not_a_folder, 2, ExtractionProcess()))
    assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == threads


def _worker_state() -> tuple[int, bool]:
    import os
    import sys

    return os.getppid(), "radiomics.featureextractor" in sys.modules


def test_workers_are_forked_with_pyradiomics_loaded(monkeypatch):
    from robustlab.radiomics.extraction.pool import forking, worker_pool

    if not forking():
        pytest.skip("workers are forked on Linux only")
    process = ExtractionProcess()
    process.extractor(extraction_dir() / "paper2d.yaml")
    with worker_pool(1, 1, process) as pool:
        parent, loaded = pool.submit(_worker_state).result()
    assert parent == os.getpid() and loaded


def test_a_parameter_file_with_resampling_is_extracted_roi_by_roi(image_study, tmp_path):
    params = yaml.safe_load((extraction_dir() / "paper2d.yaml").read_text())
    params["setting"].update(interpolator="sitkBSpline", resampledPixelSpacing=[1, 1, 3])
    params["imageType"] = {"Original": {}}
    study = image_study(n_rois=2, params=params)
    items = work_items(validate_study(load_study(study)), acquisitions=["rep1"])
    got = dict(ExtractionProcess().extract_items(items, tmp_path / "cache"))
    for it in items:
        assert got[it.key]["features"] == plain_pyradiomics(it)


def test_without_workers_this_process_extracts_everything(image_study, tmp_path, monkeypatch):
    import contextlib

    import robustlab.radiomics.extraction.pool as pool_module

    class Broken:
        def submit(self, *args, **kwargs):
            raise RuntimeError("a broken process pool")

    monkeypatch.setattr(pool_module, "worker_pool", lambda *a: contextlib.nullcontext(Broken()))
    items = work_items(validate_study(load_study(image_study(n_acquisitions=2, n_rois=3))))
    done = [r for results in in_parallel(items, tmp_path / "cache", 3, ExtractionProcess()) for r in results]
    assert sorted(k for k, _ in done) == sorted(it.key for it in items)
    assert dict(done) == dict(ExtractionProcess().extract_items(items, tmp_path / "again"))


def test_every_extracting_process_runs_its_share_of_the_cores(image_study, tmp_path):
    from robustlab.common.threads import available_cores, current_limits, threads_per_process
    from robustlab.radiomics.extraction.pool import worker_pool

    items = work_items(validate_study(load_study(image_study(n_acquisitions=2, n_rois=2))))
    before = current_limits()
    extract(items, FeatureCache(tmp_path / "cache"), n_jobs=2, progress=False)
    threads = threads_per_process(2)
    # a worker of the pool that extracted reads its limits
    with worker_pool(1, threads) as pool:
        inside = pool.submit(current_limits).result()
    assert inside["blas"] == inside["itk"] == threads
    assert inside["openmp"] in (0, threads)
    assert 2 * threads <= max(2, available_cores())
    assert current_limits() == before  # this process's own limits are restored after the run
