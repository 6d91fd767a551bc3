"""Tiny synthetic image studies for the radiomics tests (NIfTI images with label-map masks)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

SMALL_PARAMS = {
    "setting": {"force2D": True, "force2Ddimension": 0, "binWidth": 5, "normalize": True,
                "normalizeScale": 100, "voxelArrayShift": 300, "preCrop": True},
    "imageType": {"Original": {}},
    "featureClass": {"shape": None, "firstorder": None, "glcm": None},
}


def texture(kind: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A 2-D texture patch: stripes, checkerboard, blobs (smoothed noise) or plain noise."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    if kind == "stripes":
        return 40.0 * ((xx // 2) % 2)
    if kind == "checker":
        return 40.0 * (((xx // 3) + (yy // 3)) % 2)
    if kind == "blobs":
        return 30.0 * np.sin(xx / 2.5) * np.cos(yy / 3.5)
    return 15.0 * rng.normal(size=shape)


def write_image_study(
    root: Path, n_acquisitions: int = 2, n_rois: int = 4, size: int = 48, slices: int = 5,
    noise: float = 1.0, params: dict[str, Any] | None = None, seed: int = 0,
    comparisons: list[dict[str, Any]] | None = None, extraction: str | None = None,
) -> Path:
    """Write a study of ``n_acquisitions`` repeated scans of one synthetic phantom.

    Each scan is a ``slices x size x size`` image (spacing 1 x 1 x 3 mm) with ``n_rois``
    square inserts of different textures and sizes on the 3 middle slices; repeats differ by
    Gaussian noise of s.d. ``noise``. ``extraction`` names a bundled parameter file (default:
    a small user file, ``params.yaml``: original image, shape, first order and GLCM).
    Returns the study YAML's path.
    """
    import SimpleITK as sitk

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    kinds = ["stripes", "checker", "blobs", "noise"]
    base = np.full((slices, size, size), 50.0)
    mask = np.zeros((slices, size, size), dtype=np.uint8)
    cells = int(np.ceil(np.sqrt(n_rois)))
    cell = size // cells
    z0 = slices // 2 - 1
    for k in range(n_rois):
        r, c = divmod(k, cells)
        side = max(6, cell - 4 - 2 * (k % 3))
        y0, x0 = r * cell + 2, c * cell + 2
        patch = 100.0 + 10 * k + texture(kinds[k % len(kinds)], (side, side), rng)
        base[z0:z0 + 3, y0:y0 + side, x0:x0 + side] = patch
        mask[z0:z0 + 3, y0:y0 + side, x0:x0 + side] = k + 1
    param_path = root / "params.yaml"
    param_path.write_text(yaml.safe_dump(params or SMALL_PARAMS))
    acquisitions = {}
    for a in range(n_acquisitions):
        img = base + noise * rng.normal(size=base.shape)
        image = sitk.GetImageFromArray(img.astype(np.float32))
        image.SetSpacing((1.0, 1.0, 3.0))
        lab = sitk.GetImageFromArray(mask)
        lab.CopyInformation(image)
        sitk.WriteImage(image, str(root / f"rep{a + 1}.nii.gz"))
        sitk.WriteImage(lab, str(root / f"rep{a + 1}_mask.nii.gz"))
        acquisitions[f"rep{a + 1}"] = {"image": f"rep{a + 1}.nii.gz", "mask": f"rep{a + 1}_mask.nii.gz",
                                       "scanner": "s1", "repetition": a + 1, "te": 80 + 5 * a}
    if comparisons is None:
        comparisons = [{"name": "repeat", "statistic": "icc",
                        "acquisitions": list(acquisitions)[:2], "group": "repeat_fixed"}]
    study = {"name": "quick", "threshold": 0.9, "extraction": extraction or "params.yaml",
             "acquisitions": acquisitions, "comparisons": comparisons}
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


@pytest.fixture
def image_study(tmp_path: Path) -> Callable[..., Path]:
    """A factory: ``image_study(**kwargs)`` writes a study under ``tmp_path/data``."""

    def make(**kwargs: Any) -> Path:
        return write_image_study(tmp_path / "data", **kwargs)

    return make


@pytest.fixture
def run(tmp_path: Path) -> Callable[..., Any]:
    """``run(study, **options)``: the study run by this process alone into ``tmp_path/out``,
    its cache ``tmp_path/cache``, without progress bar (and without report unless asked)."""
    from robustlab.radiomics.pipeline import run_study

    def go(study: Path, **options: Any) -> Any:
        return run_study(study, tmp_path / "out", n_jobs=1, cache_dir=tmp_path / "cache",
                         progress=False, **{"report": False, **options})

    return go


@pytest.fixture
def extracted(tmp_path: Path) -> Callable[[], list[Path]]:
    """``extracted()``: the cache entries of the ROIs extracted into ``tmp_path/cache`` (not the
    stored analyses or file checks), sorted."""

    def entries() -> list[Path]:
        root = tmp_path / "cache"
        if not root.exists():
            return []
        return sorted(p for p in root.rglob("*.json")
                      if not {"analyses", "checked_files"} & set(p.relative_to(root).parts))

    return entries


@pytest.fixture
def edit_study() -> Callable[[Path, Callable[[dict[str, Any]], Any]], Path]:
    """``edit_study(path, fn)``: the study file rewritten after ``fn`` changed its mapping."""

    def edit(path: Path, fn: Callable[[dict[str, Any]], Any]) -> Path:
        study = yaml.safe_load(path.read_text())
        fn(study)
        path.write_text(yaml.safe_dump(study, sort_keys=False))
        return path

    return edit


@pytest.fixture
def rewrite_image() -> Callable[[Path, Callable[[np.ndarray], np.ndarray]], None]:
    """``rewrite_image(path, fn)``: the image file's voxels replaced by ``fn(voxels)``, its
    geometry kept."""
    import SimpleITK as sitk

    def rewrite(path: Path, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        image = sitk.ReadImage(str(path))
        out = sitk.GetImageFromArray(fn(sitk.GetArrayFromImage(image)))
        out.CopyInformation(image)
        sitk.WriteImage(out, str(path))

    return rewrite


@pytest.fixture(scope="module")
def phantomstudy(shared_data) -> Path:
    """The released phantom features in ``../shared``; the test is skipped when they are absent."""
    root = shared_data / "radiomics" / "phantomstudy"
    if not root.is_dir():
        pytest.skip(f"real-data check: no released phantom features at {root}")
    return root
