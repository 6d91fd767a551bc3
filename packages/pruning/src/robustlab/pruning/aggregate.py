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
import json
import sys
from pathlib import Path

import pandas as pd

from robustlab.common.errors import RobustlabError
from robustlab.common.hydra_app import one_line
from robustlab.common.io import write_table
from robustlab.pruning.runs import expand_run_dirs, load_table, read_run_table
from robustlab.pruning.suites import suite_tables
from robustlab.pruning.summary import sweep_summary
from robustlab.pruning.sweep import SWEEP_SPEC
from robustlab.pruning.sweetspot import MIN_PAIRS


def aggregate(sweep_dir: str | Path, n_resamples: int = 2000, alpha: float = 0.05, seed: int = 0,
              ci_method: str = "percentile", holm_scope: str = "curve",
              min_pairs: int = MIN_PAIRS) -> tuple[Path, list[Path], list[str]]:
    """Gather every job's tables under ``<sweep_dir>/aggregate/`` and write the report there.

    Args:
        sweep_dir: a Hydra multirun directory or a single run directory.
        n_resamples: bootstrap resamples of the sweet-spot test.
        alpha: the sweet-spot intervals have level ``1 - alpha``.
        seed: seed of the bootstrap.
        ci_method: ``"percentile"`` or ``"bca"`` (:func:`robustlab.common.stats.bootstrap_ci`).
        holm_scope: ``"curve"`` (Holm per curve) or ``"report"`` (across every test of the report).
        min_pairs: fewest finite (dense, sparse) pairs for a step to be tested.

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
        raise FileNotFoundError(f"no job under {sweep_dir} has results (no non-empty metrics.csv in {len(jobs)} job(s))")
    out = sweep_dir / "aggregate"
    for name in ("metrics", *suite_tables()):
        table = load_table(done, name)
        if not table.empty:
            table["job"] = table.pop("run").map(lambda r: _job_name(Path(r), sweep_dir))
            write_table(_front(table, "job"), out / f"{name}.csv")
    report = write_report(done, out / "report", alpha=alpha, n_resamples=n_resamples, seed=seed, ci_method=ci_method,
                          holm_scope=holm_scope, min_pairs=min_pairs)
    return report, missing, [u for u in map(_unfinished, done) if u]


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
        description="Gather a pruning sweep's jobs, find sweet spots and write one report.")
    parser.add_argument("sweep_dir", type=Path, help="a Hydra multirun directory, or a single run directory")
    parser.add_argument("--n-resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate per curve (default 0.05)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    parser.add_argument("--ci-method", choices=("percentile", "bca"), default="percentile",
                        help="bootstrap interval (default percentile)")
    parser.add_argument("--holm-scope", choices=("curve", "report"), default="curve",
                        help="Holm's family: each curve's sparse steps (default) or every test of the report")
    parser.add_argument("--min-pairs", type=int, default=MIN_PAIRS,
                        help=f"fewest images with a finite dense and sparse value for a step to be tested (default {MIN_PAIRS})")
    parser.add_argument("--verbose", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)
    try:
        report, missing, unfinished = aggregate(args.sweep_dir, n_resamples=args.n_resamples, alpha=args.alpha,
                                                seed=args.seed, ci_method=args.ci_method, holm_scope=args.holm_scope,
                                                min_pairs=args.min_pairs)
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


if __name__ == "__main__":
    sys.exit(main())
