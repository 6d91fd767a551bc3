"""The study file and the planner's design declare their keys' constraints; one binder checks them.

Each case below was accepted before (a value the analysis then used as it was: a threshold of
0 calling features without agreement excellent, a published range upside down, an empty
``labels`` meaning every label) or stopped with a traceback; each is now one line naming the
file and the key path (``robustlab.radiomics.study.schema``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from robustlab.common.errors import ConfigError
from robustlab.radiomics.errors import StudyError
from robustlab.radiomics.planner import load_design, plan
from robustlab.radiomics.study import load_study, study_dir


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update(threshold=0), r"threshold: must be in \(0, 1\); got 0$"),
    (lambda s: s.update(threshold=-0.5), r"threshold: must be in \(0, 1\); got -0\.5$"),
    (lambda s: s.update(published={"g": [90, 80]}),
     r"published\.g: must be in increasing order \(equal values allowed\); got \[90, 80\]$"),
    (lambda s: s.update(published={"g": [10, 120]}),
     r"published\.g\[1\]: must be in \[0, 100\]; got 120$"),
    (lambda s: s["acquisitions"]["a"].update(labels=[]),  # before: every label of the file
     r"acquisitions\.a\.labels: must be non-empty or null; got \[\]$"),
    (lambda s: s["acquisitions"]["a"].update(labels=[1, 0]),
     r"acquisitions\.a\.labels\[1\]: must be in \[1, inf\); got 0$"),
    (lambda s: s["acquisitions"]["a"].update(family=""),
     r"acquisitions\.a\.family: must be non-empty or null; got ''$"),
    (lambda s: s.update(roi_column=""), r"roi_column: must be non-empty or null; got ''$"),
    (lambda s: s.update(name={"a": 1}), r"name: must be .*; got \{'a': 1\}$"),
    (lambda s: s.update(thresold=0.8), r"unknown key 'thresold'; did you mean threshold\?"),
    (lambda s: s.update(comparisons=[]), r"comparisons: must be non-empty; got \[\]$"),
    (lambda s: s.pop("acquisitions"), r"acquisitions: missing \(required\)$"),
    (lambda s: s["comparisons"][0].update(group=["x"]),
     r"comparisons\[0\] \(ab\)\.group: must be .*; got \['x'\]$"),
    (lambda s: s["comparisons"][0].update(combine="union"),
     r"comparisons\[0\] \(ab\)\.combine: must be intersection; got 'union'$"),
    (lambda s: s["comparisons"][0].pop("name"), r"comparisons\[0\]\.name: missing \(required\)$"),
    (lambda s: s["comparisons"][0].update(statistic=["icc"]),  # before: a TypeError
     r"comparisons\[0\] \(ab\)\.statistic: expected str, got \['icc'\]$"),
])
def test_a_study_value_out_of_its_declared_constraint_is_one_line_naming_file_and_key(
        csv_study, edit_study, change, message):
    study = edit_study(csv_study(), change)
    with pytest.raises(StudyError, match=r"s\.yaml: " + message) as info:
        load_study(study)
    assert "\n" not in str(info.value)


def test_values_inside_their_constraints_load_as_written(csv_study, edit_study):
    study = edit_study(csv_study(), lambda s: (
        s.update(threshold=0.75, published={"ab": [20, 20]}, roi_column=None),
        s["acquisitions"]["a"].update(labels=2), s["acquisitions"]["b"].update(labels=[2]),
        s["comparisons"][0].update(statistic="ICC", type="consistency", group=3)))
    loaded = load_study(study)
    cmp = loaded.comparisons[0]
    assert loaded.threshold == 0.75 and loaded.published == {"ab": (20.0, 20.0)}
    assert loaded.acquisitions["a"].labels == (2,) == loaded.acquisitions["b"].labels
    assert (cmp.statistic, cmp.options["type"], cmp.group) == ("icc", "consistency", "3")


def _design(tmp_path: Path, change) -> Path:
    design = yaml.safe_load((study_dir().parent / "designs" / "two_vendors.yaml").read_text())
    change(design)
    path = tmp_path / "design.yaml"
    path.write_text(yaml.safe_dump(design))
    return path


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(scanners="vendor_a_1p5t"),  # before: an AttributeError traceback
     r"scanners: expected a mapping, got 'vendor_a_1p5t'$"),
    (lambda d: d.update(scanners={}), r"scanners: must be non-empty; got \{\}$"),
    (lambda d: d.update(threshold=1.5), r"threshold: must be in \(0, 1\) or null; got 1\.5$"),
    (lambda d: d.update(published={"between_vendors": [9, 4]}),
     r"published\.between_vendors: must be in increasing order \(equal values allowed\); "
     r"got \[9, 4\]"),
    (lambda d: d.update(phantom="pelvis"),
     r"phantom: unknown phantom 'pelvis'; did you mean pelvic\?"),
    (lambda d: d.update(sedes=3), r"unknown key 'sedes'"),
    (lambda d: d["acquisitions"]["A15_rep1"].update(scanner="A51"),
     r"acquisitions\.A15_rep1\.scanner: unknown scanner 'A51'; did you mean 'A15'\?"),
    (lambda d: d["acquisitions"]["A15_rep1"].update(scanner=[]),  # before: a TypeError
     r"acquisitions\.A15_rep1\.scanner: unknown scanner '\[\]'"),
    (lambda d: d["comparisons"][0].update(statistic="icx"),
     r"comparisons\[0\] \(repeat_A15\)\.statistic: must be a registered statistic .*"
     r"\(did you mean icc\?\)$"),
    (lambda d: d["comparisons"][2].update(acquisitions=["A15_rep1", "B15_rep9"]),
     r"comparison 'between_vendors': unknown acquisition 'B15_rep9'; did you mean .*'B15_rep1'"),
    (lambda d: d["comparisons"][0].update(acquisitions=None),  # before: the simulator's TypeError
     r"comparison 'repeat_A15': give exactly one of 'acquisitions' or 'pairs'"),
    (lambda d: d["comparisons"][2].update(acquisitions=["A15_rep1", "A15_rep2", "B15_rep1"]),
     r"comparison 'between_vendors': ccc needs exactly 2 acquisitions; got 3"),
])
def test_a_design_value_out_of_its_declared_constraint_is_one_line_naming_design_and_key(
        tmp_path, change, message):
    path = _design(tmp_path, change)
    with pytest.raises(StudyError, match=rf"design {path}: .*{message}") as info:
        from robustlab.radiomics.planner import check_design

        check_design(*load_design(path), str(path))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("seeds, n_jobs, message", [
    (0, 1, r"plan\.seeds: must be .*; got 0$"),
    ([3, 3], 1, r"plan\.seeds: must be .*; got \[3, 3\]$"),
    (2, 0, r"plan\.n_jobs: must be in \[1, inf\); got 0$"),
])
def test_the_planners_seeds_and_jobs_are_checked_before_its_run_folder_is_claimed(
        tmp_path, seeds, n_jobs, message):
    """Before: ``seeds=0`` failed after the run folder was claimed, in pandas' concat."""
    with pytest.raises(ConfigError, match=message):
        plan(tmp_path / "design.yaml", tmp_path / "plan", seeds=seeds, n_jobs=n_jobs,
             cache_dir=tmp_path / "cache")
    assert not (tmp_path / "plan").exists()
