#!/usr/bin/env python
"""How far the digital phantom predicts the phantom study: its validity report.

    python scripts/validate_phantom.py --seeds 101-120 --jobs 2 --out outputs/validity

Simulates the ``paper`` protocol's published groups at checking seeds (``--seeds``; the fit
used seeds 1-8, the shipped calibration table seeds 1-20; seed folders under ``--runs``, resumable, shared with
``scripts/calibrate_phantom.py --out`` when they name the same folder) and sets them beside real
data:

- training (``--data``, the study's released repeatability features, by default
  ``../shared/data/radiomics/phantomstudy`` beside the checkout): the fixed-position and
  repositioned repeats of each scanner and the field strengths, analysed from the released
  per-ROI features with the pipeline (real per-feature verdicts);
- test (``--test``, optional, outside the project): ``<comparison>.excellent.txt`` lists of the
  features a comparison's real data finds excellent (e.g. ``between_vendors.excellent.txt`` from
  the study's per-feature CCC table), and the repository's TE and TR feature files in its layout
  (``RadiomicFiles/CCU1_5T_TE_TR/T2wAX_TE<ms>_clean.csv``, ``T2wAX_TE100 Range_clean.csv``),
  analysed like the training files into the eight TE pairs' and the TR change's real verdicts;
  and, for every test group, the published share of the protocol (the TE pairs' lowest and
  highest, the TR change, the vendors).

Writes ``comparisons.csv`` (real share vs simulated median and 5-95 %, interval width beside the
binomial width), ``cells.csv`` (per feature class and image type), ``features.csv`` (per
comparison: AUC and Brier of the simulated probability, of the base rate and of the other
comparisons' real verdicts), ``published.csv`` (the published figures) and ``validity.md``,
which states each validity target and whether it is met; with ``--write``, the targets also go
to ``robustlab/radiomics/phantom/calibration/paper_validity.csv``, which a study plan's report
quotes.
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
    from robustlab.radiomics.phantom.released import excellent_lists, heldout_study, training_study
    from robustlab.radiomics.pipeline import run_study

    columns = ["comparison", "group", "feature", "image_type", "feature_class", "excellent"]

    def analysed(study: Path, name: str) -> Any:
        return run_study(study, work / name, n_jobs=1, cache_dir=work / "cache", progress=False,
                         texture=False, report=False)

    result = analysed(training_study(data, work / "training_study.yaml"), "training")
    per_feature = result.per_feature[columns]
    features = per_feature.drop_duplicates("feature")[["feature", "image_type", "feature_class"]]
    frames = [per_feature]
    tested = heldout_study(test, work / "test_study.yaml") if test is not None else None
    if tested is not None:  # the TE series and the TR change from their released feature files
        frames.append(analysed(tested, "test").per_feature[columns])
    for comparison, names in (excellent_lists(test) if test is not None else {}).items():
        unknown = names - set(features["feature"])
        if unknown:
            raise DataError(f"{test}/{comparison}.excellent.txt: unknown feature {sorted(unknown)[0]!r}")
        frames.append(features.assign(comparison=comparison, group=comparison,
                                      excellent=features["feature"].isin(names)))
    return pd.concat(frames, ignore_index=True), result.summary


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def check_rows(comparisons: Any, cells: Any, scores: Any, published: Any) -> list[dict[str, Any]]:
    """The validity targets, one row each: ``target``, the ``measured`` figures, ``met``."""
    train = comparisons[comparisons["split"] == "training"]
    close = train["median_off"].abs() <= 3
    tr = cells[cells["split"] == "training"]
    test = published[~published["group"].isin(TRAINING_GROUPS)]
    fixed = comparisons[comparisons["comparison"].str.startswith("repeat_fixed")]
    rows = [
        {"target": "training: every comparison inside its 5-95 % interval, median within 3 points",
         "measured": f"{int(train['inside'].sum())} of {len(train)} inside; {int(close.sum())} of {len(train)} "
                     "medians within 3 points",
         "met": bool(train["inside"].all() and close.all())},
        {"target": f"training: per-class and per-image-type cells inside, at least {CELL_TARGET:.1%}",
         "measured": f"{int(tr['inside'].sum())} of {len(tr)} (feature class "
                     f"{int(tr.loc[tr['by'] == 'feature_class', 'inside'].sum())}, image type "
                     f"{int(tr.loc[tr['by'] == 'image_type', 'inside'].sum())}); over every comparison with "
                     f"real verdicts {int(cells['inside'].sum())} of {len(cells)}",
         "met": bool(tr["inside"].mean() >= CELL_TARGET)},
        {"target": "test: published figures inside their intervals",
         "measured": f"{int(test['inside'].sum())} of {len(test)}", "met": bool(test["inside"].all())},
    ]
    for row in scores.itertuples():
        rows.append({"target": f"{row.comparison}: per-feature AUC at least 0.80, Brier no worse than the base rate",
                     "measured": f"AUC {row.auc:.2f} (others' verdicts {row.auc_others:.2f}), Brier {row.brier:.3f} "
                                 f"(base rate {row.brier_base_rate:.3f}, others' verdicts {row.brier_others:.3f})",
                     "met": bool(row.auc >= 0.8 and row.brier <= row.brier_base_rate)})
    rows.append({"target": "fixed-position repeat intervals at most 3x the binomial width",
                 "measured": ", ".join(f"{r.comparison} {r.width:.1f} vs {r.binomial_width:.1f} points "
                                       f"({r.width_ratio:.1f}x)" for r in fixed.itertuples()),
                 "met": bool((fixed["width_ratio"] <= 3).all())})
    return rows


def check_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The targets as Markdown list items with ``met``/``MISSED``."""
    return [f"- {r['target']}: {r['measured']} ({_mark(r['met'])})" for r in rows]


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
    parser.add_argument("--write", action="store_true",
                        help="write the targets table shipped with the package (the planner quotes it)")
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
    rows = check_rows(tables["comparisons"], tables["cells"], tables["features"], tables["published"])
    lines = check_lines(rows)
    seeds = args.seeds
    listed = f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ",".join(map(str, seeds))
    header = (f"# Validity of the digital phantom\n\nSeeds {listed} ({len(folders)} seeds), "
              f"{real['feature'].nunique()} features; {time.perf_counter() - start:.0f} s wall.")
    write_report(args.out, tables, lines, header)
    if args.write:  # the targets the planner's report quotes
        import pandas as pd

        from robustlab.common.io import write_table
        from robustlab.radiomics.phantom.calibration import validity_path

        write_table(pd.DataFrame(rows).assign(seeds=listed), validity_path("paper").with_suffix(""), ("csv",))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
