"""Everything after the extraction: feature tables, comparisons, selection, outputs.

:func:`analyse` turns the extracted payloads of a validated study into a
:class:`~robustlab.radiomics.result.StudyResult` (feature tables -> comparisons (ICC/CCC) ->
shape dependence and texture test -> robust list); :func:`write_outputs` writes its tables and
report. :func:`robustlab.radiomics.pipeline.run_study` calls both.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustlab.common.io import write_table
from robustlab.radiomics.breakdowns import band_counts, roi_sizes, wcv_by_size
from robustlab.radiomics.comparisons import compare
from robustlab.radiomics.extraction.items import WorkItem
from robustlab.radiomics.features import tidy_table, wide_table
from robustlab.radiomics.options import Options
from robustlab.radiomics.report import write_report
from robustlab.radiomics.result import OUTPUT_TABLES, StudyResult
from robustlab.radiomics.selection import (
    select_features,
    shape_correlated_excellent,
    shape_dependence,
    shape_only,
    shape_only_summary,
    texture_test,
)
from robustlab.radiomics.statistics import STATISTICS
from robustlab.radiomics.study import Study, StudyError, ValidatedStudy, check_same_columns
from robustlab.radiomics.study.integrity import check_enough_rois

log = logging.getLogger(__name__)
FAILURE_COLUMNS = ["acquisition", "roi", "perturbation", "image", "mask", "error"]
SHAPE_ONLY_COLUMNS = ["n_non_shape", "n_shape_only", "pct_shape_only", "n_shape_only_excellent",
                      "n_shape_with_texture", "pct_shape_with_texture", "n_shape_correlated_excellent",
                      "pct_shape_correlated_excellent"]


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
                          {c.statistic: STATISTICS.get(c.statistic).min_rois for c in study.comparisons},
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
                          opts.wcv_groups, opts.wcv_group_count, opts.alpha)
    tidy = tidy_table(tables, {aid: acq.settings.label if acq.settings is not None else "feature table"
                               for aid, acq in study.acquisitions.items()})
    return StudyResult(out_dir=out_dir, summary=summary, per_feature=per_feature, robust=robust,
                       selection=selection, features=tidy, failures=failures, shape=shape,
                       texture=texture, features_wide=wide_table(tables), counts=dict(counts),
                       wcv_by_size=by_size, band_counts=band_counts(per_feature),
                       warnings=list(validated.warnings))


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
    """Write the result's tables (:data:`~robustlab.radiomics.result.OUTPUT_TABLES`) and, with
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
             study.name, len(result.table("summary")), len(result.table("robust")),
             len(result.table("selection")), len(result.table("failures")), out_dir)
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
    selections: list[pd.DataFrame] = []
    shapes: list[pd.DataFrame] = []
    textures: list[pd.DataFrame] = []
    rows: list[dict[str, Any]] = []
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
    settings = {a: study.acquisitions[a].settings for a in sorted(members)}
    used = {a: s.label if s is not None else "feature table" for a, s in settings.items()}
    if len(set(used.values())) <= 1:
        return next(iter(used.values()), "")
    return "; ".join(f"{a}: {label}" for a, label in used.items())


def _members(study: Study, comparison: str) -> set[str]:
    base = comparison.split("/", 1)[0]
    for cmp in study.comparisons:
        if cmp.name == base:
            return set(cmp.members)
    return set()
