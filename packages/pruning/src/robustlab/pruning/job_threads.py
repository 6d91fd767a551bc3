"""The threads of one sweep job: :mod:`robustlab.common.threads`' policy, given how it was launched.

A job's training and evaluation run in torch's intra-op pool (OpenMP) and BLAS. The job gets
:func:`~robustlab.common.threads.intra_op_threads` threads: the cores it may use (affinity and
cgroup quota, capped by a submitit launcher's ``cpus_per_task``) shared with the other
processes that run at once on the machine (``hydra/launcher=joblib``'s ``n_jobs``; torchrun's
``LOCAL_WORLD_SIZE`` ranks), less one core per ``DataLoader`` worker (``train.num_workers``).
The config key ``threads`` sets the count instead, and so does ``$OMP_NUM_THREADS`` when set (as
torchrun sets it to 1 for several ranks). ``$ROBUSTLAB_THREAD_POLICY=torch`` keeps
torch's own defaults (the behaviour before this policy, for comparison: ``threads`` still
applies).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from robustlab.common.threads import available_cores, intra_op_threads, limit_threads, thread_policy


def launcher_share(launcher: Mapping[str, Any] | None, environ: Mapping[str, str] = os.environ,
                   cores: int | None = None) -> tuple[int, int]:
    """``(processes, cores)``: how many processes of this launch run at once on this machine and
    the cores they share.

    Args:
        launcher: the job's ``hydra.launcher`` config (None or the basic launcher: one job at a
            time).
        environ: the process's environment (torchrun sets ``LOCAL_WORLD_SIZE``).
        cores: the cores this process may use (default :func:`~robustlab.common.threads.available_cores`).
    """
    cores = cores or available_cores()
    launcher = launcher or {}
    target = str(launcher.get("_target_", ""))
    processes = 1
    if "JoblibLauncher" in target:
        n_jobs = int(launcher.get("n_jobs") or 1)
        processes = n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)  # joblib's negative n_jobs
    if "submitit" in target and launcher.get("cpus_per_task"):  # each task (rank) is given its CPUs
        cores = min(cores, int(launcher["cpus_per_task"]))
    processes = max(processes, int(environ.get("LOCAL_WORLD_SIZE") or 1))
    return processes, cores


def job_threads(threads: int | None, launcher: Mapping[str, Any] | None, loader_workers: int,
                environ: Mapping[str, str] = os.environ) -> tuple[int | None, str]:
    """The job's thread count (None: torch's own default) and a line saying where it comes from."""
    if thread_policy() == "torch":
        return threads, f"{threads or 'torch default'} (ROBUSTLAB_THREAD_POLICY=torch)"
    if threads:
        return int(threads), f"{int(threads)} (threads={int(threads)})"
    if str(environ.get("OMP_NUM_THREADS", "")).isdigit() and int(environ["OMP_NUM_THREADS"]) > 0:
        n = int(environ["OMP_NUM_THREADS"])
        return n, f"{n} (OMP_NUM_THREADS={n})"
    processes, cores = launcher_share(launcher, environ)
    n = intra_op_threads(processes, loader_workers, cores)
    waiting = os.environ.get("OMP_WAIT_POLICY", "default")
    return n, (f"{n} ({cores} core(s) available, {processes} process(es) at once, {loader_workers} loader "
               f"worker(s); OpenMP wait policy {waiting})")


def apply_job_threads(threads: int | None, launcher: Mapping[str, Any] | None, loader_workers: int) -> str:
    """Set this process's pools to :func:`job_threads`' count; return its line for the log."""
    n, why = job_threads(threads, launcher, loader_workers)
    if n is not None and thread_policy() == "torch":
        import torch

        torch.set_num_threads(n)  # as before the policy: torch's pool alone
    elif n is not None:
        limit_threads(n)
    return f"threads: {why}"
