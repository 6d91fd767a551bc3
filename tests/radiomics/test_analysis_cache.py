"""The analysis cache: a rerun of an unchanged study restores the stored outputs, and only then."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from robustlab.radiomics import analysis_cache
from robustlab.radiomics.extraction.items import WorkItem, extraction_order
from robustlab.radiomics.pipeline import run_study


def run(study, tmp_path, out, **kw):
    return run_study(study, tmp_path / out, n_jobs=1, cache_dir=tmp_path / "cache",
                     progress=False, **kw)


def entries(tmp_path):
    return sorted((tmp_path / "cache" / "analyses").glob("*/*/manifest.json"))


@pytest.fixture
def first(image_study, tmp_path):
    return run(image_study(), tmp_path, "run1")


def test_rerun_restores_identical_outputs(first, tmp_path):
    assert not first.restored and len(entries(tmp_path)) == 1
    assert {"summary.csv", "per_feature.parquet", "features.parquet", "report.html",
            "figures/pct_excellent.png"} <= set(first.outputs)
    second = run(first.out_dir.parent / "data" / "study.yaml", tmp_path, "run2")
    assert second.restored
    assert second.counts == {"cached": 12, "extracted": 0, "failed": 0}
    assert second.outputs == first.outputs
    for rel in first.outputs:
        assert (second.out_dir / rel).read_bytes() == (first.out_dir / rel).read_bytes(), rel
    for name in analysis_cache.TABLES:
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))


def test_a_changed_option_or_code_misses(first, tmp_path, monkeypatch):
    study = first.out_dir.parent / "data" / "study.yaml"
    other = run(study, tmp_path, "run2", threshold=0.5)
    assert not other.restored and other.counts["extracted"] == 0
    assert (other.summary["n_excellent"] >= first.summary["n_excellent"]).all()
    monkeypatch.setattr(analysis_cache, "code_hash", lambda: "a new version")
    assert not run(study, tmp_path, "run3").restored
    assert len(entries(tmp_path)) == 3


def test_a_changed_study_file_misses(first, tmp_path):
    study = first.out_dir.parent / "data" / "study.yaml"
    study.write_text(study.read_text().replace("name: quick", "name: renamed"))
    again = run(study, tmp_path, "run2")
    assert not again.restored and "renamed" in (again.out_dir / "report.md").read_text()


def test_a_corrupt_analysis_is_recomputed(first, tmp_path):
    study = first.out_dir.parent / "data" / "study.yaml"
    (entries(tmp_path)[0].parent / "summary.csv").write_text("altered\n")
    again = run(study, tmp_path, "run2")
    assert not again.restored
    pd.testing.assert_frame_equal(again.summary, first.summary)
    assert (again.out_dir / "summary.csv").read_bytes() == (first.out_dir / "summary.csv").read_bytes()
    assert run(study, tmp_path, "run3").restored  # the entry was written again


def test_a_corrupt_feature_entry_is_extracted_again_before_any_restore(first, tmp_path):
    study = first.out_dir.parent / "data" / "study.yaml"
    entry = next(p for p in sorted((tmp_path / "cache").glob("*/*.json")))
    entry.write_text(entry.read_text()[:-50])
    again = run(study, tmp_path, "run2")
    assert not again.restored and again.counts["extracted"] == 1
    pd.testing.assert_frame_equal(again.features, first.features)


def test_extraction_order_is_acquisition_by_acquisition_largest_first(tmp_path):
    def item(acq, roi, voxels):
        return WorkItem(acq, str(roi), roi, tmp_path / f"{acq}.nii", tmp_path / f"{acq}_m.nii",
                        tmp_path / "p.yaml", None, f"{acq}-{roi}", voxels)

    items = [item(a, r, (r * 7) % 11) for r in range(1, 12) for a in ("a", "b", "c")]
    order = extraction_order(items)
    assert sorted(order, key=lambda it: it.key) == sorted(items, key=lambda it: it.key)
    assert [it.acquisition for it in order] == ["a"] * 11 + ["b"] * 11 + ["c"] * 11
    for acq in "abc":
        sizes = [it.voxels for it in order if it.acquisition == acq]
        assert sizes == sorted(sizes, reverse=True)


def test_extraction_workers_do_not_import_pandas():
    code = ("import sys, robustlab.radiomics.extraction.run, robustlab.radiomics.extraction.pool, "
            "radiomics.featureextractor; "
            "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "a worker would spend half a second importing pandas"


def test_the_key_does_not_depend_on_what_is_imported_yet(image_study, monkeypatch):
    # SciPy is imported where a statistic needs it: a fresh process computes the key before
    # importing it, a rerun in the same process after; both must find the same analysis
    from robustlab.radiomics.extraction import work_items
    from robustlab.radiomics.options import Options
    from robustlab.radiomics.study import load_study, validate_study

    validated = validate_study(load_study(image_study()))
    items = work_items(validated)
    key = analysis_cache.analysis_key(validated, items, Options(), [])
    for name in ("scipy", "pyarrow"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert analysis_cache.analysis_key(validated, items, Options(), []) == key


def test_cache_dir_given_as_text_is_the_same_cache(first, tmp_path):
    second = run_study(first.out_dir.parent / "data" / "study.yaml", tmp_path / "run2",
                       n_jobs=1, cache_dir=str(tmp_path / "cache"), progress=False)
    assert second.restored and second.counts["extracted"] == 0


def test_the_analysis_is_imported_while_the_workers_extract(image_study, tmp_path):
    study = image_study(n_acquisitions=2, n_rois=2)
    probe = ("import sys, robustlab.radiomics.pipeline as pipeline\n"
             "seen = {}\n"
             "def extract(items, cache, n_jobs=-1, progress=True, warm_up=None, checked=None):\n"
             "    seen['before'] = sorted(m for m in ('pandas', 'scipy') if m in sys.modules)\n"
             "    warm_up()\n"
             "    seen['after'] = sorted(m for m in ('pandas', 'scipy.special') if m in sys.modules)\n"
             "    print(seen)\n"
             "    raise SystemExit(0)\n"
             "pipeline.extract = extract\n"
             "pipeline.run_study(sys.argv[1], sys.argv[2], n_jobs=2, cache_dir=sys.argv[3], progress=False)\n")
    out = subprocess.run([sys.executable, "-c", probe, str(study), str(tmp_path / "run"), str(tmp_path / "c")],
                         capture_output=True, text=True, check=True)
    # nothing of the analysis before the extraction starts; all of it by the time it is needed
    assert out.stdout.strip() == str({"before": [], "after": ["pandas", "scipy.special"]})
