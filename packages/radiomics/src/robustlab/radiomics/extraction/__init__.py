# ruff: noqa: F401 - the names imported for type checkers only are re-exported
"""Extraction with pyradiomics: one work item per (acquisition, ROI), parallel, cached.

One entry point, :func:`extract` (:mod:`.run`): the items not in the cache are extracted, in
this process and worker processes, each one's result written to the cache as it comes.

- :mod:`.items`: the work items of a validated study, keyed by content, and their order;
- :mod:`.worker`: the extraction of items in one process (:class:`.worker.ExtractionProcess`
  holds what a process keeps between items: extractors, the acquisition read last);
- :mod:`.pool`: worker processes, handed one item at a time, ended with their parent;
- :mod:`.regions`: an acquisition prepared once for all its ROIs;
- :mod:`.cache`: the content-addressed cache of extracted ROIs;
- :mod:`.params` and :mod:`.pyradiomics_env`: pyradiomics' settings and its process-wide state.

Each module is imported on first use of one of the names below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from robustlab.radiomics.lazy import lazy_exports

#: name -> the module of this package that defines it
_MODULES = {
    "extract": "run", "WorkItem": "items", "work_items": "items", "shard_items": "items",
    "FeatureCache": "cache", "pyradiomics_version": "pyradiomics_env",
}
__all__ = sorted(_MODULES)


__getattr__, __dir__ = lazy_exports(__name__, _MODULES)

if TYPE_CHECKING:  # the same names, for type checkers
    from robustlab.radiomics.extraction.cache import FeatureCache
    from robustlab.radiomics.extraction.items import WorkItem, shard_items, work_items
    from robustlab.radiomics.extraction.pyradiomics_env import pyradiomics_version
    from robustlab.radiomics.extraction.run import extract
