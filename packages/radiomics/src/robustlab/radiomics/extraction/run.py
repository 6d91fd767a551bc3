"""Extraction with pyradiomics: one work item per (acquisition, ROI), parallel, cached.

Each work item is extracted by ``radiomics.featureextractor.RadiomicsFeatureExtractor`` with
the acquisition's parameter file, in this process or a worker process (:func:`worker_pool`),
which writes its cache entry itself: a run stopped half-way keeps everything already extracted.
A process keeps the acquisition it extracts from, read, normalized and boxed once
(:mod:`robustlab.radiomics.extraction.regions`).
A ROI that pyradiomics refuses (e.g. too small for its settings) is cached as a failure with
its error and the other ROIs go on. pyradiomics' diagnostics (``additionalInfo``) are not
computed: they are not features, and they hash and summarise the whole image for every ROI.

The texture test's items are the same ROIs with the voxel intensities inside the ROI shuffled
by a seeded permutation before extraction (the perturbation is part of the cache key); on a
prepared acquisition the shuffling permutes the normalized voxels of the crop, so the shuffled
ROI holds exactly the original ROI's values.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import multiprocessing
import os
import queue
import sys
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustlab.common.errors import ConfigError
from robustlab.common.hashing import file_hash
from robustlab.common.threads import (
    available_cores,
    limit_threads,
    limited_threads,
    thread_env,
    threads_per_process,
)
from robustlab.radiomics.extraction.cache import FeatureCache, make_key
from robustlab.radiomics.extraction.pyradiomics_env import pyradiomics_version, quiet_pyradiomics
from robustlab.radiomics.extraction.regions import CROP_SETTINGS, PreparedAcquisition, shareable
from robustlab.radiomics.study import ValidatedStudy

log = logging.getLogger(__name__)
_EXTRACTORS: dict[tuple[str, str, bool], Any] = {}  # per settings, crop or not, and process
# The acquisition this process read last, kept for its next task (one entry: an image's size).
_LOADED: dict[tuple[Path, Path, str], _Source] = {}


@dataclass(frozen=True)
class WorkItem:
    """One ROI to extract.

    Attributes:
        acquisition: the acquisition id.
        roi: the ROI id (the label as a string, or the ROI's name in ``rois:``).
        label: the label value in the mask.
        image, mask, params: absolute paths of the image, the ROI's mask and the parameter file.
        shuffle_seed: None for the original image; a seed for the texture test's shuffling.
        key: the cache key (content hashes, label, settings, pyradiomics version, perturbation).
        voxels: the ROI's number of voxels (the scheduling's estimate of its cost).
        overrides: the acquisition's ``setting:`` overrides (canonical JSON, ``""``: none).
    """

    acquisition: str
    roi: str
    label: int
    image: Path
    mask: Path
    params: Path
    shuffle_seed: int | None
    key: str
    voxels: int = 0
    overrides: str = ""


def shuffle_seed(seed: int, acquisition: str, label: int) -> int:
    """The per-ROI seed of the texture test, derived from the run seed (stable across runs)."""
    return int(np.random.SeedSequence([seed, zlib.crc32(acquisition.encode()), label])
               .generate_state(1)[0])


def work_items(
    validated: ValidatedStudy, acquisitions: Sequence[str] | None = None,
    shuffle: Sequence[str] = (), seed: int = 0,
) -> list[WorkItem]:
    """The work items of a validated study, in a deterministic order.

    Args:
        validated: from :func:`robustlab.radiomics.study.validate_study`.
        acquisitions: the image acquisitions to extract (default: every one).
        shuffle: acquisitions whose ROIs are also extracted with shuffled voxels.
        seed: the run seed (the shuffling seeds derive from it).

    Returns:
        The original items of every acquisition (study order, label order), then the
        shuffled ones.
    """
    study = validated.study
    version = pyradiomics_version()
    param_hash: dict[tuple[Path, str], str] = {}
    items: list[WorkItem] = []
    chosen = [a for a in study.acquisitions if study.acquisitions[a].is_image
              and (acquisitions is None or a in acquisitions)]
    for perturbed in (False, True):
        for aid in chosen:
            if perturbed and aid not in shuffle:
                continue
            acq = study.acquisitions[aid]
            settings = (acq.extraction, acq.overrides)
            if settings not in param_hash:  # no overrides: the file's hash, as before them
                digest = file_hash(acq.extraction)
                param_hash[settings] = make_key(file=digest, overrides=acq.overrides) \
                    if acq.overrides else digest
            for roi in validated.rois[aid]:
                mask, _ = acq.mask_of(roi)
                label = validated.labels[aid][roi]
                sseed = shuffle_seed(seed, aid, _roi_number(roi, label)) if perturbed else None
                key = make_key(image=validated.hashes[acq.image], mask=validated.hashes[mask],
                               label=label, params=param_hash[settings],
                               pyradiomics=version, shuffle=sseed)
                items.append(WorkItem(aid, roi, label, acq.image, mask, acq.extraction,
                                      sseed, key, validated.voxels[aid][roi], acq.overrides))
    return items


def _roi_number(roi: str, label: int) -> int:
    """The number a ROI's shuffling seed derives from: its label in a label map, else a CRC of
    its name (ROIs of separate mask files often share label 1)."""
    return label if roi == str(label) else zlib.crc32(roi.encode())


def shard_items(items: Sequence[WorkItem], shard: tuple[int, int]) -> list[WorkItem]:
    """The deterministic share ``i`` of ``n`` of the items (every n-th item from the i-th)."""
    i, n = shard
    if not (isinstance(n, int) and n >= 1 and isinstance(i, int) and 0 <= i < n):
        raise ValueError(f"shard must be i/n with 0 <= i < n; got {i}/{n}")
    return [it for j, it in enumerate(items) if j % n == i]


def _extractor(params: Path, overrides: str = "", crop: bool = False) -> Any:
    """The extractor of a parameter file with its ``setting:`` overrides, diagnostics off;
    ``crop``: for a prepared crop."""
    from radiomics.featureextractor import RadiomicsFeatureExtractor
    from robustlab.radiomics.extraction.params import Extraction, take_checked

    quiet_pyradiomics()
    key = (str(params), overrides, crop)
    if key not in _EXTRACTORS:
        if crop:  # a copy of the plain one: pyradiomics validates a parameter file once
            extractor = copy.deepcopy(_extractor(params, overrides))
            extractor.settings.update(CROP_SETTINGS)
        else:  # the one the study's validation built, else a new one
            extractor = take_checked(Extraction(params, overrides)) or RadiomicsFeatureExtractor(
                Extraction(params, overrides).params() if overrides else str(params))
            extractor.settings["additionalInfo"] = False
        _EXTRACTORS[key] = extractor
    return _EXTRACTORS[key]


def shuffle_roi(image: Any, mask: Any, label: int, seed: int) -> Any:
    """A copy of ``image`` whose voxels inside ROI ``label`` are randomly permuted.

    The intensity histogram inside the ROI is unchanged; only the spatial arrangement (the
    texture) is destroyed. Geometry is copied from ``image``.
    """
    import SimpleITK as sitk

    arr = sitk.GetArrayFromImage(image)
    inside = sitk.GetArrayViewFromImage(mask) == label
    arr[inside] = np.random.default_rng(seed).permutation(arr[inside])
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(image)
    return out


def extract_items(items: Sequence[WorkItem], cache_root: Path) -> list[tuple[str, dict[str, Any]]]:
    """Extract items with pyradiomics and write each one's cache entry (features or error).

    An acquisition's image and mask are read, and where exact prepared
    (:class:`~robustlab.radiomics.extraction.regions.PreparedAcquisition`), once for all its items, and
    kept for the process's next call (see :func:`extraction_order`).

    The threads of ITK, BLAS and OpenMP are the caller's: a parallel run limits them in every
    process (:func:`_in_parallel`).

    Returns:
        ``(key, payload)`` per item; the payload written is ``{"features": {name: value}}`` or
        ``{"error": "..."}``.
    """
    cache = FeatureCache(cache_root)
    out = []
    for item in items:
        try:
            source = (item.image, item.params, item.overrides)
            if source not in _LOADED:
                _LOADED.clear()
                _LOADED[source] = _Source(item)
            image, mask, extractor = _LOADED[source].roi(item)
            if item.shuffle_seed is not None:
                image = shuffle_roi(image, mask, item.label, item.shuffle_seed)
            result = extractor.execute(image, mask, label=item.label)
            features = {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}
            payload: dict[str, Any] = {"features": features}
        except Exception as exc:  # noqa: BLE001 - any pyradiomics error is the ROI's recorded failure
            payload = {"error": f"{type(exc).__name__}: {exc}".strip()}
        cache.put(item.key, payload)
        out.append((item.key, payload))
    return out


class _Source:
    """An acquisition's image (and its masks), read once, prepared once where that is exact."""

    def __init__(self, item: WorkItem) -> None:
        self.where = f"acquisition {item.acquisition!r}"
        self.image = _read(item.image, self.where)
        self.masks: dict[Path, Any] = {}
        self.prepared: PreparedAcquisition | None = None
        settings = _extractor(item.params, item.overrides).settings
        if shareable(settings):
            try:
                self.prepared = PreparedAcquisition(self.image, None, settings)
            except (RuntimeError, ValueError):
                log.debug("%s: extracting ROI by ROI", self.where, exc_info=True)  # pyradiomics says why

    def roi(self, item: WorkItem) -> tuple[Any, Any, Any]:
        """Image, mask and extractor for ``item``: a prepared crop, or the whole image."""
        if item.mask not in self.masks:
            self.masks[item.mask] = _read(item.mask, self.where)
            if self.prepared is not None:
                try:
                    self.prepared.add_mask(item.mask, self.masks[item.mask])
                except (RuntimeError, ValueError):
                    log.debug("%s: extracting ROI by ROI", self.where, exc_info=True)
        prepared = self.prepared.masks.get(item.mask) if self.prepared is not None else None
        if prepared is not None and item.label in prepared[1]:
            return (*self.prepared.crop(item.label, item.mask),
                    _extractor(item.params, item.overrides, crop=True))
        return self.image, self.masks[item.mask], _extractor(item.params, item.overrides)


def _read(path: Path, where: str) -> Any:
    from robustlab.radiomics.study import read_image

    return read_image(path, where)


def extraction_order(items: Sequence[WorkItem]) -> list[WorkItem]:
    """The items acquisition by acquisition (image and settings), largest ROI first.

    A process extracts one item at a time and keeps the acquisition it last prepared, so in this
    order (taken from its front by this process and from its back by the workers) it prepares
    each acquisition once (each of ``n`` processes at most once); within an acquisition the
    last items this process takes, which decide when it finishes, are the cheapest.
    """
    groups: dict[tuple[Path, Path, str], list[WorkItem]] = {}
    for it in items:
        groups.setdefault((it.image, it.params, it.overrides), []).append(it)
    return [it for group in groups.values() for it in sorted(group, key=lambda it: -it.voxels)]


def _in_parallel(items: Sequence[WorkItem], cache_root: Path, n_processes: int,
                 warm_up: Callable[[], None] | None = None) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Yield the result of every item, extracted by this process and ``n_processes - 1`` workers.

    This process parses the first parameter file before the workers start, so that forked
    workers (:func:`worker_pool`) begin with pyradiomics imported and that extractor built,
    and extracts from the front of the queue while the workers take items from its back: each
    process goes through the acquisitions in its own order and reads an acquisition once
    (:func:`extraction_order`). A worker is handed its next item the moment it returns one (a
    done-callback), so every process stays busy until the queue is empty. ``warm_up`` runs in
    this process once the workers have their first items (imports for what follows the
    extraction, on a core that would otherwise wait for them). Every process, this one
    included, runs ``cores // n_processes`` threads (at least one) in each pool: ITK's filters,
    BLAS (GLCM's ``eigvals``) and OpenMP (:mod:`robustlab.common.threads`).
    """
    import SimpleITK  # noqa: F401 - loaded before its threads are limited in this process

    _extractor(items[0].params, items[0].overrides)
    todo = deque([it] for it in items)  # pop, popleft, append atomic: shared with the callbacks
    returned: queue.SimpleQueue[Any] = queue.SimpleQueue()
    threads = threads_per_process(n_processes)

    with worker_pool(n_processes - 1, threads) as executor:

        def feed(finished: Any = None) -> None:
            if finished is not None:
                returned.put(finished)
            try:
                task = todo.pop()
            except IndexError:
                return
            try:
                executor.submit(extract_items, task, cache_root).add_done_callback(feed)
            except Exception:  # noqa: BLE001 - a broken pool: this process takes the item back
                log.warning("a worker could not take a task; extracting it here", exc_info=True)
                todo.append(task)
                returned.put(None)  # wakes this process if it waits for the workers

        try:
            for _ in range(n_processes - 1):
                feed()
            if warm_up is not None:
                warm_up()
            yield from _collect(todo, returned, len(items), cache_root, threads)
        finally:
            todo.clear()  # on an error or an interrupt, the callbacks hand out nothing more


def _collect(todo: deque[list[WorkItem]], returned: queue.SimpleQueue[Any], n_items: int,
             cache_root: Path, threads: int) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """This process's share of :func:`_in_parallel`: extract from the front of ``todo`` and
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
                done = extract_items(task, cache_root)
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
def worker_pool(n_workers: int, threads: int) -> Iterator[Any]:
    """A pool of ``n_workers`` processes with ``threads`` threads in each thread pool.

    Where :func:`forking`, the workers are forked from this process, as pyradiomics' own batch
    command's ``multiprocessing.Pool``: they start at once, with everything this process has
    imported and parsed, and the pool is shut down on leaving the block. Elsewhere joblib's
    reusable loky pool (fresh interpreters, about 0.7 s each to import NumPy, SimpleITK and
    pyradiomics), kept for the next run; a pool of other settings is replaced. The thread
    variables go into the workers' environment (for libraries they load later) and their
    initializer limits what is loaded already.
    """
    if not forking():
        from joblib.externals.loky import get_reusable_executor

        yield get_reusable_executor(max_workers=n_workers, env=thread_env(threads),
                                    initializer=_start_worker, initargs=(threads,))
        return
    executor = ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_start_worker, initargs=(threads,))
    try:
        yield executor
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def _start_worker(threads: int) -> None:
    """Initializer of an extraction worker: ``threads`` threads in every pool, now and later."""
    os.environ.update(thread_env(threads))
    limit_threads(threads)


def extract(
    items: Sequence[WorkItem], cache: FeatureCache, n_jobs: int = -1, progress: bool = True,
    warm_up: Callable[[], None] | None = None,
) -> tuple[dict[str, int], dict[str, dict[str, Any]]]:
    """Extract every item not already in ``cache``, one item per task, in parallel.

    Items with the same key (the same content) are extracted once.

    Args:
        items: the work items.
        cache: the cache the workers write to.
        n_jobs: processes extracting at once: this one and ``n_jobs - 1`` workers
            (-1: one per core; 1: this process alone).
        progress: show a tqdm progress bar.
        warm_up: run by this process while the workers start (a parallel run only).

    Returns:
        ``(counts, payloads)``: counts ``{"cached": items found in the cache, "extracted":
        items extracted now, "failed": failures among them}``, and key -> payload of every
        item (each cache entry read and verified once).
    """
    from tqdm.auto import tqdm

    payloads: dict[str, dict[str, Any]] = {}
    for it in items:
        if it.key not in payloads:
            found = cache.get(it.key)
            if found is not None:
                payloads[it.key] = found
    counts = {"cached": sum(it.key in payloads for it in items), "extracted": 0, "failed": 0}
    todo = list({it.key: it for it in items if it.key not in payloads}.values())
    if not todo:
        return counts, payloads
    quiet_pyradiomics()
    processes = n_processes(n_jobs)
    todo = extraction_order(todo)
    if processes > 1:
        jobs = _in_parallel(todo, cache.root, processes, warm_up)
    else:
        jobs = (extract_items([it], cache.root) for it in todo)
    try:
        with tqdm(total=len(todo), desc="extract", unit="ROI", disable=not progress) as bar:
            for done in jobs:
                for key, payload in done:
                    payloads[key] = payload
                    counts["extracted"] += 1
                    counts["failed"] += "error" in payload
                bar.update(len(done))
    finally:
        _LOADED.clear()
    return counts, payloads
