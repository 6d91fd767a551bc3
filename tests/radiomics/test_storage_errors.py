"""The cache failing to take a finished analysis is a warning, not a failed run: every output is
written by then. (A write refused for want of space or permission names its file and file
system wherever the project writes: ``tests/common/test_full_disk.py``.)
"""

from __future__ import annotations

import errno
import os


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
    named = warned[0].split(";")[0]
    assert str(tmp_path / "cache" / "analyses") in named and "No space left on device" in named
    assert "(writing it on the file system mounted at " in named
    assert str(tmp_path / "out") + os.sep not in named  # not the copy's source
