"""The robust-feature pipeline as one library call: :func:`run_study`.

validate the study -> extract (cached, parallel, optionally one shard) -> feature tables ->
comparisons (ICC/CCC) -> shape dependence and texture test -> robust list -> outputs and report.
A rerun of an unchanged study with every feature cached restores the stored analysis
(:mod:`robustlab.radiomics.analysis_cache`) instead of computing it again.

Everything after the extraction is :mod:`robustlab.radiomics.study_analysis`, imported while
the extraction workers start (pandas, SciPy and the analysis take a few tenths of a second to
import, on a core that would otherwise wait), so this module imports neither.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from robustlab.common.config import check_value
from robustlab.common.constraints import PositiveInt
from robustlab.common.io import FILE_SYSTEM_ERRORS, file_system, write_json
from robustlab.common.runfolder import claims_run_folder
from robustlab.radiomics.analysis_cache import AnalysisCache, analysis_key
from robustlab.radiomics.extraction import (
    FeatureCache,
    WorkItem,
    extract,
    pyradiomics_version,
    shard_items,
    work_items,
)
from robustlab.radiomics.options import Options
from robustlab.radiomics.result import StudyResult
from robustlab.radiomics.study import load_study, texture_targets, validate_study
from robustlab.radiomics.study.images import IMAGE_BUDGET

log = logging.getLogger(__name__)
#: A radiomics run folder (:class:`robustlab.common.runfolder.RunFolder`): what runs write there
#: (a folder holding anything else is refused); what an earlier run left is removed before a run
#: writes, but the planner's seed runs (``seeds``), which a plan resumes from. The command
#: line's ``hydra.callbacks.run_dir_lock`` (``conf/radiomics.yaml``) declares the same.
RUN_FOLDER: dict[str, Any] = {
    "outputs": ("*.csv", "*.parquet", "*.json", "report.md", "report.html", "figures", "phantom", "seeds"),
    "fresh": True, "keep": ("seeds",)}


def default_cache_dir() -> Path:
    """``.cache/radiomics`` under the current working directory (absolute)."""
    return (Path.cwd() / ".cache" / "radiomics").resolve()


@claims_run_folder("out_dir", "radiomics", **RUN_FOLDER)
def run_study(
    study: str | Path, out_dir: Path, *, n_jobs: int = -1, cache_dir: str | Path | None = None,
    seed: int = 0, shard: tuple[int, int] | None = None, progress: bool = True,
    image_budget: int = IMAGE_BUDGET, **options: Any,
) -> StudyResult:
    """Run a radiomics robust-feature study end to end.

    Args:
        study: a study YAML path or a bundled study name.
        out_dir: where every output goes (created; claimed: locked, refused when it holds
            another app's run or other files, cleared of an earlier run's outputs).
        n_jobs: extraction workers (-1: all cores).
        cache_dir: the extraction cache (default: ``.cache/radiomics`` in the working dir);
            finished analyses are kept in its ``analyses`` folder, image-file checks in
            ``checked_files``.
        seed: seeds the texture test's shuffling.
        shard: ``(i, n)``: extract only the i-th of n shares of the work items; the analysis
            runs when every item is in the cache, otherwise the result lists missing shards.
        progress: show progress bars.
        image_budget: the most voxel bytes an image file may declare in its header, at least
            1; a larger one is refused before it is read (default 2 GiB; the config key
            ``image_budget``).
        **options: the fields of :class:`Options`.

    Returns:
        :class:`StudyResult`.

    Raises:
        StudyError: on invalid input, before any extraction.
    """
    opts = Options.from_kwargs(options)
    check_value(image_budget, PositiveInt, "image_budget")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    loaded = load_study(study)
    if opts.threshold is not None:
        loaded = dataclasses.replace(loaded, threshold=float(opts.threshold))
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    validated = validate_study(loaded, opts.geometry_tolerance,
                               verdicts=cache_root / "checked_files", image_budget=image_budget)
    shuffled = texture_targets(loaded, opts.texture_acquisitions) if opts.texture else []
    cache = FeatureCache(cache_root)
    analyses = AnalysisCache(cache.root / "analyses")
    items = work_items(validated, shuffle=shuffled, seed=seed)
    record: dict[str, Any] = {"study": str(loaded.path), "cache_dir": str(cache.root),
                              "n_jobs": n_jobs, "seed": seed, "pyradiomics": pyradiomics_version(),
                              "options": dataclasses.asdict(opts), "n_items": len(items)}
    key = analysis_key(validated, items, opts, shuffled)
    if shard is None and all(cache.contains(it.key) for it in items):
        restored = _restore(analyses, key, out_dir, record, len(items), loaded.name)
        if restored is not None:
            restored.warnings = list(validated.warnings)
            return restored
    payloads = _extract(items, cache, out_dir, record, n_jobs, shard, progress,
                        validated.extractors)
    if payloads is None:
        return StudyResult(out_dir=out_dir, complete=False, counts=record["counts"],
                           missing_shards=record["missing_shards"])
    from robustlab.radiomics.study_analysis import analyse, write_outputs

    result = analyse(validated, items, payloads, out_dir, opts, record["counts"], shuffled)
    write_outputs(study=validated.study, result=result, report=opts.report)
    if all(payloads.get(it.key) is not None for it in items):
        _store(analyses, key, result)
    return result


def _store(analyses: AnalysisCache, key: str, result: StudyResult) -> None:
    """Keep the finished analysis for a rerun. Every output is written by now: a cache that
    cannot take it (full, read-only) is a warning, not a failed run."""
    try:
        analyses.put(key, result)
    except OSError as exc:
        target = exc.filename2 or exc.filename or analyses.root  # a copy's: the file it wrote
        where = f" (writing it on {file_system(Path(target).parent)})" \
            if exc.errno in FILE_SYSTEM_ERRORS and "file system" not in str(exc.strerror) else ""
        log.warning("the finished analysis was not stored in the cache (%s: %s%s); every output "
                    "is in %s, and a rerun will compute the analysis again", target,
                    exc.strerror or exc, where, result.out_dir)


def _restore(analyses: AnalysisCache, key: str, out_dir: Path, record: dict[str, Any], n_items: int,
             name: str) -> StudyResult | None:
    """The stored analysis ``key`` copied into ``out_dir``, or None when there is none."""
    stored = analyses.get(key, out_dir)
    if stored is None:
        return None
    counts = {"cached": n_items, "extracted": 0, "failed": 0}
    write_json(out_dir / "extraction.json", {**record, "counts": counts, "analysis": "restored"})
    log.info("%s: every ROI cached and the analysis unchanged: outputs restored into %s", name, out_dir)
    return StudyResult(out_dir=out_dir, counts=counts, restored=True, **stored)


def _extract(items: Sequence[WorkItem], cache: FeatureCache, out_dir: Path, record: dict[str, Any],
             n_jobs: int, shard: tuple[int, int] | None, progress: bool,
             checked: Mapping[Any, Any]) -> Mapping[str, dict[str, Any] | None] | None:
    """Extract (all items, or one shard's), record it in ``extraction.json``; the payloads.

    None when a shard finished but other shards' items are not in the cache yet
    (``record["missing_shards"]`` names them).
    """
    if shard is not None:
        mine = shard_items(items, shard)
        counts, _ = extract(mine, cache, n_jobs=n_jobs, progress=progress, checked=checked)
        missing = sorted({j % shard[1] for j, it in enumerate(items) if not cache.contains(it.key)})
        record.update(shard=f"{shard[0]}/{shard[1]}", shard_items=len(mine), counts=counts,
                      missing_shards=missing)
        write_json(out_dir / "extraction.json", record)
        if missing:
            log.info("shard %d/%d: %s; waiting for shard(s) %s before the analysis",
                     shard[0], shard[1], counts, ", ".join(f"{m}/{shard[1]}" for m in missing))
            return None
        return {it.key: cache.get(it.key) for it in items}
    counts, payloads = extract(items, cache, n_jobs=n_jobs, progress=progress,
                               warm_up=_import_analysis, checked=checked)
    record["counts"] = counts
    write_json(out_dir / "extraction.json", record)
    return payloads


def _import_analysis() -> None:
    """Import what the analysis needs (while the extraction workers start on their first ROIs)."""
    import pyarrow.parquet  # noqa: F401 - the tables written after the analysis
    import scipy.special  # noqa: F401 - the confidence intervals' quantiles (common.stats)

    import robustlab.radiomics.study_analysis  # noqa: F401
