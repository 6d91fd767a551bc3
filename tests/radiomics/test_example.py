"""``robustlab-radiomics-example``: the two-site study of the how-to page, written and valid."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from robustlab.radiomics.example import STUDY_YAML, main, write_example
from robustlab.radiomics.study import load_study, validate_study

HOW_TO = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "multicentre-study.md"


def test_the_how_to_page_shows_the_study_file_the_command_writes():
    text = HOW_TO.read_text(encoding="utf-8")
    block = re.search(r"<!-- two-sites-example -->\n```yaml\n(.*?)```", text, re.S)
    assert block and block.group(1) == STUDY_YAML


def test_the_example_study_validates_with_five_rois_per_scan(tmp_path: Path):
    study = validate_study(load_study(write_example(tmp_path)))
    assert set(study.rois) == {"a_test", "a_retest", "b_test", "a_3d", "a_3d_re"}
    assert all(rois == ("insert1", "insert2", "insert3", "insert4", "core") for rois in study.rois.values())
    assert study.voxels["a_test"]["core"] < study.voxels["a_test"]["insert1"]


def test_a_repeat_differs_by_noise_only_and_site_b_images_otherwise(tmp_path: Path):
    write_example(tmp_path)
    read = {s: sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / f"{s}.nii.gz")))
            for s in ("a/test", "a/retest", "b/test")}
    repeat = read["a/test"] - read["a/retest"]
    assert 3.0 < repeat.std() / np.sqrt(2) < 3.3            # site A's noise sd, 3
    assert np.corrcoef(read["a/test"].ravel(), read["b/test"].ravel())[0, 1] > 0.9
    assert abs(read["b/test"].mean() / read["a/test"].mean() - 0.85) < 0.02   # site B's gain


def test_the_command_writes_the_study_and_refuses_a_file_as_folder(tmp_path: Path, capsys):
    assert main([str(tmp_path / "ex")]) == 0
    assert (tmp_path / "ex" / "study.yaml").read_text() == STUDY_YAML
    assert "robustlab-radiomics study=" in capsys.readouterr().out
    (tmp_path / "file").write_text("x")
    assert main([str(tmp_path / "file")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_the_roi_picture_draws_one_panel_per_scanner(tmp_path: Path):
    from robustlab.radiomics.figures import figure_rois, scanner_acquisitions

    study = load_study(write_example(tmp_path))
    assert list(scanner_acquisitions(study)) == ["site_a", "site_b"]
    rois = {a: ("insert1", "insert2", "insert3", "insert4", "core") for a in study.acquisitions}
    path = figure_rois(study, rois, tmp_path / "rois.png")
    assert path is not None and path.stat().st_size > 5000
