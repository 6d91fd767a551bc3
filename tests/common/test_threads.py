"""The thread policy: the cores a process may use (affinity, cgroup quota), its share of them,
and OpenMP's waiting threads set to sleep before torch loads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from robustlab.common import threads
from robustlab.common.errors import ConfigError


def _cgroup_v2(root: Path, own: str, limits: dict[str, str]) -> Path:
    """A cgroup v2 tree under ``root`` with ``cpu.max`` files; returns a ``/proc/self/cgroup``."""
    for rel, value in limits.items():
        folder = root / rel
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cpu.max").write_text(value + "\n")
    proc = root / "proc_self_cgroup"
    proc.write_text(f"0::{own}\n")
    return proc


def test_cgroup_v2_quota_is_the_smallest_of_the_own_cgroup_and_those_above(tmp_path):
    proc = _cgroup_v2(tmp_path, "/jobs/job1", {"": "max 100000", "jobs": "300000 100000",
                                                "jobs/job1": "150000 100000"})
    assert threads.cgroup_cpu_quota(tmp_path, proc) == 1.5
    proc = _cgroup_v2(tmp_path / "b", "/jobs/job1", {"jobs": "100000 100000", "jobs/job1": "max 100000"})
    assert threads.cgroup_cpu_quota(tmp_path / "b", proc) == 1.0


def test_no_quota_is_none(tmp_path):
    proc = _cgroup_v2(tmp_path, "/", {"": "max 100000"})
    assert threads.cgroup_cpu_quota(tmp_path, proc) is None
    assert threads.cgroup_cpu_quota(tmp_path / "absent", tmp_path / "absent_proc") is None


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("250000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.cgroup_cpu_quota(tmp_path, tmp_path / "none") == 2.5
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert threads.cgroup_cpu_quota(tmp_path, tmp_path / "none") is None


@pytest.mark.parametrize("affinity, quota, cores", [(8, None, 8), (8, 2.5, 2), (2, 6.0, 2), (4, 0.5, 1)])
def test_available_cores_is_the_affinity_capped_by_the_quota(monkeypatch, affinity, quota, cores):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(affinity)), raising=False)
    monkeypatch.setattr(threads, "cgroup_cpu_quota", lambda: quota)
    assert threads.available_cores() == cores


@pytest.mark.parametrize("processes, workers, cores, expected", [
    (1, 0, 8, 8), (2, 0, 8, 4), (2, 1, 8, 3), (1, 4, 2, 1), (3, 0, 2, 1), (1, 0, 1, 1)])
def test_intra_op_threads_share_the_cores(processes, workers, cores, expected):
    assert threads.intra_op_threads(processes, workers, cores) == expected


def test_the_policy_is_named_by_the_environment(monkeypatch):
    monkeypatch.delenv(threads.POLICY_ENV, raising=False)
    assert threads.thread_policy() == "shared"
    monkeypatch.setenv(threads.POLICY_ENV, "torch")
    assert threads.thread_policy() == "torch"
    monkeypatch.setenv(threads.POLICY_ENV, "greedy")
    with pytest.raises(ConfigError, match=r"ROBUSTLAB_THREAD_POLICY='greedy': expected one of shared, torch"):
        threads.thread_policy()


_SPINCOUNT = """
from robustlab.common.threads import wait_passively
set_before = wait_passively()
import torch
torch.ones(4).sum()
print(set_before, wait_passively())
"""


def _openmp_display(code: str, **env: str) -> tuple[str, str]:
    """Run ``code`` with libgomp's display of its settings at load; ``(stdout, stderr)``."""
    pytest.importorskip("torch")
    environ = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "KMP_BLOCKTIME")}
    environ.update(OMP_DISPLAY_ENV="VERBOSE", **env)
    done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    if "GOMP_SPINCOUNT" not in done.stderr:
        pytest.skip("torch is not linked against GNU OpenMP here (no libgomp display)")
    return done.stdout, done.stderr


def test_waiting_threads_sleep_when_set_before_torch_loads():
    out, err = _openmp_display(_SPINCOUNT)
    assert "GOMP_SPINCOUNT = '0'" in err  # libgomp read OMP_WAIT_POLICY=PASSIVE: no spinning
    assert out.split() == ["True", "False"]  # once torch is loaded it is too late: nothing is set


def test_a_users_own_wait_policy_is_kept():
    _, err = _openmp_display(_SPINCOUNT, OMP_WAIT_POLICY="ACTIVE")
    assert "GOMP_SPINCOUNT = '30000000000'" in err


def test_the_pruning_command_line_sets_it_before_torch_and_the_torch_policy_does_not():
    pytest.importorskip("robustlab.pruning.cli")
    code = ("import sys; from robustlab.pruning.cli import main; sys.argv[1:] = ['--help']; main(); "
            "import torch; torch.ones(4).sum()")
    _, err = _openmp_display(code)
    assert "GOMP_SPINCOUNT = '0'" in err
    _, err = _openmp_display(code, ROBUSTLAB_THREAD_POLICY="torch")
    assert "GOMP_SPINCOUNT = '300000'" in err  # libgomp's default: spin, then sleep


def test_the_radiomics_command_line_sets_it_too():
    """Before: only the pruning app did; the radiomics app loads no OpenMP runtime of its own
    (its BLAS is OpenBLAS's threads), but a plugin or a later import may."""
    code = ("import sys; from robustlab.radiomics.cli import main; sys.argv[1:] = ['--help']; "
            "main(); import torch; torch.ones(4).sum()")
    _, err = _openmp_display(code)
    assert "GOMP_SPINCOUNT = '0'" in err
    _, err = _openmp_display(code, ROBUSTLAB_THREAD_POLICY="torch")
    assert "GOMP_SPINCOUNT = '300000'" in err
