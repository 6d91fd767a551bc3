#!/usr/bin/env python
"""How far the digital phantom predicts the phantom study: its validity report.

    python scripts/validate_phantom.py --seeds 101-120 --jobs 2 --out outputs/validity

Simulates the ``paper`` protocol's published groups at checking seeds (``--seeds``; the shipped
calibration used seeds 1-20; seed folders under ``--runs``, resumable, shared with
``scripts/calibrate_phantom.py --out`` when they name the same folder) and sets them beside real
data:

- training (``--data``, the study's released repeatability features, by default
  ``../shared/data/radiomics/phantomstudy`` beside the checkout): the fixed-position and
  repositioned repeats of each scanner and the field strengths, analysed from the released
  per-ROI features with the pipeline (real per-feature verdicts);
- test (``--test``, optional, outside the project): ``<comparison>.excellent.txt`` lists of the
  features a comparison's real data finds excellent (e.g. ``between_vendors.excellent.txt`` from
  the study's per-feature CCC table); and, for every test group, the published share of the
  protocol (the TE pairs' lowest and highest, the TR change, the vendors).

Writes ``comparisons.csv`` (real share vs simulated median and 5-95 %, interval width beside the
binomial width), ``cells.csv`` (per feature class and image type), ``features.csv`` (per
comparison: AUC and Brier of the simulated probability, of the base rate and of the other
comparisons' real verdicts), ``published.csv`` (the published figures) and ``validity.md``,
which states each validity target and whether it is met.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Annotated, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibrate_phantom import parse_seeds  # noqa: E402  (the calibration's seed syntax)

#: The released features beside the checkout (``../shared``, as the tests find them).
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "radiomics" / "phantomstudy"
TRAINING_GROUPS = ("repeat_fixed", "repeat_repositioned", "between_field_strengths")
#: The share of training cells whose real share the simulated interval must hold.
CELL_TARGET = 110 / 126


def real_verdicts(data: Path, test: Path | None, work: Path) -> tuple[Any, Any]:
    """Per-feature real verdicts (training from the released files, test from the lists) and
    the training comparisons' summary.

    Raises:
        DataError: a training file is missing, or a test list names a feature the released
            files do not have.
    """
    import pandas as pd

    from robustlab.common.errors import DataError
    from robustlab.radiomics.phantom.released import excellent_lists, training_study
    from robustlab.radiomics.pipeline import run_study

    study = training_study(data, work / "training_study.yaml")
    result = run_study(study, work / "training", n_jobs=1, cache_dir=work / "cache", progress=False,
                       texture=False, report=False)
    per_feature = result.per_feature[["comparison", "group", "feature", "image_type", "feature_class",
                                      "excellent"]]
    features = per_feature.drop_duplicates("feature")[["feature", "image_type", "feature_class"]]
    frames = [per_feature]
    for comparison, names in (excellent_lists(test) if test is not None else {}).items():
        unknown = names - set(features["feature"])
        if unknown:
            raise DataError(f"{test}/{comparison}.excellent.txt: unknown feature {sorted(unknown)[0]!r}")
        frames.append(features.assign(comparison=comparison, group=comparison,
                                      excellent=features["feature"].isin(names)))
    return pd.concat(frames, ignore_index=True), result.summary


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def check_lines(comparisons: Any, cells: Any, scores: Any, published: Any) -> list[str]:
    """The validity targets, one line each, with the measured figures
    and ``met``/``MISSED``."""
    train = comparisons[comparisons["split"] == "training"]
    close = train["median_off"].abs() <= 3
    lines = [f"- training comparisons inside their 5-95 % intervals: {int(train['inside'].sum())} of "
             f"{len(train)}; medians within 3 points: {int(close.sum())} of {len(train)} "
             f"({_mark(bool(train['inside'].all() and close.all()))})"]
    tr = cells[cells["split"] == "training"]
    lines.append(f"- per-class and per-image-type cells inside on the training scans: {int(tr['inside'].sum())} "
                 f"of {len(tr)} (feature class {int(tr.loc[tr['by'] == 'feature_class', 'inside'].sum())}, "
                 f"image type {int(tr.loc[tr['by'] == 'image_type', 'inside'].sum())}; target: at least "
                 f"110 in 126, {CELL_TARGET:.1%}) ({_mark(bool(tr['inside'].mean() >= CELL_TARGET))}); over "
                 f"every comparison with real verdicts {int(cells['inside'].sum())} of {len(cells)}")
    test = published[~published["group"].isin(TRAINING_GROUPS)]
    lines.append(f"- published test figures inside their intervals: {int(test['inside'].sum())} of "
                 f"{len(test)} ({_mark(bool(test['inside'].all()))})")
    for row in scores.itertuples():
        lines.append(f"- {row.comparison}: AUC {row.auc:.2f} (others' verdicts {row.auc_others:.2f}), "
                     f"Brier {row.brier:.3f} (base rate {row.brier_base_rate:.3f}, others' verdicts "
                     f"{row.brier_others:.3f}) ({_mark(row.auc >= 0.8 and row.brier <= row.brier_base_rate)})")
    fixed = comparisons[comparisons["comparison"].str.startswith("repeat_fixed")]
    lines.append("- fixed-position repeat intervals at most 3x the binomial width: "
                 + ", ".join(f"{r.comparison} {r.width:.1f} vs {r.binomial_width:.1f} points "
                             f"({r.width_ratio:.1f}x)" for r in fixed.itertuples())
                 + f" ({_mark(bool((fixed['width_ratio'] <= 3).all()))})")
    return lines


def write_report(out: Path, tables: dict[str, Any], lines: list[str], header: str) -> None:
    """Each table as ``<name>.csv`` and all of them in ``validity.md`` after the targets."""
    from robustlab.common.io import write_table, write_text
    from robustlab.common.report import markdown_table

    for name, table in tables.items():
        write_table(table, out / name, ("csv",))
    body = [header, "", "## Targets", "", *lines, ""]
    for name, table in tables.items():
        body += [f"## {name}", "", markdown_table(table), ""]
    write_text(out / "validity.md", "\n".join(body))


def split_of(names: Any, training: set[str]) -> list[str]:
    """``training`` or ``test`` for each comparison name."""
    return ["training" if c in training else "test" for c in names]


def validity_tables(real: Any, real_summary: Any, folders: list[Path], protocol: dict[str, Any]) -> dict[str, Any]:
    """The report's tables from the real verdicts and the seeds' folders."""
    import pandas as pd

    from robustlab.radiomics.phantom import validity as v
    from robustlab.radiomics.seed_runs import calibration_table, load_seeds

    summary, per_feature = load_seeds(folders, "summary"), load_seeds(folders, "per_feature")
    shares = (real.groupby("comparison")["excellent"].mean() * 100.0).to_dict()
    comparisons = v.share_intervals(summary, shares, int(real["feature"].nunique()))
    training = set(real_summary["comparison"])
    comparisons.insert(1, "split", split_of(comparisons["comparison"], training))
    cells = pd.concat([v.cell_intervals(per_feature, real, by) for by in ("feature_class", "image_type")],
                      ignore_index=True)
    cells.insert(1, "split", split_of(cells["comparison"], training))
    return {"comparisons": comparisons, "published": calibration_table(summary, protocol.get("published") or {}),
            "features": v.feature_scores(per_feature, real), "cells": cells}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from robustlab.common.config import Seed, arg_type
    from robustlab.common.constraints import Interval, NonEmpty, PositiveInt, Unique

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the released training features")
    parser.add_argument("--test", type=Path, default=None, help="real test verdicts (optional)")
    parser.add_argument("--seeds", default=parse_seeds("101-120"), help="checking seeds (default 101-120)",
                        type=arg_type(Annotated[list[Seed], NonEmpty(), Unique()], parse_seeds))
    parser.add_argument("--jobs", type=arg_type(PositiveInt), default=2, help="seeds at once (default 2)")
    parser.add_argument("--nice", type=arg_type(Annotated[int, Interval(0, 19)]), default=10,
                        help="niceness of each seed's process (0-19)")
    parser.add_argument("--runs", type=Path, default=Path("outputs/validity/seeds"), help="seed folders")
    parser.add_argument("--cache", type=Path, default=Path(".cache/radiomics"))
    parser.add_argument("--out", type=Path, default=Path("outputs/validity"))
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"argument --data: {args.data} is not a folder of the released phantom features")
    if args.test is not None and not args.test.is_dir():
        parser.error(f"argument --test: {args.test} is not a folder")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from robustlab.common.errors import RobustlabError
    from robustlab.radiomics.phantom import load_config
    from robustlab.radiomics.seed_runs import published_only, run_seeds

    protocol = published_only(load_config("protocol", "paper"))
    start = time.perf_counter()
    try:  # bad real data is found before any simulation
        real, real_summary = real_verdicts(args.data, args.test, args.out / "real")
    except RobustlabError as exc:
        print(f"validate_phantom.py: error: {exc}", file=sys.stderr)
        return 2
    folders = run_seeds(protocol, load_config("phantom", "pelvic"), args.seeds, args.runs, args.cache.resolve(),
                        {"texture": False}, n_jobs=args.jobs, nice=args.nice, progress=True)
    tables = validity_tables(real, real_summary, folders, protocol)
    lines = check_lines(tables["comparisons"], tables["cells"], tables["features"], tables["published"])
    seeds = args.seeds
    listed = f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ",".join(map(str, seeds))
    header = (f"# Validity of the digital phantom\n\nSeeds {listed} ({len(folders)} seeds), "
              f"{real['feature'].nunique()} features; {time.perf_counter() - start:.0f} s wall.")
    write_report(args.out, tables, lines, header)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
