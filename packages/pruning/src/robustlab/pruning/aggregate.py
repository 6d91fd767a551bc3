"""`robustlab-prune-aggregate`: gather the jobs of a sweep, find sweet spots, write one report.

Usage::

    robustlab-prune-aggregate multirun/2026-01-01/12-00-00
    robustlab-prune-aggregate outputs/2026-01-01/12-00-00      # a single run directory

Every job (a subfolder with ``.hydra/overrides.yaml``) contributes its ``metrics.csv`` and the
tables of every registered suite (``interpretability``, ``discovery``, ``alignment``...); they are written, each row
carrying its job's overrides as columns, to ``<dir>/aggregate/``, the sweet-spot analysis and
the report go to ``<dir>/aggregate/report/``, jobs without results are listed, and the last
line printed is the report's path.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import pandas as pd

from robustlab.common.config import from_dict
from robustlab.common.errors import RobustlabError
from robustlab.common.hydra_app import one_line
from robustlab.common.io import write_table
from robustlab.common.stats import check_alpha
from robustlab.pruning.runs import expand_run_dirs, load_table, read_run_table, sweet_spot_config
from robustlab.pruning.suites import suite_tables
from robustlab.pruning.summary import sweep_summary
from robustlab.pruning.sweep_folder import SWEEP_SPEC
from robustlab.pruning.sweetspot import HOLM_SCOPES, MIN_PAIRS, SweetSpotOptions


def aggregate(sweep_dir: str | Path, options: SweetSpotOptions | None = None) -> tuple[Path, list[Path], list[str]]:
    """Gather every job's tables under ``<sweep_dir>/aggregate/`` and write the report there.

    The folder is rebuilt from exactly the jobs present: it is written whole beside the old one
    and then put in its place, so a job removed since the last aggregation leaves no row, table
    or figure behind, and an interrupted aggregation leaves the last complete one.

    Args:
        sweep_dir: a Hydra multirun directory or a single run directory.
        options: the sweet-spot test's settings (default: the ``sweetspot`` section the jobs
            were run with, :func:`robustlab.pruning.runs.sweet_spot_config`, else the defaults).

    Returns:
        ``(report_html, jobs_without_results, unfinished)``: ``unfinished`` describes each job
        that stopped before its last step (``<job> (steps 0-1 of 0-5)``); its finished steps
        are used, paired with its own dense step.

    Raises:
        FileNotFoundError: ``sweep_dir`` holds no job, or no job has results.
        DataError: a job's table is not a comma-separated table (names the file).
    """
    from robustlab.pruning.report import write_report

    sweep_dir = Path(sweep_dir)
    jobs = expand_run_dirs([sweep_dir])
    done = [j for j in jobs if _has_results(j)]
    missing = [j for j in jobs if j not in done]
    if not done:
        raise FileNotFoundError(f"no job under {sweep_dir} has results (no non-empty metrics.csv in "
                                f"{len(jobs)} job(s))")
    options = options or sweet_spot_config(done)
    out, partial = sweep_dir / "aggregate", sweep_dir / ".aggregate.partial"
    shutil.rmtree(partial, ignore_errors=True)
    for name in ("metrics", *suite_tables()):
        table = load_table(done, name)
        if not table.empty:
            table["job"] = table.pop("run").map(lambda r: _job_name(Path(r), sweep_dir))
            write_table(_front(table, "job"), partial / f"{name}.csv")
    report = write_report(done, partial / "report", options)
    _replace(out, partial)
    return out / report.relative_to(partial), missing, [u for u in map(_unfinished, done) if u]


def _replace(out: Path, partial: Path) -> None:
    """Put the folder ``partial`` in the place of ``out`` (the old one moved aside, then removed)."""
    old = out.with_name(".aggregate.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    partial.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _job_name(run: Path, sweep_dir: Path) -> str:
    """A job's folder below the sweep (``<model>-<method>-seed<s>/<overrides>``), or its name."""
    return run.relative_to(sweep_dir).as_posix() if run != sweep_dir else run.name


def _has_results(job: Path) -> bool:
    path = job / "metrics.csv"
    return path.exists() and path.stat().st_size > 0 and len(read_run_table(path, ("step", "sparsity"))) > 0


def _unfinished(job: Path) -> str | None:
    """``<job> (steps 0-1 of 0-5)`` when the job's sweep stopped before its last step."""
    path = job / SWEEP_SPEC
    steps = json.loads(path.read_text()).get("steps") if path.is_file() else None
    done = read_run_table(job / "metrics.csv", ("step",))["step"]
    if not isinstance(steps, int) or int(done.max()) >= steps:
        return None
    return f"{job} (steps {int(done.min())}-{int(done.max())} of 0-{steps})"


def _front(df: pd.DataFrame, col: str) -> pd.DataFrame:
    return df[[col, *[c for c in df.columns if c != col]]]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (argparse)."""
    parser = argparse.ArgumentParser(
        prog="robustlab-prune-aggregate",
        description="Gather a pruning sweep's jobs, find sweet spots and write one report. The test's "
                    "settings default to the sweetspot section the jobs were run with; these options override it.")
    parser.add_argument("sweep_dir", type=Path, help="a Hydra multirun directory, or a single run directory")
    parser.add_argument("--alpha", type=float, help="family-wise error rate of Holm's family (default 0.05)")
    parser.add_argument("--holm-scope", choices=HOLM_SCOPES,
                        help="Holm's family: every test of the report (default) or each curve's sparse steps")
    parser.add_argument("--min-pairs", type=int,
                        help="fewest images with a finite dense and sparse value for a step to be tested "
                             f"(default {MIN_PAIRS})")
    parser.add_argument("--margin", action="append", default=[], metavar="TABLE/METHOD/METRIC=MARGIN",
                        help="practical margin of the metrics a glob matches, in their units or as 'N%%' of the dense "
                             "value (repeatable; default 0.01, or 1%% on unbounded scores)")
    parser.add_argument("--verbose", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)
    try:
        if args.alpha is not None:  # before any run is read
            check_alpha(args.alpha, "--alpha")
        options = _options(args)
        report, missing, unfinished = aggregate(args.sweep_dir, options)
    except (RobustlabError, OSError, ValueError) as err:
        if args.verbose:
            raise
        print(f"robustlab-prune-aggregate: error: {one_line(err)} (--verbose shows the traceback)", file=sys.stderr)
        return 2
    for job in missing:
        print(f"job without results: {job}")
    if unfinished:
        print(f"unfinished runs ({len(unfinished)}), their finished steps used: {', '.join(unfinished)}")
    print(sweep_summary(args.sweep_dir / "aggregate"))
    print(f"aggregated tables: {args.sweep_dir / 'aggregate'}")
    print(report)
    return 0


def _options(args: argparse.Namespace) -> SweetSpotOptions | None:
    """The test's settings from the command line over the jobs' (None: the jobs' own)."""
    given = {k: v for k, v in (("alpha", args.alpha), ("holm_scope", args.holm_scope),
                               ("min_pairs", args.min_pairs)) if v is not None}
    if args.margin:
        given["margin"] = dict(item.rpartition("=")[::2] for item in args.margin)
    if not given:
        return None
    base = sweet_spot_config(expand_run_dirs([args.sweep_dir]))
    margin = {**(base.margin or {}), **given.pop("margin", {})}
    return from_dict(SweetSpotOptions, {**dataclasses.asdict(base), **given, "margin": margin}, "sweetspot")


if __name__ == "__main__":
    sys.exit(main())
