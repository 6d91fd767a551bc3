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
- :func:`current_limits`: what this process's pools are limited to now (what the tests read).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

#: Variables that BLAS, OpenMP, NumExpr and ITK read at load time for their thread count.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_per_process(n_processes: int, cores: int | None = None) -> int:
    """``max(1, cores // n_processes)``: each of ``n_processes`` processes' threads."""
    return max(1, (cores or available_cores()) // max(1, n_processes))


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
