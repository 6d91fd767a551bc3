"""Thread pools per process, so that processes x threads never exceeds the cores given.

A process that runs beside others (an extraction worker, a ``DataLoader`` worker) must not
start a thread per core in each of its pools: BLAS and OpenMP (NumPy's OpenBLAS, SciPy's
LAPACK, PyTorch's OpenMP), ITK's filters and PyTorch's intra-op pool. On ``c`` cores with ``p``
processes each one gets ``max(1, c // p)`` threads (:func:`threads_per_process`). Oversubscribed,
OpenBLAS' spinning threads make a LAPACK call several times slower than in one process alone.

- :func:`thread_env`: the variables a new process reads when its libraries load (set them in
  the environment of a process pool's workers: it covers libraries imported later);
- :func:`limit_threads`: the limits now, in this process, for what is already loaded
  (threadpoolctl for BLAS/OpenMP, SimpleITK and torch where imported); for a worker's initializer;
- :func:`limited_threads`: the same for the duration of a ``with`` block, then restored;
- :func:`loader_worker_init`: a ``DataLoader``'s ``worker_init_fn`` (one thread per worker);
- :func:`current_limits`: what this process's pools are limited to now (what the tests read);
- :func:`intra_op_threads`: the threads of a training or evaluating process beside its peers and
  its ``DataLoader`` workers; :func:`wait_passively`: waiting threads that sleep;
  :func:`thread_policy`: ``$ROBUSTLAB_THREAD_POLICY=torch`` turns both off (PyTorch's defaults).

The cores a process may use (:func:`available_cores`) are the fewest of its CPU affinity
(``os.sched_getaffinity``: ``taskset``, Slurm's cpusets) and its cgroup's CPU quota (a
container's or a Slurm job's ``cpu.max``, :func:`cgroup_cpu_quota`), not the machine's count.

Waiting threads sleep (:func:`wait_passively`): between two parallel regions an OpenMP worker
thread waits for the next one. GNU OpenMP (``libgomp``, in PyTorch's wheels) spins 300,000 times
(about 3 ms, by its own source's estimate) before it sleeps unless it runs more threads than the
cores of its affinity (the
libgomp manual, ``GOMP_SPINCOUNT``); Intel's and LLVM's runtimes (``libiomp5``, ``libomp``) spin
for 200 ms (``KMP_DEFAULT_BLOCKTIME`` in LLVM's ``openmp/runtime/src/kmp.h``). PyTorch opens a
region in most operators, so on a core that another process also runs on, a spinning thread
takes that core's time from the very thread it waits for. ``OMP_WAIT_POLICY=PASSIVE`` (GNU,
LLVM) and ``KMP_BLOCKTIME=0`` (Intel, LLVM) make a waiting thread sleep at once. Both are read
once, when the OpenMP runtime loads (at ``import torch``), so they are set before it; PyTorch has
no setting of its own for this. Measured, the sweep on 2 cores beside busy processes:
``python bench/bench_pruning_load.py``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

#: Variables that BLAS, OpenMP, NumExpr and ITK read at load time for their thread count.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS")


#: What :func:`wait_passively` sets (values a user set beforehand are kept).
WAIT_VARIABLES = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}

#: ``shared`` (the default): the policy of this module. ``torch``: PyTorch's own defaults (a thread
#: per core of the machine, OpenMP's spin-waiting), the behaviour before it, kept for comparison.
POLICY_ENV = "ROBUSTLAB_THREAD_POLICY"
POLICIES = ("shared", "torch")


def thread_policy() -> str:
    """The policy named by ``$ROBUSTLAB_THREAD_POLICY`` (``shared`` when unset)."""
    from robustlab.common.errors import ConfigError

    policy = os.environ.get(POLICY_ENV, "shared") or "shared"
    if policy not in POLICIES:
        raise ConfigError(f"{POLICY_ENV}={policy!r}: expected one of {', '.join(POLICIES)}")
    return policy


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup"),
                     self_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """The CPU quota of this process's cgroup in cores (``quota / period``), None without one.

    cgroup v2: ``cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``) of the process's own
    cgroup (named in ``/proc/self/cgroup``) and of every cgroup above it; the smallest quota
    holds. cgroup v1: ``cpu.cfs_quota_us / cpu.cfs_period_us`` (``-1``: none).
    """
    quotas = []
    own = ""
    with contextlib.suppress(OSError):
        own = next((line.split("::", 1)[1].strip() for line in self_cgroup.read_text().splitlines()
                    if line.startswith("0::")), "")
    parts = [p for p in own.strip("/").split("/") if p]
    for depth in range(len(parts), -1, -1):  # the own cgroup, then each one above it
        with contextlib.suppress(OSError, ValueError, IndexError):
            quota, period = (root.joinpath(*parts[:depth]) / "cpu.max").read_text().split()[:2]
            if quota != "max":
                quotas.append(int(quota) / int(period))
    for folder in ("cpu", "cpu,cpuacct"):
        with contextlib.suppress(OSError, ValueError):
            quota_us = int((root / folder / "cpu.cfs_quota_us").read_text())
            if quota_us > 0:
                quotas.append(quota_us / int((root / folder / "cpu.cfs_period_us").read_text()))
    return min(quotas) if quotas else None


def available_cores() -> int:
    """The cores this process may use: its CPU affinity (where the platform has one), capped by
    its cgroup's CPU quota rounded down (:func:`cgroup_cpu_quota`); at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return max(1, min(cores, int(quota)) if quota is not None else cores)


def threads_per_process(n_processes: int, cores: int | None = None) -> int:
    """``max(1, cores // n_processes)``: each of ``n_processes`` processes' threads."""
    return max(1, (cores or available_cores()) // max(1, n_processes))


def intra_op_threads(processes: int = 1, loader_workers: int = 0, cores: int | None = None) -> int:
    """Threads of a training or evaluating process's pools: ``max(1, cores // processes - loader_workers)``.

    ``processes`` processes of the same kind share the ``cores`` (launcher jobs, ranks on one
    machine); each one's ``loader_workers`` ``DataLoader`` workers run one thread each
    (:func:`loader_worker_init`) and take a core of its share.
    """
    return max(1, threads_per_process(processes, cores) - max(0, int(loader_workers)))


def wait_passively() -> bool:
    """Make OpenMP's waiting threads sleep at once (``OMP_WAIT_POLICY=PASSIVE``, ``KMP_BLOCKTIME=0``;
    see the module's docstring), keeping any value already set in the environment.

    Call it before ``import torch`` (the OpenMP runtime reads them once, when it loads); child
    processes inherit them. Returns False, setting nothing, when torch is already imported.
    """
    if "torch" in sys.modules:
        return False
    for name, value in WAIT_VARIABLES.items():
        os.environ.setdefault(name, value)
    return True


def thread_env(n_threads: int) -> dict[str, str]:
    """The environment that gives a new process ``n_threads`` threads in each pool."""
    return {name: str(int(n_threads)) for name in THREAD_VARIABLES}


def limit_threads(n_threads: int) -> None:
    """Limit every thread pool loaded in this process to ``n_threads`` (until changed)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=int(n_threads))
    if "SimpleITK" in sys.modules:
        sys.modules["SimpleITK"].ProcessObject.SetGlobalDefaultNumberOfThreads(int(n_threads))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(n_threads))


@contextlib.contextmanager
def limited_threads(n_threads: int) -> Iterator[None]:
    """:func:`limit_threads` inside the block; every pool's previous limit afterwards."""
    from threadpoolctl import threadpool_limits

    sitk, torch = sys.modules.get("SimpleITK"), sys.modules.get("torch")
    itk_before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() if sitk else None
    torch_before = torch.get_num_threads() if torch else None
    try:
        with threadpool_limits(limits=int(n_threads)):
            limit_threads(n_threads)
            yield
    finally:
        if sitk is not None:
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(itk_before)
        if torch is not None:
            torch.set_num_threads(torch_before)


def loader_worker_init(worker_id: int) -> None:
    """The ``worker_init_fn`` of every ``DataLoader`` of the project: one thread per pool in each worker.

    PyTorch limits its own pool to one thread in a loader worker; BLAS/OpenMP (NumPy, PIL's
    and OpenCV's decoders) keep a thread per core unless limited here.
    """
    limit_threads(1)


def current_limits() -> dict[str, int]:
    """This process's thread counts now: ``blas`` and ``openmp`` (the largest of the loaded
    libraries; 0 when none is loaded), ``itk`` and ``torch`` (where imported)."""
    from threadpoolctl import threadpool_info

    limits = {"blas": 0, "openmp": 0}
    for lib in threadpool_info():
        api = lib["user_api"]
        limits[api] = max(limits.get(api, 0), int(lib["num_threads"]))
    if "SimpleITK" in sys.modules:
        limits["itk"] = int(sys.modules["SimpleITK"].ProcessObject.GetGlobalDefaultNumberOfThreads())
    if "torch" in sys.modules:
        limits["torch"] = int(sys.modules["torch"].get_num_threads())
    return limits
