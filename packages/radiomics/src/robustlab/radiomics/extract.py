"""Extraction with pyradiomics: one work item per (acquisition, ROI), parallel, cached.

Each work item is extracted by ``radiomics.featureextractor.RadiomicsFeatureExtractor`` with
the acquisition's parameter file, in a joblib worker that writes its cache entry itself: a run
stopped half-way keeps everything already extracted. A worker task is a few ROIs of one
acquisition, whose image is read once. A ROI that pyradiomics refuses (e.g. too
small for its settings) is cached as a failure with its error and the other ROIs go on.

The texture test's items are the same ROIs with the voxel intensities inside the ROI shuffled
by a seeded permutation before extraction (the perturbation is part of the cache key).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustlab.radiomics.cache import FeatureCache, make_key
from robustlab.radiomics.study import ValidatedStudy, file_hash

log = logging.getLogger(__name__)
_EXTRACTORS: dict[str, Any] = {}  # one extractor per parameter file and worker process


@dataclass(frozen=True)
class WorkItem:
    """One ROI to extract.

    Attributes:
        acquisition: the acquisition id.
        roi: the ROI id (the label, as a string).
        label: the label value in the mask.
        image, mask, params: absolute paths of the image, its mask and the parameter file.
        shuffle_seed: None for the original image; a seed for the texture test's shuffling.
        key: the cache key (content hashes, label, pyradiomics version, perturbation).
        voxels: the ROI's number of voxels (the scheduling's estimate of its cost).
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


def pyradiomics_version() -> str:
    """The installed pyradiomics version (part of every cache key)."""
    import radiomics

    return str(radiomics.__version__)


class _KnownNotices(logging.Filter):
    """Drops pyradiomics' per-ROI notice that GLCM Sum Average is 2 x Joint Average.

    It is emitted at WARNING for every ROI whenever GLCM is symmetrical (the default) and says
    nothing about the data; every other warning passes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "Sum Average = 2 * Joint Average" not in record.getMessage()


def quiet_pyradiomics() -> None:
    """Set pyradiomics' loggers to WARNING (it logs every feature class at INFO)."""
    import radiomics

    radiomics.setVerbosity(logging.WARNING)
    logger = logging.getLogger("radiomics")
    logger.setLevel(logging.WARNING)
    glcm = logging.getLogger("radiomics.glcm")
    if not any(isinstance(f, _KnownNotices) for f in glcm.filters):
        glcm.addFilter(_KnownNotices())


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
    param_hash: dict[Path, str] = {}
    items: list[WorkItem] = []
    chosen = [a for a in study.acquisitions if study.acquisitions[a].is_image
              and (acquisitions is None or a in acquisitions)]
    for perturbed in (False, True):
        for aid in chosen:
            if perturbed and aid not in shuffle:
                continue
            acq = study.acquisitions[aid]
            if acq.extraction not in param_hash:
                param_hash[acq.extraction] = file_hash(acq.extraction)
            for roi in validated.rois[aid]:
                label = int(roi)
                sseed = shuffle_seed(seed, aid, label) if perturbed else None
                key = make_key(image=validated.hashes[acq.image], mask=validated.hashes[acq.mask],
                               label=label, params=param_hash[acq.extraction],
                               pyradiomics=version, shuffle=sseed)
                items.append(WorkItem(aid, roi, label, acq.image, acq.mask, acq.extraction,
                                      sseed, key, validated.voxels[aid][roi]))
    return items


def shard_items(items: Sequence[WorkItem], shard: tuple[int, int]) -> list[WorkItem]:
    """The deterministic share ``i`` of ``n`` of the items (every n-th item from the i-th)."""
    i, n = shard
    if not (isinstance(n, int) and n >= 1 and isinstance(i, int) and 0 <= i < n):
        raise ValueError(f"shard must be i/n with 0 <= i < n; got {i}/{n}")
    return [it for j, it in enumerate(items) if j % n == i]


def _extractor(params: Path) -> Any:
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    quiet_pyradiomics()
    key = str(params)
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = RadiomicsFeatureExtractor(str(params))
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


def extract_items(items: Sequence[WorkItem], cache_root: Path,
                  itk_threads: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Extract items with pyradiomics and write each one's cache entry (features or error).

    A worker gets items of one acquisition (see :func:`chunk_items`): the image and its mask
    are read once for all of them.

    Args:
        itk_threads: ITK's thread count in this process (None: ITK's default, a thread per
            core). Parallel workers use 1: the processes already share out the cores, and with
            ITK's default every worker's filters (LoG, wavelet, resampling) would start a
            thread on every core.

    Returns:
        ``(key, payload)`` per item; the payload written is ``{"features": {name: value}}`` or
        ``{"error": "..."}``.
    """
    import SimpleITK as sitk

    from robustlab.radiomics.study import read_image

    if itk_threads is not None:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(itk_threads)
    cache = FeatureCache(cache_root)
    loaded: dict[tuple[Path, Path], tuple[Any, Any]] = {}
    out = []
    for item in items:
        try:
            pair = (item.image, item.mask)
            if pair not in loaded:
                where = f"acquisition {item.acquisition!r}"
                loaded = {pair: (read_image(item.image, where), read_image(item.mask, where))}
            image, mask = loaded[pair]
            if item.shuffle_seed is not None:
                image = shuffle_roi(image, sitk.Cast(mask, sitk.sitkInt64), item.label,
                                    item.shuffle_seed)
            result = _extractor(item.params).execute(image, mask, label=item.label)
            features = {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}
            payload: dict[str, Any] = {"features": features}
        except Exception as exc:  # noqa: BLE001 - any pyradiomics error is the ROI's recorded failure
            payload = {"error": f"{type(exc).__name__}: {exc}".strip()}
        cache.put(item.key, payload)
        out.append((item.key, payload))
    return out


def chunk_items(items: Sequence[WorkItem], n_workers: int, largest: int = 8) -> list[list[WorkItem]]:
    """Split items into worker tasks of one acquisition (image and mask), largest first.

    A task reads its image once; tasks are small enough (about eight per worker, at most
    ``largest`` items) that the workers finish together and the progress bar moves. Within an
    acquisition, items are grouped by size, and tasks are returned in decreasing total voxel
    count (longest processing time first: the last tasks, which decide when the slowest worker
    finishes, are the cheapest).
    """
    size = min(largest, max(1, -(-len(items) // (8 * max(1, n_workers)))))
    groups: dict[tuple[Path, Path], list[WorkItem]] = {}
    for it in items:
        groups.setdefault((it.image, it.mask), []).append(it)
    chunks = []
    for group in groups.values():
        group = sorted(group, key=lambda it: -it.voxels)
        chunks += [group[i:i + size] for i in range(0, len(group), size)]
    return sorted(chunks, key=lambda c: -sum(it.voxels for it in c))


def extract(
    items: Sequence[WorkItem], cache: FeatureCache, n_jobs: int = -1, progress: bool = True,
) -> tuple[dict[str, int], dict[str, dict[str, Any]]]:
    """Extract every item not already in ``cache``, in parallel over chunks of items.

    Items with the same key (the same content) are extracted once.

    Args:
        items: the work items.
        cache: the cache the workers write to.
        n_jobs: joblib workers (-1: all cores; 1: in this process).
        progress: show a tqdm progress bar.

    Returns:
        ``(counts, payloads)``: counts ``{"cached": items found in the cache, "extracted":
        items extracted now, "failed": failures among them}``, and key -> payload of every
        item (each cache entry read and verified once).
    """
    from joblib import Parallel, delayed, effective_n_jobs
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
    workers = effective_n_jobs(n_jobs)
    chunks = chunk_items(todo, workers)
    jobs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(extract_items)(chunk, cache.root, 1 if workers > 1 else None) for chunk in chunks)
    with tqdm(total=len(todo), desc="extract", unit="ROI", disable=not progress) as bar:
        for done in jobs:
            for key, payload in done:
                payloads[key] = payload
                counts["extracted"] += 1
                counts["failed"] += "error" in payload
            bar.update(len(done))
    return counts, payloads
