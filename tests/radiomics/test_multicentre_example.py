"""The multicentre study files of the docs' how-to page, validated on generated images."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from robustlab.radiomics.extraction import work_items
from robustlab.radiomics.study import load_study, validate_study

ROOT = Path(__file__).resolve().parents[2]


HOW_TO = ROOT / "docs" / "how-to" / "multicentre-study.md"


def example(page: Path = HOW_TO,
            marker: str = "multicentre-example") -> str:
    text = page.read_text(encoding="utf-8")
    found = re.search(rf"<!-- {marker} -->\n```yaml\n(.*?)```", text, re.S)
    assert found, f"the example {marker} of {page.name} is missing"
    return found.group(1)


def write_fixtures(root: Path, study: dict) -> None:
    """An image for every image path and a disc mask for every ROI file, per scanner folder."""
    yy, xx = np.mgrid[:48, :48]
    big, small = np.hypot(yy - 16, xx - 16) <= 9, np.hypot(yy - 16, xx - 16) <= 4

    def disc(stem: str) -> np.ndarray:  # a core ROI nests inside the big one; labels: label 2
        if stem == "labels":
            return 2 * (np.hypot(yy - 34, xx - 34) <= 7)
        return small if stem in ("core", "c3d") else big

    rng = np.random.default_rng(0)
    for acq in study["acquisitions"].values():
        image_path = root / acq["image"]
        image_path.parent.mkdir(parents=True, exist_ok=True)
        volume = 100 + 20 * rng.normal(size=(6, 48, 48))
        image = sitk.GetImageFromArray(volume.astype(np.float32))
        image.SetSpacing((0.8, 0.8, 4.0))
        sitk.WriteImage(image, str(image_path))
        for spec in acq["rois"].values():
            path = root / (spec["file"] if isinstance(spec, dict) else spec)
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            mask = sitk.GetImageFromArray(np.repeat(disc(path.name.split(".")[0])[None], 6, 0).astype(np.uint8))
            mask.CopyInformation(image)
            sitk.WriteImage(mask, str(path))


def test_the_multicentre_example_validates_with_its_settings_and_rois(tmp_path: Path) -> None:
    text = example()
    study = yaml.safe_load(text)
    write_fixtures(tmp_path, study)
    (tmp_path / "study.yaml").write_text(text)
    loaded = load_study(tmp_path / "study.yaml")
    acqs = loaded.acquisitions
    assert acqs["siemens"].settings.label == "paper2d.yaml binWidth=10"
    assert acqs["philips"].settings.label == ('paper2d.yaml interpolator="sitkBSpline" '
                                              "resampledPixelSpacing=[0.625,0.625,0]")
    assert acqs["ge_rep1"].settings.label == "paper2d.yaml"
    assert acqs["ge_3d_rep1"].settings.label == "paper3d.yaml"
    assert {c.name: c.family for c in loaded.comparisons} == {
        "repeat": "2D", "fields": "2D", "vendors": "2D", "te": "2D", "repeat_3d": "3D"}
    assert len(next(c for c in loaded.comparisons if c.name == "te").pairs) == 3
    validated = validate_study(loaded)
    assert validated.rois["ge_rep1"] == ("insert1", "core", "insert2")
    assert validated.labels["ge_rep1"] == {"insert1": 1, "core": 1, "insert2": 2}
    assert validated.voxels["ge_rep1"]["core"] < validated.voxels["ge_rep1"]["insert1"]
    items = {(it.acquisition, it.roi): it for it in work_items(validated)}
    # the same image content and mask under two settings: two cache keys
    assert items[("siemens", "core")].overrides == '{"binWidth": 10}'
    assert len({it.key for it in items.values()}) == len(items)


@pytest.mark.parametrize("where", ["scanners", "acquisition"])
def test_a_typo_in_the_example_settings_is_named(tmp_path: Path, where: str) -> None:
    study = yaml.safe_load(example())
    write_fixtures(tmp_path, study)
    if where == "scanners":
        study["scanners"]["siemens_3t"]["extraction"] = {"binwidth": 10}
    else:
        study["acquisitions"]["philips"]["extraction"] = {"interpolator": "sitkSpline"}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    with pytest.raises(ValueError, match="pyradiomics rejects the settings"):
        validate_study(load_study(tmp_path / "study.yaml"))


def test_the_two_sites_example_validates(tmp_path: Path) -> None:
    text = example(HOW_TO, "two-sites-example")
    write_fixtures(tmp_path, yaml.safe_load(text))
    (tmp_path / "two_sites.yaml").write_text(text)
    validated = validate_study(load_study(tmp_path / "two_sites.yaml"))
    study = validated.study
    assert study.acquisitions["b_test"].settings.label == "paper2d.yaml binWidth=10"
    assert [c.family for c in study.comparisons] == ["2D", "2D", "3D"]
    assert validated.rois["a_retest"] == ("insert1", "insert2", "insert3", "insert4", "core")
