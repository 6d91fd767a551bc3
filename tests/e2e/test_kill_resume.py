"""A sweep process killed mid-way (SIGKILL) and launched again resumes after its last finished step."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_killed_sweep_resumes_from_its_last_finished_step(tmp_path):
    run = tmp_path / "run"
    cmd = [str(BIN / "robustlab-prune"), "experiment=smoke", "method.steps=3", "threads=1",
           f"hydra.run.dir={run}"]
    metrics = run / "metrics.csv"
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and proc.poll() is None:
            if metrics.exists() and len(pd.read_csv(metrics)) >= 2:  # steps 0 and 1 finished
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the sweep ended before it could be killed"
        proc.kill()  # SIGKILL: no clean-up runs
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    before = pd.read_csv(metrics)
    finished = before["step"].tolist()
    assert finished[:2] == [0, 1] and len(finished) < 4
    stamps = {p.name: p.stat().st_mtime_ns for p in (run / "checkpoints").iterdir()}

    subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True, timeout=600)
    after = pd.read_csv(metrics)
    assert after["step"].tolist() == [0, 1, 2, 3]
    # Finished steps were neither retrained nor rewritten.
    pd.testing.assert_frame_equal(after.iloc[: len(finished)], before)
    for name, stamp in stamps.items():
        if name.startswith("step") and int(name.removeprefix("step").split(".")[0]) in finished:
            assert (run / "checkpoints" / name).stat().st_mtime_ns == stamp
