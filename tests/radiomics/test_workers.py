"""Extraction workers end with the process that started them, however it ends.

Before: after SIGTERM or SIGKILL of a run with ``n_jobs=2``, its forked extraction worker stayed
forever (blocked on the task queue of a parent that was gone).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's /proc and prctl")


def children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(condition, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_the_workers_of_a_run_end_with_it(image_study, tmp_path, sig):
    study = image_study(n_acquisitions=3, n_rois=4, extraction="paper2d")
    code = ("import sys\nfrom robustlab.radiomics.pipeline import run_study\n"
            "run_study(sys.argv[1], sys.argv[2], n_jobs=2, cache_dir=sys.argv[3], progress=False)\n")
    parent = subprocess.Popen([sys.executable, "-c", code, str(study), str(tmp_path / "out"),
                               str(tmp_path / "cache")], stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        assert wait_for(lambda: children(parent.pid), 120), "no extraction worker started"
        workers += children(parent.pid)
        time.sleep(0.5)  # the worker inside its first ROI
        assert parent.poll() is None, "the run ended before it could be stopped"
        os.kill(parent.pid, sig)
        parent.wait(30)
        assert wait_for(lambda: not any(alive(w) for w in workers), 20), \
            f"worker(s) {[w for w in workers if alive(w)]} outlived their parent ({sig.name})"
    finally:  # nothing left behind, whatever the outcome
        parent.kill()
        parent.wait(30)
        for w in workers:
            if alive(w):
                os.kill(w, signal.SIGKILL)
