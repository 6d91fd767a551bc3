"""Extraction in parallel: this process and worker processes, each item handed out as a task.

Where :func:`forking`, the workers are forked from this process (pyradiomics' own batch command
does the same with a ``multiprocessing.Pool``) and are ended by the kernel when the process
that started them ends, however it ends (:func:`die_with_parent`): a run stopped by SIGTERM or
SIGKILL leaves no worker behind.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from robustlab.common.errors import ConfigError
from robustlab.common.threads import (
    available_cores,
    limit_threads,
    limited_threads,
    thread_env,
    threads_per_process,
)
from robustlab.radiomics.extraction.items import WorkItem
from robustlab.radiomics.extraction.worker import ExtractionProcess

log = logging.getLogger(__name__)
#: Linux's ``prctl`` option that sets the signal a process gets when its parent ends.
PR_SET_PDEATHSIG = 1

#: The :class:`ExtractionProcess` of a worker process, set by the pool's initializer in each
#: worker; the process that starts the pool passes its own explicitly.
_worker: ExtractionProcess | None = None


def in_parallel(items: Sequence[WorkItem], cache_root: Path, n_processes: int,
                process: ExtractionProcess, warm_up: Callable[[], None] | None = None,
                ) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Yield the result of every item, extracted by this process and ``n_processes - 1`` workers.

    This process (``process``) parses the first parameter file before the workers start, so that
    forked workers (:func:`worker_pool`) begin with pyradiomics imported and that extractor built,
    and extracts from the front of the queue while the workers take items from its back: each
    process goes through the acquisitions in its own order and reads an acquisition once
    (:func:`~robustlab.radiomics.extraction.items.extraction_order`). A worker is handed its next
    item the moment it returns one (a done-callback), so every process stays busy until the queue
    is empty. ``warm_up`` runs in this process once the workers have their first items (imports
    for what follows the extraction, on a core that would otherwise wait for them). Every
    process, this one included, runs ``cores // n_processes`` threads (at least one) in each
    pool: ITK's filters, BLAS (GLCM's ``eigvals``) and OpenMP (:mod:`robustlab.common.threads`).
    """
    import SimpleITK  # noqa: F401 - loaded before its threads are limited in this process

    process.extractor(items[0].params, items[0].overrides)
    todo = deque([it] for it in items)  # pop, popleft, append atomic: shared with the callbacks
    returned: queue.SimpleQueue[Any] = queue.SimpleQueue()
    threads = threads_per_process(n_processes)

    with worker_pool(n_processes - 1, threads, process) as executor:

        def feed(finished: Any = None) -> None:
            if finished is not None:
                returned.put(finished)
            try:
                task = todo.pop()
            except IndexError:
                return
            try:
                executor.submit(_extract_in_worker, task, cache_root).add_done_callback(feed)
            except Exception:  # noqa: BLE001 - a broken pool: this process takes the item back
                log.warning("a worker could not take a task; extracting it here", exc_info=True)
                todo.append(task)
                returned.put(None)  # wakes this process if it waits for the workers

        try:
            for _ in range(n_processes - 1):
                feed()
            if warm_up is not None:
                warm_up()
            yield from _collect(todo, returned, len(items), cache_root, threads, process)
        finally:
            todo.clear()  # on an error or an interrupt, the callbacks hand out nothing more


def _collect(todo: deque[list[WorkItem]], returned: queue.SimpleQueue[Any], n_items: int,
             cache_root: Path, threads: int, process: ExtractionProcess,
             ) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """This process's share of :func:`in_parallel`: extract from the front of ``todo`` and
    yield the workers' results as they return, until all ``n_items`` are back."""
    received = 0
    while received < n_items:
        try:
            task = todo.popleft()
        except IndexError:
            finished = [returned.get()]  # nothing left to take: wait for a worker
        else:
            received += 1
            with limited_threads(threads):
                done = process.extract_items(task, cache_root)
            yield done
            finished = []
        while not returned.empty():
            finished.append(returned.get())
        for future in finished:
            if future is not None:
                received += 1
                yield future.result()


def n_processes(n_jobs: int) -> int:
    """Processes of ``n_jobs`` as joblib counts them: ``n_jobs`` itself when positive, else
    ``cores + 1 + n_jobs`` (-1: one per core), at least one."""
    if n_jobs == 0:
        raise ConfigError("n_jobs: must be -1 (one process per core) or at least 1; got 0")
    if n_jobs > 0:
        return int(n_jobs)
    return max(1, available_cores() + 1 + int(n_jobs))


def forking() -> bool:
    """Whether extraction workers are forked from this process (Linux, with SimpleITK's
    default ``Platform`` threader, which keeps no threads between filters)."""
    import SimpleITK as sitk

    return (sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
            and sitk.ProcessObject.GetGlobalDefaultThreader() == "Platform")


@contextlib.contextmanager
def worker_pool(n_workers: int, threads: int,
                process: ExtractionProcess | None = None) -> Iterator[Any]:
    """A pool of ``n_workers`` processes with ``threads`` threads in each thread pool.

    Where :func:`forking`, the workers are forked from this process: they start at once, with
    everything this process has imported and parsed (``process``: its extractors), die with
    it (:func:`die_with_parent`), and the pool is shut down on leaving the block. Elsewhere
    joblib's reusable loky pool (fresh interpreters, about 0.7 s each to import NumPy, SimpleITK
    and pyradiomics), kept for the next run; a pool of other settings is replaced. The thread
    variables go into the workers' environment (for libraries they load later) and their
    initializer limits what is loaded already.
    """
    process = process if process is not None else ExtractionProcess()
    if not forking():
        from joblib.externals.loky import get_reusable_executor

        yield get_reusable_executor(max_workers=n_workers, env=thread_env(threads),
                                    initializer=_start_worker, initargs=(threads, process, None))
        return
    executor = ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_start_worker,
                                   initargs=(threads, process, os.getpid()))
    try:
        yield executor
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def _start_worker(threads: int, process: ExtractionProcess, parent: int | None) -> None:
    """Initializer of an extraction worker: ``threads`` threads in every pool, now and later;
    ``process`` its state (a forked worker's: the parent's, as it was); with ``parent``, it
    ends when that process ends."""
    global _worker
    if parent is not None:
        die_with_parent(parent)
    os.environ.update(thread_env(threads))
    limit_threads(threads)
    _worker = process


def _extract_in_worker(items: Sequence[WorkItem],
                       cache_root: Path) -> list[tuple[str, dict[str, Any]]]:
    """A worker's task: :meth:`ExtractionProcess.extract_items` with the worker's own state."""
    if _worker is None:  # a pool not started by worker_pool
        raise RuntimeError("an extraction task ran in a process that worker_pool did not start")
    return _worker.extract_items(items, cache_root)


def die_with_parent(parent: int) -> None:
    """Have the kernel end this process with SIGKILL when ``parent``, which forked it, ends.

    Linux's ``prctl(PR_SET_PDEATHSIG)``: the signal comes however the parent ends (SIGTERM,
    SIGKILL, a crash), and a worker busy inside pyradiomics' C code cannot miss it. It fires
    when the thread that forked this process ends; :func:`worker_pool` forks from the thread
    that holds the pool. A parent that ended before the call ends this process at once.
    Elsewhere (no ``prctl``) nothing is done.
    """
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        failed = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0
    except (OSError, AttributeError):  # no C library to load, or no prctl in it
        failed = True
    if failed:
        log.debug("extraction worker %d: no parent-death signal on this system", os.getpid())
        return
    if os.getppid() != parent:  # the parent ended before the signal was set
        os._exit(1)
