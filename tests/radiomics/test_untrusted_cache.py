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


def _plant_output(entry, rel, digest_of=None):
    """List ``rel`` among the outputs of the stored analysis ``entry`` (and, when ``digest_of``
    is a file, among its checked files with that file's hash)."""
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["outputs"].append(rel)
    if digest_of is not None:
        manifest["files"][rel] = file_hash(digest_of)
    (entry / "manifest.json").write_text(json.dumps(manifest))


def test_a_stored_manifest_cannot_write_outside_the_run_folder(image_study, tmp_path, caplog):
    """Outputs of a stored manifest are copied only to checked files under out_dir: an absolute
    path, a path with '..', an output that is not a checked file and a symbolic link that leads
    out of the entry all read as an unsafe entry, nothing is written, the analysis runs again."""
    import os

    study = image_study()

    def run(out):
        return run_study(study, tmp_path / out, n_jobs=1, cache_dir=tmp_path / "cache",
                         progress=False, report=False, texture=False)

    first = run("run1")
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the run folder")
    planted = [
        ("../escaped.txt", None),  # unchecked, its source planted beside the entry
        (str(tmp_path / "absolute.txt"), "payload.txt"),
        ("sub/..\\..\\escaped.txt", "payload.txt"),  # '..' as Windows reads it
        ("payload.txt", None),  # not among the checked files
        ("link.txt", secret),  # its hash matches, but it leads out of the entry
    ]
    for n, (rel, digest_of) in enumerate(planted):
        # each rerun stores its analysis afresh: plant into the entry of the moment
        entry = next((tmp_path / "cache" / "analyses").glob("*/*/manifest.json")).parent
        (entry / "payload.txt").write_text("planted")
        (entry.parent / "escaped.txt").write_text("planted")
        os.symlink(secret, entry / "link.txt")
        _plant_output(entry, rel, entry / digest_of if isinstance(digest_of, str) else digest_of)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            again = run(f"run{n + 2}")
        assert not again.restored, rel
        assert repr(rel) in caplog.text and "runs again" in caplog.text, caplog.text
        assert again.summary.equals(first.summary)
        assert not (tmp_path / "run2" / "link.txt").exists()
        assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "absolute.txt").exists()
        assert not (tmp_path / f"run{n + 2}" / "payload.txt").exists()
