"""One writer per run folder, and only this sweep's checkpoints evaluated in it.

Two processes started into one run folder used to mix their results: the second replaced the
first's spec, the first then evaluated the second's checkpoints. A folder is now locked by the
process writing it (a second one is refused, naming the holder; a lock left by a dead process is
taken over with a warning), and a checkpoint is evaluated only when it records this sweep's
settings, step and sparsity.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch

from robustlab.common.errors import CheckpointError, RunFolderError, RunLockedError
from robustlab.common.runfolder import RunFolder
from robustlab.common.runlock import LOCK_FILE, RunLock
from robustlab.common.seeding import seed_everything
from robustlab.pruning.checkpoints import load_checkpoint, save_checkpoint
from robustlab.pruning.sweep import run_sweep
from robustlab.pruning.sweep_folder import SWEEP_SPEC

torch.set_num_threads(1)


def hold_lock(folder):
    """A process holding ``folder``'s lock until its stdin closes; returns it once it holds it."""
    code = textwrap.dedent(f"""
        import sys
        from robustlab.common.runlock import RunLock
        with RunLock({str(folder)!r}):
            print("held", flush=True)
            sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_naming_the_holder(tmp_path, tiny_spec):
    holder = hold_lock(tmp_path / "run")
    try:
        with pytest.raises(RunLockedError) as info:
            run_sweep(tiny_spec(steps=0), tmp_path / "run")
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    message = str(info.value)
    assert "\n" not in message
    assert f"is in use by another process (pid {holder.pid} on host {socket.gethostname()}, started 20" in message
    assert not (tmp_path / "run" / SWEEP_SPEC).exists() and not (tmp_path / "run" / "checkpoints").exists()
    seed_everything(0)
    assert list(run_sweep(tiny_spec(steps=0), tmp_path / "run")["step"]) == [0]  # free again once it ended


def test_a_library_sweep_into_another_apps_folder_or_a_study_folder_is_refused(tmp_path, tiny_spec):
    """Before: run_sweep took only the lock, so a call from code wrote a sweep into a radiomics
    run folder (or beside a study's files) that the command line refuses."""
    radiomics = tmp_path / "radiomics_run"
    with RunFolder(radiomics, "radiomics", identity={"study": "a.yaml"}):
        (radiomics / "summary.csv").write_text("comparison\n")
    with pytest.raises(RunFolderError, match=r"is a run folder of the radiomics app, not of "
                                             r"pruning"):
        run_sweep(tiny_spec(steps=0), radiomics)
    inputs = tmp_path / "study"
    inputs.mkdir()
    (inputs / "study.yaml").write_text("acquisitions: {}\n")
    with pytest.raises(RunFolderError, match=r"holds files of no robustlab run \(study\.yaml\)"):
        run_sweep(tiny_spec(steps=0), inputs)
    assert not (radiomics / SWEEP_SPEC).exists() and not (inputs / SWEEP_SPEC).exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path, caplog, tiny_spec):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=60)
    (tmp_path / "run").mkdir()
    record = {"pid": dead.pid, "host": socket.gethostname(), "started": "2026-01-01 00:00:00 UTC"}
    (tmp_path / "run" / LOCK_FILE).write_text(json.dumps(record))
    seed_everything(0)
    with caplog.at_level("WARNING"):
        run_sweep(tiny_spec(steps=0), tmp_path / "run")
    assert f"taking over a stale lock of pid {dead.pid} on host {socket.gethostname()}" in caplog.text
    assert "that process is gone" in caplog.text
    assert (tmp_path / "run" / LOCK_FILE).read_text() == ""  # released cleanly at the end


def test_the_lock_is_reentrant_in_one_process_and_released_at_the_end(tmp_path):
    with RunLock(tmp_path), RunLock(tmp_path):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert (tmp_path / LOCK_FILE).read_text() == ""


def test_a_checkpoint_of_another_sweep_is_not_evaluated(tmp_path, tiny_spec):
    seed_everything(0)
    run_sweep(tiny_spec(steps=1), tmp_path / "a")
    seed_everything(0)
    run_sweep(tiny_spec(steps=1, rate=0.5), tmp_path / "b")
    # b stopped after its step-1 checkpoint, before the metrics row; a's checkpoint is put there
    metrics = tmp_path / "b" / "metrics.csv"
    metrics.write_text("".join(metrics.read_text().splitlines(keepends=True)[:2]))
    (tmp_path / "b" / "checkpoints" / "step001.pt").write_bytes(
        (tmp_path / "a" / "checkpoints" / "step001.pt").read_bytes())
    with pytest.raises(CheckpointError, match=r"step001\.pt was written by a sweep of other settings "
                                              r"\(spec [0-9a-f]{16}, this sweep's [0-9a-f]{16}\)"):
        run_sweep(tiny_spec(steps=1, rate=0.5), tmp_path / "b")


def test_a_checkpoint_whose_weights_do_not_have_its_recorded_sparsity_is_refused(tmp_path, tiny_spec):
    seed_everything(0)
    run_sweep(tiny_spec(steps=1), tmp_path)
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("".join(metrics.read_text().splitlines(keepends=True)[:2]))
    path = tmp_path / "checkpoints" / "step001.pt"
    state = load_checkpoint(path)
    save_checkpoint(path, {**state, "sparsity": 0.9})
    with pytest.raises(CheckpointError, match=r"step001\.pt records sparsity 0\.900000 but its weights have 0\.1999"):
        run_sweep(tiny_spec(steps=1), tmp_path)


def test_a_checkpoint_recording_another_step_is_refused(tmp_path, tiny_spec):
    seed_everything(0)
    run_sweep(tiny_spec(steps=1), tmp_path)
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("".join(metrics.read_text().splitlines(keepends=True)[:2]))
    ckpt = tmp_path / "checkpoints"
    (ckpt / "step001.pt").write_bytes((ckpt / "step000.pt").read_bytes())
    with pytest.raises(CheckpointError, match=r"step001\.pt was written by step 0; it is not this sweep's step 1"):
        run_sweep(tiny_spec(steps=1), tmp_path)


def test_a_truncated_last_checkpoint_of_a_finished_sweep_is_noticed_on_rerun(tmp_path, tiny_spec):
    seed_everything(0)
    run_sweep(tiny_spec(steps=1), tmp_path)
    last = tmp_path / "checkpoints" / "step001.pt"
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=rf"checkpoint {last} cannot be read .*: delete it and the rows of "
                                              r"step 1 and later in .*metrics\.csv, and the sweep runs from "
                                              r"step 1 again"):
        run_sweep(tiny_spec(steps=1), tmp_path)
    last.unlink()
    with pytest.raises(CheckpointError,
                       match=rf"checkpoint {last} is missing but .*metrics\.csv lists step 1 as finished"):
        run_sweep(tiny_spec(steps=1), tmp_path)
