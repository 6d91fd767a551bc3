"""The one entry point of extraction: :func:`extract` (cached, in one or several processes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from robustlab.radiomics.extraction.cache import FeatureCache
from robustlab.radiomics.extraction.items import WorkItem, extraction_order
from robustlab.radiomics.extraction.params import Extraction
from robustlab.radiomics.extraction.pool import in_parallel, n_processes
from robustlab.radiomics.extraction.pyradiomics_env import quiet_pyradiomics
from robustlab.radiomics.extraction.worker import ExtractionProcess


def extract(
    items: Sequence[WorkItem], cache: FeatureCache, n_jobs: int = -1, progress: bool = True,
    warm_up: Callable[[], None] | None = None, checked: Mapping[Extraction, Any] | None = None,
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
        checked: extractors the study's validation built, by settings (taken instead of
            building them again;
            :attr:`~robustlab.radiomics.study.model.ValidatedStudy.extractors`).

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
    process = ExtractionProcess(checked)
    if processes > 1:
        jobs = in_parallel(todo, cache.root, processes, process, warm_up)
    else:
        jobs = (process.extract_items([it], cache.root) for it in todo)
    with tqdm(total=len(todo), desc="extract", unit="ROI", disable=not progress) as bar:
        for done in jobs:
            for key, payload in done:
                payloads[key] = payload
                counts["extracted"] += 1
                counts["failed"] += "error" in payload
            bar.update(len(done))
    return counts, payloads
