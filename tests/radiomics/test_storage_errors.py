"""A write that fails for want of room or rights names the file, what was written, and the file
system it is on; the cache failing to take a finished analysis is a warning, not a failed run.

The cases are made by replacing a write with one that fails as the system's would (a full disk
cannot be made without privileges); ``file_system`` itself is checked on this machine's ``/``.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from robustlab.radiomics.storage import file_system, storage_error


def full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_extraction_cache_is_named_with_its_file_system(image_study, tmp_path, run,
                                                               monkeypatch):
    """Before: '[Errno 28] No space left on device', no file, no file system."""
    from robustlab.radiomics.extraction import cache

    monkeypatch.setattr(cache, "write_text", full)
    with pytest.raises(OSError) as caught:
        run(image_study(), texture=False)
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str((tmp_path / "cache").resolve())
    assert "writing the extraction cache on the" in caught.value.strerror
    assert "file system mounted at /" in caught.value.strerror


def test_an_output_folder_without_rights_is_named(image_study, tmp_path, run, monkeypatch):
    from robustlab.radiomics import study_analysis

    def refused(table, stem, formats):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), f"{stem}.{formats[0]}")

    monkeypatch.setattr(study_analysis, "write_table", refused)
    with pytest.raises(PermissionError) as caught:
        run(image_study(), texture=False)
    assert caught.value.filename == str(tmp_path / "out" / "features.parquet")
    assert "writing the run's outputs on the" in caught.value.strerror


def test_a_cache_too_full_for_the_finished_analysis_is_a_warning(image_study, tmp_path, run,
                                                                 monkeypatch, caplog):
    """Before: the run failed (exit 2) after writing every output, naming the run folder's file
    (the source of the copy into the cache) and so the wrong file system."""
    from robustlab.radiomics import analysis_cache

    def copy_to_full_disk(source, target):  # as shutil.copyfile fails: source first
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(source), None, str(target))

    monkeypatch.setattr(analysis_cache.shutil, "copyfile", copy_to_full_disk)
    with caplog.at_level("WARNING", logger="robustlab.radiomics"):
        result = run(image_study(), texture=False, report=True)
    assert (tmp_path / "out" / "report.html").is_file() and len(result.robust)
    warned = [r.getMessage() for r in caplog.records if "not stored in the cache" in r.getMessage()]
    assert len(warned) == 1
    assert str(tmp_path / "cache" / "analyses") in warned[0] and "No space left" in warned[0]
    assert str(tmp_path / "out") + os.sep not in warned[0].split(";")[0]  # not the copy's source


def test_the_file_named_is_the_one_under_the_folder_written():
    failed = OSError(errno.ENOSPC, "No space left on device", "/etc/hostname", None,
                     "/nowhere/cache/entry.json")
    named = storage_error(failed, Path("/nowhere/cache"), "a test")
    assert named.filename == "/nowhere/cache/entry.json"
    assert named.strerror.startswith("No space left on device, writing a test on the ")
    assert "file system mounted at / (" in named.strerror and " free of " in file_system(Path("/"))
