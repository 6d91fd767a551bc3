"""Nothing read back from a shared cache folder runs code: stored analyses hold no pickle."""

from __future__ import annotations

import json
import logging

from robustlab.common.hashing import file_hash
from robustlab.radiomics.pipeline import run_study


def test_a_planted_stored_analysis_is_not_unpickled(image_study, tmp_path, caplog, plant_pickle):
    """The analysis cache holds Parquet and JSON; a pickle planted there, even with a manifest
    whose hashes match it, is reported as a corrupt entry and the analysis runs again."""
    plant, marker = plant_pickle
    study = image_study()

    def run(out):
        return run_study(study, tmp_path / out, n_jobs=1, cache_dir=tmp_path / "cache",
                         progress=False, report=False, texture=False)

    first = run("run1")
    entry = next((tmp_path / "cache" / "analyses").glob("*/*/manifest.json")).parent
    manifest = json.loads((entry / "manifest.json").read_text())
    # the old format's file, and a pickle in place of a table, both listed with matching hashes
    plant(entry / "tables.pkl")
    plant(entry / "tables" / "summary.parquet")
    manifest["files"]["tables.pkl"] = file_hash(entry / "tables.pkl")
    manifest["files"]["tables/summary.parquet"] = file_hash(entry / "tables" / "summary.parquet")
    (entry / "manifest.json").write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING):
        again = run("run2")
    assert not marker.exists()
    assert not again.restored and "stored analysis" in caplog.text and "corrupt" in caplog.text
    assert again.summary.equals(first.summary)


def test_a_stored_analysis_is_readable_by_the_lab(image_study, tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        run_study(image_study(), tmp_path / "out", n_jobs=1, cache_dir=tmp_path / "cache",
                  progress=False, report=False, texture=False)
    finally:
        os.umask(old)
    entry = next((tmp_path / "cache" / "analyses").glob("*/*/manifest.json")).parent
    assert stat.S_IMODE(entry.stat().st_mode) == 0o755
    for path in [*entry.rglob("*.parquet"), *entry.rglob("*.csv")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    features = next(p for p in (tmp_path / "cache").rglob("*.json")
                    if not {"analyses", "checked_files"} & set(p.parts))
    assert stat.S_IMODE(features.stat().st_mode) == 0o644
