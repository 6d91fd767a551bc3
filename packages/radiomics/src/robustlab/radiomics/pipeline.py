"""The robust-feature pipeline as one library call: :func:`run_study`.

validate the study -> extract (cached, parallel, optionally one shard) -> feature tables ->
comparisons (ICC/CCC) -> shape dependence and texture test -> robust list -> outputs and report.
A rerun of an unchanged study with every feature cached restores the stored analysis
(:mod:`robustlab.radiomics.analysis_cache`) instead of computing it again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustlab.common.io import write_json, write_table
from robustlab.radiomics.agreement import band_counts, roi_sizes, wcv_by_size
from robustlab.radiomics.analysis import compare
from robustlab.radiomics.analysis_cache import AnalysisCache, analysis_key
from robustlab.radiomics.cache import FeatureCache
from robustlab.radiomics.extract import (
    WorkItem,
    extract,
    pyradiomics_version,
    shard_items,
    work_items,
)
from robustlab.radiomics.features import tidy_table, wide_table
from robustlab.radiomics.integrity import check_enough_rois
from robustlab.radiomics.report import write_report
from robustlab.radiomics.results import OUTPUT_TABLES, Options, StudyResult
from robustlab.radiomics.selection import (
    select_features,
    shape_correlated_excellent,
    shape_dependence,
    shape_only,
    shape_only_summary,
    texture_test,
)
from robustlab.radiomics.statistics import get_statistic
from robustlab.radiomics.study import (
    Study,
    StudyError,
    ValidatedStudy,
    check_same_columns,
    load_study,
    validate_study,
)

log = logging.getLogger(__name__)
FAILURE_COLUMNS = ["acquisition", "roi", "perturbation", "image", "mask", "error"]
SHAPE_ONLY_COLUMNS = ["n_non_shape", "n_shape_only", "pct_shape_only", "n_shape_only_excellent",
                      "n_shape_with_texture", "pct_shape_with_texture", "n_shape_correlated_excellent",
                      "pct_shape_correlated_excellent"]


def default_cache_dir() -> Path:
    """``.cache/radiomics`` under the current working directory (absolute)."""
    return (Path.cwd() / ".cache" / "radiomics").resolve()


def texture_targets(study: Study, chosen: Sequence[str] | None) -> list[str]:
    """The acquisitions of the texture test (validated: image acquisitions of the study)."""
    if chosen is not None:
        for aid in chosen:
            if aid not in study.acquisitions:
                raise StudyError(f"texture_acquisitions: unknown acquisition {aid!r}")
            if not study.acquisitions[aid].is_image:
                raise StudyError(f"texture_acquisitions: {aid!r} is a feature CSV; the texture "
                                 "test needs its image")
        return list(chosen)
    first: dict[Any, str] = {}
    for cmp in study.comparisons:
        for aid in cmp.members:
            acq = study.acquisitions[aid]
            if acq.is_image and acq.settings not in first:
                first[acq.settings] = aid
    return list(first.values())


def run_study(
    study: str | Path, out_dir: Path, *, n_jobs: int = -1, cache_dir: str | Path | None = None,
    seed: int = 0, shard: tuple[int, int] | None = None, progress: bool = True, **options: Any,
) -> StudyResult:
    """Run a radiomics robust-feature study end to end.

    Args:
        study: a study YAML path or a bundled study name.
        out_dir: where every output goes (created).
        n_jobs: extraction workers (-1: all cores).
        cache_dir: the extraction cache (default: ``.cache/radiomics`` in the working dir);
            finished analyses are kept in its ``analyses`` folder, image-file checks in
            ``checked_files``.
        seed: seeds the texture test's shuffling.
        shard: ``(i, n)``: extract only the i-th of n shares of the work items; the analysis
            runs when every item is in the cache, otherwise the result lists missing shards.
        progress: show progress bars.
        **options: the fields of :class:`Options`.

    Returns:
        :class:`StudyResult`.

    Raises:
        StudyError: on invalid input, before any extraction.
    """
    opts = Options.from_kwargs(options)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    loaded = load_study(study)
    if opts.threshold is not None:
        loaded = dataclasses.replace(loaded, threshold=float(opts.threshold))
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    validated = validate_study(loaded, opts.geometry_tolerance, verdicts=cache_root / "checked_files")
    shuffled = texture_targets(loaded, opts.texture_acquisitions) if opts.texture else []
    cache = FeatureCache(cache_root)
    items = work_items(validated, shuffle=shuffled, seed=seed)
    record: dict[str, Any] = {"study": str(loaded.path), "cache_dir": str(cache.root),
                              "n_jobs": n_jobs, "seed": seed, "pyradiomics": pyradiomics_version(),
                              "options": dataclasses.asdict(opts), "n_items": len(items)}
    analyses = AnalysisCache(cache.root / "analyses")
    key = analysis_key(validated, items, opts, shuffled)
    if shard is None and all(cache.contains(it.key) for it in items):
        restored = _restore(analyses, key, out_dir, record, len(items), loaded.name)
        if restored is not None:
            return restored
    payloads = _extract(items, cache, out_dir, record, n_jobs, shard, progress)
    if payloads is None:
        return StudyResult(out_dir=out_dir, complete=False, counts=record["counts"],
                           missing_shards=record["missing_shards"])
    result = analyse(validated, items, payloads, out_dir, opts, record["counts"], shuffled)
    write_outputs(study=validated.study, result=result, report=opts.report)
    if all(payloads.get(it.key) is not None for it in items):
        analyses.put(key, result)
    return result


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
             n_jobs: int, shard: tuple[int, int] | None, progress: bool
             ) -> dict[str, dict[str, Any] | None] | None:
    """Extract (all items, or one shard's), record it in ``extraction.json``; the payloads.

    None when a shard finished but other shards' items are not in the cache yet
    (``record["missing_shards"]`` names them).
    """
    if shard is not None:
        mine = shard_items(items, shard)
        counts, _ = extract(mine, cache, n_jobs=n_jobs, progress=progress)
        missing = sorted({j % shard[1] for j, it in enumerate(items) if not cache.contains(it.key)})
        record.update(shard=f"{shard[0]}/{shard[1]}", shard_items=len(mine), counts=counts,
                      missing_shards=missing)
        write_json(out_dir / "extraction.json", record)
        if missing:
            log.info("shard %d/%d: %s; waiting for shard(s) %s before the analysis",
                     shard[0], shard[1], counts, ", ".join(f"{m}/{shard[1]}" for m in missing))
            return None
        return {it.key: cache.get(it.key) for it in items}
    counts, payloads = extract(items, cache, n_jobs=n_jobs, progress=progress)
    record["counts"] = counts
    write_json(out_dir / "extraction.json", record)
    return payloads


def collect(items: Sequence[WorkItem], payloads: Mapping[str, dict[str, Any] | None]) -> tuple[
        dict[str, pd.DataFrame], dict[str, pd.DataFrame], pd.DataFrame]:
    """Turn the items' payloads into wide tables (original, shuffled) and a failure table."""
    rows: dict[tuple[bool, str], dict[str, dict[str, float]]] = {}
    failures = []
    for it in items:
        payload = payloads.get(it.key)
        perturbation = "" if it.shuffle_seed is None else f"shuffle:{it.shuffle_seed}"
        if payload is None or "error" in payload:
            error = "not in the cache (corrupt or missing entry)" if payload is None else payload["error"]
            failures.append({"acquisition": it.acquisition, "roi": it.roi,
                             "perturbation": perturbation, "image": str(it.image),
                             "mask": str(it.mask), "error": error})
            continue
        rows.setdefault((it.shuffle_seed is not None, it.acquisition), {})[it.roi] = payload["features"]
    tables: dict[bool, dict[str, pd.DataFrame]] = {False: {}, True: {}}
    for (perturbed, aid), per_roi in rows.items():
        tables[perturbed][aid] = _wide(per_roi)
    failure_table = pd.DataFrame(failures, columns=FAILURE_COLUMNS)
    return tables[False], tables[True], failure_table


def _wide(per_roi: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """One acquisition's payloads as a wide table (one row per ROI, pyradiomics' column order)."""
    first = next(iter(per_roi.values()))
    columns = list(first)
    if all(list(f) == columns for f in per_roi.values()):  # the usual case: one array build
        values = np.array([list(f.values()) for f in per_roi.values()], dtype=np.float64)
        return pd.DataFrame(values, columns=pd.Index(columns, dtype=object),
                            index=pd.Index(list(per_roi), name="roi"))
    table = pd.DataFrame.from_dict(per_roi, orient="index").astype("float64")
    table.index.name = "roi"
    return table


def analyse(
    validated: ValidatedStudy, items: Sequence[WorkItem],
    payloads: Mapping[str, dict[str, Any] | None], out_dir: Path,
    opts: Options, counts: Mapping[str, int], shuffled: Sequence[str],
) -> StudyResult:
    """Everything after extraction, computed (nothing written; see :func:`write_outputs`).

    Returns:
        The :class:`StudyResult` of the study: feature tables, comparisons, selection.
    """
    study = validated.study
    original, perturbed, failures = collect(items, payloads)
    for aid in study.acquisitions:
        if study.acquisitions[aid].is_image and aid not in original:
            original[aid] = pd.DataFrame(index=pd.Index([], name="roi"), dtype="float64")
    tables = {**original, **validated.tables}
    tables = {aid: tables[aid] for aid in study.acquisitions}
    for cmp in study.comparisons:
        for _, members in cmp.units():
            usable = [m for m in members if tables[m].shape[1]]
            for other in usable[1:]:
                check_same_columns(tables[usable[0]], tables[other], usable[0], other,
                                   f"{study.path.name}: comparison {cmp.name!r}")
    try:
        check_enough_rois(study.comparisons, tables, validated.rois, failures,
                          {c.statistic: get_statistic(c.statistic).min_rois for c in study.comparisons},
                          study.path.name)
    except StudyError:
        write_table(failures, out_dir / "failures", ("csv",))  # what the error points to
        raise
    per_feature, summary = compare(study.comparisons, tables, study.threshold, opts.alpha, opts.bands)
    _describe_comparisons(study, summary, failures)
    select_on = list(opts.select_on) if opts.select_on is not None else [c.name for c in study.comparisons]
    unknown = [s for s in select_on if s not in set(per_feature["comparison"])]
    if unknown:
        raise StudyError(f"select_on: unknown comparison(s) {unknown}; "
                         f"known: {sorted(set(per_feature['comparison']))}")
    selection, shape, texture, shape_only_figures = select_by_family(
        study, tables, original, perturbed, per_feature, select_on, shuffled, opts)
    figures = shape_only_figures.set_index("family")
    for column in SHAPE_ONLY_COLUMNS:
        summary[column] = summary["family"].map(figures[column]).astype(np.float64)
    robust = selection[selection["robust"]].drop(columns=["robust", "reason"]).reset_index(drop=True)
    by_size = wcv_by_size(study.comparisons, tables, roi_sizes(tables, validated.voxels),
                          opts.size_groups, opts.alpha)
    tidy = tidy_table(tables, {aid: acq.settings.label if acq.settings is not None else "feature table"
                               for aid, acq in study.acquisitions.items()})
    return StudyResult(out_dir=out_dir, summary=summary, per_feature=per_feature, robust=robust,
                       selection=selection, features=tidy, failures=failures, shape=shape,
                       texture=texture, features_wide=wide_table(tables), counts=dict(counts),
                       wcv_by_size=by_size, band_counts=band_counts(per_feature))


def _describe_comparisons(study: Study, summary: pd.DataFrame, failures: pd.DataFrame) -> None:
    """Add the summary's ``missing_rois``, ``extraction`` and ``family`` columns (in place)."""
    missing = failures[failures["perturbation"] == ""]
    summary["missing_rois"] = [
        "; ".join(f"{a}:{r}" for a, r in zip(missing["acquisition"], missing["roi"], strict=True)
                  if a in _members(study, name)) for name in summary["comparison"]]
    summary["extraction"] = np.array([_settings_used(study, name) for name in summary["comparison"]],
                                     dtype=object)
    families = {c.name: c.family for c in study.comparisons}
    summary["family"] = np.array([families[n.split("/", 1)[0]] for n in summary["comparison"]],
                                 dtype=object)


def write_outputs(study: Study, result: StudyResult, report: bool = True) -> list[Path]:
    """Write the result's tables (:data:`~robustlab.radiomics.results.OUTPUT_TABLES`) and, with
    ``report``, its figures and report into ``result.out_dir``; set ``result.outputs``."""
    out_dir = result.out_dir
    written: list[Path] = []
    for stem, attribute, formats in OUTPUT_TABLES:
        table = getattr(result, attribute)
        if table is not None:
            written += write_table(table, out_dir / stem, formats)
    if report:
        written += write_report(study, result).values()
    result.outputs = [p.relative_to(out_dir).as_posix() for p in written]
    log.info("%s: %d comparisons, %d robust features of %d; %d failed ROI(s); outputs in %s",
             study.name, len(result.summary), len(result.robust), len(result.selection),
             len(result.failures), out_dir)
    return written


def select_by_family(
    study: Study, tables: Mapping[str, pd.DataFrame], original: Mapping[str, pd.DataFrame],
    perturbed: Mapping[str, pd.DataFrame], per_feature: pd.DataFrame, select_on: Sequence[str],
    shuffled: Sequence[str], opts: Options,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None, pd.DataFrame]:
    """Shape dependence, texture test and robust list of each extraction family on its own.

    A family's features are judged only by its own comparisons, its own acquisitions' shape
    correlations and its own shuffled acquisitions. Returns ``(selection, shape, texture,
    shape-only figures)``, each with a ``family`` column (texture None without a test; the
    figures of :func:`~robustlab.radiomics.selection.shape_only_summary`, NaN without one).
    """
    selections, shapes, textures, rows = [], [], [], []
    for family in study.families:
        cmps = [c for c in study.comparisons if c.family == family]
        names = {c.name for c in cmps}
        members = list(dict.fromkeys(m for c in cmps for m in c.members))
        mine = per_feature[per_feature["comparison"].str.split("/", n=1).str[0].isin(names)]
        shape = shape_dependence({a: tables[a] for a in members}, opts.shape_rho)
        mixed = [a for a in shuffled if a in members and a in original]
        texture = (texture_test({a: original[a] for a in mixed}, perturbed, opts.texture_rtol,
                                opts.texture_atol) if mixed else None)
        chosen = [n for n in select_on if n.split("/", 1)[0] in names]
        selection = select_features(mine, chosen, study.threshold, shape, texture, opts.drop_shape)
        excellent = _excellent_everywhere(mine, chosen)
        verdicts = shape_only(shape, texture)
        figures = {**(shape_only_summary(verdicts, excellent) if texture is not None else {}),
                   **shape_correlated_excellent(shape, excellent)}
        rows.append({"family": family, **{k: figures.get(k, np.nan) for k in SHAPE_ONLY_COLUMNS}})
        for table, out in ((selection, selections), (shape, shapes), (texture, textures)):
            if table is not None:
                out.append(pd.concat([pd.DataFrame({"family": np.full(len(table), family, dtype=object)},
                                                   index=table.index), table], axis=1))
    texture = pd.concat(textures, ignore_index=True) if textures else None
    return (pd.concat(selections, ignore_index=True), pd.concat(shapes, ignore_index=True),
            texture, pd.DataFrame(rows, columns=["family", *SHAPE_ONLY_COLUMNS]))


def _excellent_everywhere(per_feature: pd.DataFrame, select_on: Sequence[str]) -> list[str]:
    """Features excellent in every one of ``select_on`` they appear in."""
    rows = per_feature[per_feature["comparison"].isin(list(select_on))]
    verdict = rows.groupby("feature", sort=False)["excellent"].all()
    return verdict.index[verdict.to_numpy(bool)].tolist()


def _settings_used(study: Study, comparison: str) -> str:
    """Which extraction settings the acquisitions of a comparison used (one label if all agree)."""
    members = _members(study, comparison)
    used = {a: (study.acquisitions[a].settings.label if study.acquisitions[a].settings is not None
                else "feature table") for a in sorted(members)}
    if len(set(used.values())) <= 1:
        return next(iter(used.values()), "")
    return "; ".join(f"{a}: {label}" for a, label in used.items())


def _members(study: Study, comparison: str) -> set[str]:
    base = comparison.split("/", 1)[0]
    for cmp in study.comparisons:
        if cmp.name == base:
            return set(cmp.members)
    return set()
