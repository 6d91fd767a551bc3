"""The study planner: a design without images simulated over seeds, with intervals."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from robustlab.common.errors import RobustlabError
from robustlab.radiomics.errors import StudyError
from robustlab.radiomics.planner import load_design, plan
from robustlab.radiomics.study import study_dir


def tiny_design(root: Path) -> Path:
    """The bundled two-vendor design, scaled down: 128 x 128 images, 8 ROIs, one user scanner."""
    design = yaml.safe_load((study_dir().parent / "designs" / "two_vendors.yaml").read_text())
    design["scale"] = 0.25
    design["roi"] = {"diameters_mm": [48.0, 24.0], "slices_2d": 1, "length_3d_mm": 15.0}
    # set-up errors are millimetres of the full-size phantom; at a quarter of its cross-section
    # the in-plane part shrinks with it (a slip, an option of the model, is exercised here too)
    design["repositioning"] = {"translation_sd_mm": [0.16, 0.16, 0.25], "rotation_sd_deg": 0.4,
                               "slip": {"probability": 0.25, "scale": 12.0}}
    (root / "scanners").mkdir(parents=True)
    scanner = yaml.safe_load((study_dir().parent / "scanner" / "vendor_b_1p5t.yaml").read_text())
    scanner["snr_factor"] = 0.8
    del scanner["name"]  # a file without a name is named after itself
    (root / "scanners" / "my_b.yaml").write_text(yaml.safe_dump(scanner))
    design["scanners"]["B15"] = "scanners/my_b.yaml"
    path = root / "design.yaml"
    path.write_text(yaml.safe_dump(design))
    return path


def test_the_design_defaults_to_the_paper_protocol_and_reads_user_scanners(tmp_path):
    protocol, phantom = load_design(tiny_design(tmp_path))
    assert protocol["scanners"]["A15"] == {"base": "vendor_a_1p5t", "extraction": {"binWidth": 10}}
    assert protocol["scanners"]["B15"]["snr_factor"] == 0.8 and protocol["scanners"]["B15"]["name"] == "my_b"
    assert protocol["noise"]["snr_reference"] > 0 and phantom["name"] == "pelvic"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"scanners": {"A": "nope.yaml"},
                                                       "acquisitions": {"a": {}}, "comparisons": [{}]}))
    with pytest.raises(StudyError, match=r"scanners\.A: file .*nope\.yaml does not exist"):
        load_design(tmp_path / "bad.yaml")


def test_plan_over_seeds_writes_intervals_probabilities_and_a_report(tmp_path, capfd):
    design = tiny_design(tmp_path / "d")
    tables = plan(design, tmp_path / "plan", seeds=2, n_jobs=1, cache_dir=tmp_path / "cache")
    # a line per seed done, with the time left (before: nothing per seed for minutes)
    err = capfd.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("two_vendors seeds: ")]
    assert [ln.split(" [")[0] for ln in lines] == [f"two_vendors seeds: {n}/2 seed ({n * 50} %)"
                                                   for n in (0, 1, 2)]
    assert all(re.search(r"\[\d\d:\d\d<\d\d:\d\d, ", ln) for ln in lines[1:]), lines
    comparisons = tables["plan_comparisons"].set_index("comparison")
    assert list(comparisons.index) == ["repeat_A15", "repeat_B15", "between_vendors"]
    assert (comparisons["n_seeds"] == 2).all()
    assert ((comparisons["p5"] <= comparisons["median"]) & (comparisons["median"] <= comparisons["p95"])).all()
    seeds = pd.concat([pd.read_parquet(tmp_path / "plan" / "seeds" / f"seed{s}" / "summary.parquet")
                       for s in (1, 2)]).set_index("comparison")["pct_excellent"]
    np.testing.assert_allclose(comparisons.loc["between_vendors", "median"], seeds.loc["between_vendors"].median())
    by_type = tables["plan_by_type"]
    assert {"image_type", "feature_class"} == set(by_type["by"])
    assert {"original", "wavelet-LH", "glcm", "shape"} <= set(by_type["value"])
    features = tables["plan_features"]
    assert features["p_robust"].between(0, 1).all()
    assert {"p_excellent:repeat_A15", "p_excellent:between_vendors"} <= set(features.columns)
    assert list(tables["plan_robust"]["family"]) == ["2D"]
    for name in ("plan_comparisons.csv", "plan_by_type.csv", "plan_features.csv", "plan_robust.csv",
                 "report.md", "report.html", "figures/plan_intervals.png"):
        assert (tmp_path / "plan" / name).is_file(), name
    # resumable: a second plan reads the seeds back
    again = plan(design, tmp_path / "plan", seeds=2, n_jobs=1, cache_dir=tmp_path / "cache")
    pd.testing.assert_frame_equal(again["plan_comparisons"], tables["plan_comparisons"])


def test_the_documented_design_is_the_bundled_one():
    page = (Path(__file__).parents[2] / "docs" / "how-to" / "plan-a-study.md").read_text()
    block = page.split("<!-- two-vendor-design -->", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    bundled = study_dir().parent / "designs" / "two_vendors.yaml"
    assert yaml.safe_load(block) == yaml.safe_load(bundled.read_text())


def study_files(study_yaml: Path) -> dict[str, bytes]:
    folder = study_yaml.parent
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.nii.gz"))}


def simulated_study(plan_dir: Path) -> Path:
    """The study file that seed 1 of a plan analysed (its run's ``extraction.json``)."""
    import json

    return Path(json.loads((plan_dir / "seeds" / "seed1" / "run" / "extraction.json").read_text())["study"])


def test_two_designs_of_one_name_never_share_a_simulated_study(tmp_path):
    # Both designs are named "design" (their file's stem); B tunes scanner B15 only. The seeds'
    # simulated studies used to live in one folder per name: planning B rewrote the images A's
    # plan had analysed (two plans at once: A's plan showed B's figures).
    design_a = tiny_design(tmp_path / "a")
    design_b = tiny_design(tmp_path / "b")
    scanner = tmp_path / "b" / "scanners" / "my_b.yaml"
    scanner.write_text(scanner.read_text().replace("snr_factor: 0.8", "snr_factor: 0.5"))
    options = {"texture": False}
    plan(design_a, tmp_path / "plan_a", seeds=[1], n_jobs=1, cache_dir=tmp_path / "cache", options=options)
    study_a = simulated_study(tmp_path / "plan_a")
    before = study_files(study_a)
    plan(design_b, tmp_path / "plan_b", seeds=[1], n_jobs=1, cache_dir=tmp_path / "cache", options=options)
    study_b = simulated_study(tmp_path / "plan_b")
    assert study_a.parent != study_b.parent
    assert study_files(study_a) == before
    # B started from A's images: the acquisitions of the untouched scanner are the same files
    # (hard links), the tuned scanner's were simulated again
    same = os.path.samefile
    assert same(study_a.parent / "images" / "A15_rep1.nii.gz", study_b.parent / "images" / "A15_rep1.nii.gz")
    assert not same(study_a.parent / "images" / "B15_rep1.nii.gz", study_b.parent / "images" / "B15_rep1.nii.gz")
    assert study_files(study_b)["images/B15_rep1.nii.gz"] != before["images/B15_rep1.nii.gz"]


def test_a_seed_waits_for_its_simulated_study_while_another_process_writes_it(tmp_path):
    import subprocess
    import sys
    import textwrap

    from robustlab.radiomics.seed_runs import resolve_scanners, run_seed, study_folder

    protocol, phantom = load_design(tiny_design(tmp_path / "d"))
    protocol = resolve_scanners(protocol)
    folder = study_folder(tmp_path / "cache", protocol, phantom, 1)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from robustlab.common.runlock import RunLock
        with RunLock({str(folder)!r}):
            print("held", flush=True)
            time.sleep(2)
            print(time.time(), flush=True)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        run_seed(protocol, phantom, 1, tmp_path / "out", tmp_path / "cache", {"texture": False}, nice=0)
        released = float(holder.stdout.readline())
    finally:
        holder.wait(timeout=60)
    assert (folder / "study.yaml").stat().st_mtime >= released


def duplicate_acquisition(design: Path) -> str:
    """The design with an acquisition written twice (PyYAML keeps the second)."""
    text = design.read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("  A15_rep2:"))
    design.write_text(text.replace(line, f"{line}\n{line}", 1))
    return r"design\.yaml: key 'A15_rep2' is written twice \(lines \d+ and \d+\); keep one"


def self_comparison(design: Path) -> str:
    """Before: found only after a seed was simulated, in an error naming the cached study file."""
    data = yaml.safe_load(design.read_text())
    data["comparisons"][0]["acquisitions"] = ["A15_rep1", "A15_rep1"]
    design.write_text(yaml.safe_dump(data))
    return (r"design .*design\.yaml: comparison 'repeat_A15': compares acquisition 'A15_rep1' "
            r"with itself")


def not_yaml(design: Path) -> str:
    design.write_text("scanners: [unclosed\n")
    return r"design\.yaml: not valid YAML: .* at line 2, column 1"


def not_utf8(design: Path) -> str:
    design.write_bytes(b"\xff\xfe" + design.read_bytes())
    return r"design\.yaml: not UTF-8 text \(byte 0xff at offset 0\); save it as UTF-8"


def scanner_not_utf8(design: Path) -> str:
    scanner = design.parent / "scanners" / "my_b.yaml"
    scanner.write_bytes(b"snr_factor: 0.8\nname: \xe9\n")
    return r"scanners\.B15: .*my_b\.yaml: not UTF-8 text \(byte 0xe9 at offset 22\)"


def scanner_not_yaml(design: Path) -> str:
    scanner = design.parent / "scanners" / "my_b.yaml"
    scanner.write_text("snr_factor: [0.8\nname: b\n")
    return r"my_b\.yaml.*line \d+, column \d+"


def scanner_key_twice(design: Path) -> str:
    scanner = design.parent / "scanners" / "my_b.yaml"
    scanner.write_text(scanner.read_text() + "snr_factor: 0.5\n")
    return r"my_b\.yaml: key 'snr_factor' is written twice"


@pytest.mark.parametrize("spoil", [duplicate_acquisition, self_comparison, not_yaml, not_utf8,
                                   scanner_not_utf8, scanner_not_yaml, scanner_key_twice],
                         ids=lambda spoil: spoil.__name__)
def test_a_bad_design_is_one_line_naming_it_before_any_seed(tmp_path, spoil):
    design = tiny_design(tmp_path / "d")
    message = spoil(design)
    with pytest.raises(RobustlabError, match=message) as caught:  # a StudyError, or safe_yaml's
        plan(design, tmp_path / "plan", seeds=2, n_jobs=1, cache_dir=tmp_path / "cache")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "plan" / "seeds").exists() and not (tmp_path / "cache").exists()


def test_the_plan_report_quotes_the_shipped_validity_targets(tmp_path, monkeypatch):
    from robustlab.radiomics import planner
    from robustlab.radiomics.phantom import calibration

    targets = pd.DataFrame({"target": ["training: every comparison inside", "vendors: per-feature AUC"],
                            "measured": ["7 of 7 inside", "AUC 0.71"], "met": [True, False],
                            "seeds": ["101-120"] * 2})
    targets.to_csv(tmp_path / "paper_validity.csv", index=False)
    monkeypatch.setattr(calibration, "validity_path", lambda name: tmp_path / f"{name}_validity.csv")
    text = "\n".join(b.markdown(tmp_path) for b in planner.trust_blocks()[:2])
    assert "How far to trust it" in text and "seeds 101-120" in text and "1 of 2 validity targets met" in text
    table = planner.trust_blocks()[-1].frame
    assert list(table["met"]) == ["met", "missed"] and list(table["measured"]) == ["7 of 7 inside", "AUC 0.71"]
    monkeypatch.setattr(calibration, "validity_path", lambda name: tmp_path / "none.csv")
    assert planner.trust_blocks() == []  # no table shipped: no section
