"""The study planner: how many features will survive a design, before any scan is made.

A *design* is a study file without images: the phantom protocol's format
(``conf/radiomics/protocol/paper.yaml``) reduced to what a study designer chooses. It names
``scanners`` (a bundled scanner, ``{base: <bundled>, ...overrides}``, or a path to the user's
own scanner file, relative to the design), ``acquisitions`` (scanner, session, TE, TR, mode,
...) and ``comparisons``; every other protocol key (ROI plan, noise, repositioning, parameter
files, threshold) defaults to the ``paper`` protocol's, and ``phantom`` names the phantom
(default ``pelvic``). :func:`plan` simulates the design on the digital phantom at each of N
seeds (:func:`robustlab.radiomics.seed_runs.run_seeds`, in parallel) and summarises the spread:

- ``plan_comparisons.csv``: per comparison, the expected share of excellent features (median
  over seeds) with its 90 % interval (5th to 95th percentile);
- ``plan_by_type.csv``: the same per comparison and image type, and per feature class;
- ``plan_features.csv``: per family and feature, the probability (share of seeds) that it is
  robust (excellent in every comparison, not shape-dependent, not texture-blind) and that it
  is excellent in each comparison;
- ``plan_robust.csv``: per family, the robust list's size: median and 90 % interval;
- ``figures/plan_intervals.png`` and ``report.md`` / ``report.html``.

How far to trust it: the simulator's calibration against the published study and its validity
against the study's released features (the report quotes the shipped validity targets,
:func:`trust_blocks`) and the effects it models are the limits of the answer.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd

from robustlab.common import safe_yaml
from robustlab.common.config import Seed, checked_arguments
from robustlab.common.constraints import NonEmpty, PositiveInt, Unique
from robustlab.common.io import write_table
from robustlab.common.report import (
    Block,
    Document,
    Figure,
    Heading,
    Paragraph,
    Table,
    pyplot,
    save_figure,
)
from robustlab.common.runfolder import claims_run_folder
from robustlab.radiomics.errors import StudyError
from robustlab.radiomics.pipeline import RUN_FOLDER
from robustlab.radiomics.study.schema import DesignKeys, bind, bind_comparison

#: The seeds of a plan: at least one, each once.
Seeds = Annotated[Sequence[Seed], NonEmpty(), Unique()]
#: Protocol keys a design may leave out (taken from the ``paper`` protocol).
DEFAULTED = ("scale", "threshold", "extraction", "extraction_3d", "roi", "noise", "repositioning",
             "acquisition_defaults")


def load_design(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A design file as ``(protocol, phantom)`` plain dicts (defaults from the ``paper`` protocol).

    Its keys are checked against their declared constraints
    (:class:`~robustlab.radiomics.study.schema.DesignKeys`), and its comparisons as a study
    file's are, each naming acquisitions of the design, none twice.

    Raises:
        StudyError: naming the design file and the key at fault.
    """
    from robustlab.radiomics.phantom import load_config

    path = Path(path).expanduser().resolve()
    raw = _read_yaml(path)
    keys = bind(DesignKeys, raw, f"design {path}")
    paper = load_config("protocol", "paper")
    protocol = {**{k: copy.deepcopy(paper[k]) for k in DEFAULTED}, "name": path.stem,
                **{k: v for k, v in raw.items() if k != "phantom"}}
    protocol["scanners"] = {k: _scanner(v, path, k) for k, v in keys.scanners.items()}
    _check_scanners_used(keys.acquisitions, keys.scanners, path)
    try:
        phantom = load_config("phantom", keys.phantom)
    except ValueError as exc:  # an unknown name, with the close ones
        raise StudyError(f"design {path}: phantom: {exc}") from None
    _check_comparisons(keys.comparisons, keys.acquisitions, path)
    # a key written null is a key not given (the simulator reads what is there)
    protocol["comparisons"] = [{k: v for k, v in c.items() if v is not None}
                               for c in keys.comparisons]
    return protocol, phantom


def _check_scanners_used(acquisitions: Mapping[str, Mapping[str, Any]], scanners: Mapping[str, Any],
                         design: Path) -> None:
    """Each acquisition's ``scanner``, where given, names a scanner of the design."""
    from robustlab.radiomics.study.bundled import unknown

    for aid, spec in acquisitions.items():
        scanner = spec.get("scanner")
        if "scanner" in spec and (not isinstance(scanner, str) or scanner not in scanners):
            raise StudyError(f"design {design}: acquisitions.{aid}.scanner: "
                             + unknown("scanner", str(scanner), sorted(scanners)))


def _read_yaml(path: Path, where: str = "") -> Any:
    """A design or scanner file (:func:`robustlab.common.safe_yaml.load`: UTF-8 YAML, each key
    of a mapping written once, of bounded size), its errors one line naming the file, after
    ``where`` (for a scanner file, the key of the design that names it)."""
    prefix = f"{where}: " if where else ""
    try:
        return safe_yaml.load(path)
    except OSError as exc:
        raise StudyError(f"{prefix or 'design '}{path}: cannot be read "
                         f"({exc.strerror or exc})") from None
    except (safe_yaml.DuplicateKeyError, safe_yaml.YAMLSyntaxError) as exc:
        if not prefix:
            raise
        raise type(exc)(f"{prefix}{exc}") from None


def _check_comparisons(comparisons: list[dict[str, Any]], acquisitions: Mapping[str, Any],
                       design: Path) -> None:
    """The design's comparisons as a study file's are checked
    (:func:`~robustlab.radiomics.study.load.comparison_members`): found before any seed is
    simulated, naming the design file and the comparison."""
    from robustlab.radiomics.study.load import comparison_members

    for i, spec in enumerate(comparisons):
        keys = bind_comparison(spec, f"design {design}", i)[0]
        comparison_members(f"design {design}: comparison {str(keys.name)!r}", keys, acquisitions)


def _scanner(ref: Any, design: Path, key: str) -> Any:
    """A scanner entry; a path (``*.yaml``) is read, relative to the design file."""
    if isinstance(ref, str) and ref.endswith((".yaml", ".yml")):
        file = (design.parent / ref).resolve()
        if not file.is_file():
            raise StudyError(f"design {design}: scanners.{key}: file {file} does not exist")
        data = _read_yaml(file, f"design {design}: scanners.{key}")
        if not isinstance(data, dict):
            raise StudyError(f"design {design}: scanners.{key}: {file} is not a mapping")
        return {"name": file.stem, **data}
    return ref


def check_design(protocol: Mapping[str, Any], phantom: Mapping[str, Any], where: str) -> None:
    """Validate the design as the simulator will (before any seed runs)."""
    from robustlab.radiomics.phantom import checked_plan

    try:
        checked_plan(dict(protocol), dict(phantom), seed=1)
    except ValueError as exc:
        raise StudyError(f"design {where}: {exc}") from None


def interval(values: pd.core.groupby.SeriesGroupBy) -> pd.DataFrame:
    """Median, 5th and 95th percentile of each group (the 90 % interval over seeds)."""
    out = values.quantile([0.5, 0.05, 0.95]).unstack()
    out.columns = ["median", "p5", "p95"]
    return out


def plan_tables(summary: pd.DataFrame, per_feature: pd.DataFrame,
                selection: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The planner's tables from the seeds' ``summary``, ``per_feature`` and ``selection``."""
    n_seeds = summary["seed"].nunique()
    order = list(pd.unique(summary["comparison"]))
    comparisons = interval(summary.groupby("comparison", sort=False)["pct_excellent"]).reindex(order)
    comparisons.insert(0, "n_seeds", n_seeds)
    per_feature = per_feature.assign(pct=100.0 * per_feature["excellent"].astype(np.float64))
    by_type = []
    for by in ("image_type", "feature_class"):
        pct = per_feature.groupby(["seed", "comparison", by], sort=False)["pct"].mean()
        table = interval(pct.groupby(level=[1, 2], sort=False)).rename_axis(["comparison", "value"])
        by_type.append(table.reset_index().assign(by=by))
    by_type_table = pd.concat(by_type, ignore_index=True)[["comparison", "by", "value", "median", "p5", "p95"]]
    excellent = (per_feature.pivot_table(index="feature", columns="comparison", values="pct",
                                         aggfunc="mean", sort=False) / 100.0).add_prefix("p_excellent:")
    robust = selection.groupby(["family", "feature"], sort=False)["robust"].mean().rename("p_robust")
    features = robust.reset_index().merge(excellent.reset_index(), on="feature", how="left")
    sizes = selection.groupby(["family", "seed"], sort=False)["robust"].sum()
    robust_size = interval(sizes.groupby(level=0, sort=False)).rename_axis("family").reset_index()
    robust_size.insert(1, "n_seeds", n_seeds)
    return {"plan_comparisons": comparisons.rename_axis("comparison").reset_index(),
            "plan_by_type": by_type_table,
            "plan_features": features.sort_values(["family", "p_robust"], ascending=[True, False],
                                                  kind="stable").reset_index(drop=True),
            "plan_robust": robust_size}


def figure_intervals(comparisons: pd.DataFrame, path: Path) -> Path:
    """Expected % excellent per comparison: the median and its 90 % interval over seeds."""
    plt = pyplot()
    n = len(comparisons)
    fig, ax = plt.subplots(figsize=(6, max(2.5, 0.3 * n + 1)))
    y = np.arange(n)
    median = comparisons["median"].to_numpy(np.float64)
    err = np.vstack([median - comparisons["p5"].to_numpy(np.float64),
                     comparisons["p95"].to_numpy(np.float64) - median])
    ax.errorbar(median, y, xerr=err, fmt="o", color="#3a6ea5", capsize=3)
    ax.set_yticks(y, comparisons["comparison"], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% excellent features: median and 90 % interval over seeds")
    return save_figure(fig, path)


@checked_arguments("plan")  # before the run folder is claimed
@claims_run_folder("out_dir", "radiomics", **RUN_FOLDER)
def plan(design: str | Path, out_dir: str | Path, *, seeds: Seeds | PositiveInt = 20,
         n_jobs: PositiveInt = 2, cache_dir: str | Path, options: Mapping[str, Any] | None = None,
         progress: bool = True) -> dict[str, pd.DataFrame]:
    """Simulate ``design`` over ``seeds`` (a count: seeds 1..N) and write the plan into ``out_dir``.

    Args:
        design: the design file (see the module docstring).
        out_dir: where the tables, the figure and the report go; the seeds' runs go to
            ``out_dir/seeds`` (resumable).
        seeds: the seeds (each once), or how many (1..N).
        n_jobs: seeds simulated at once.
        cache_dir: the image and feature cache shared by the seeds.
        options: :class:`~robustlab.radiomics.options.Options` of each seed's analysis.
        progress: a line per seed done, with the time left (``progress=false`` on the command
            line: none).

    Returns:
        The tables of :func:`plan_tables`.

    Raises:
        ConfigError: ``seeds`` or ``n_jobs`` out of their declared range.
        StudyError: a bad design (:func:`load_design`, :func:`check_design`).
    """
    from robustlab.radiomics.seed_runs import load_seeds, run_seeds

    protocol, phantom = load_design(design)
    check_design(protocol, phantom, str(design))
    seeds = list(range(1, seeds + 1)) if isinstance(seeds, int) else list(seeds)
    out = Path(out_dir)
    start = time.perf_counter()
    folders = run_seeds(protocol, phantom, seeds, out / "seeds", Path(cache_dir), options,
                        n_jobs=n_jobs, progress=progress)
    tables = plan_tables(*(load_seeds(folders, stem) for stem in ("summary", "per_feature", "selection")))
    for stem, table in tables.items():
        write_table(table, out / stem, ("csv",))
    write_plan_report(out, protocol["name"], tables, len(seeds), time.perf_counter() - start)
    return tables


def write_plan_report(out: Path, name: str, tables: Mapping[str, pd.DataFrame], n_seeds: int,
                      seconds: float) -> None:
    """``report.md`` and ``report.html``: one figure (intervals per comparison), one table."""
    figure = figure_intervals(tables["plan_comparisons"], out / "figures" / "plan_intervals.png")
    robust = tables["plan_robust"]
    lines = [f"{n_seeds} seeds of the digital phantom ({seconds:.0f} s). Each comparison's share "
             "of excellent features: the median over seeds and the 90 % interval (5th to 95th "
             "percentile). Expected robust-list size: " + "; ".join(
                 f"{f}: {m:.0f} [{lo:.0f}, {hi:.0f}]" for f, m, lo, hi in zip(
                     robust["family"], robust["median"], robust["p5"], robust["p95"], strict=True)) + ".",
             "Per image type and feature class: `plan_by_type.csv`; each feature's probability of "
             "being robust: `plan_features.csv`. The simulator's calibration and the effects it "
             "models and lacks limit how far to trust this (below)."]
    blocks: list[Block] = [Paragraph(lines), Heading("Expected % excellent per comparison"),
              Table(tables["plan_comparisons"], fmt=lambda v: f"{v:.1f}"), Figure(figure, "plan_intervals")]
    Document(f"Study plan: {name}", blocks + trust_blocks(), page_title=f"{name}: study plan").write(out)


def trust_blocks() -> list[Block]:
    """"How far to trust it": the validity targets of the ``paper`` protocol against the phantom
    study's released features (``scripts/validate_phantom.py --write``), when shipped."""
    from robustlab.radiomics.phantom.calibration import load_validity

    targets = load_validity("paper")
    if targets is None:
        return []
    met = int(targets["met"].sum())
    return [Heading("How far to trust it"), Paragraph([
        f"The digital phantom against the phantom study's released features (its `paper` protocol at seeds "
        f"{targets['seeds'].iloc[0]}, none of them a fitting seed): {met} of {len(targets)} validity targets "
        "met. A feature's simulated probability is worth what its per-feature AUC and Brier score say; a "
        "design far from the study's scanners and phantom is an extrapolation (docs/reference/phantom.md)."]),
        Table(targets[["target", "measured", "met"]].assign(met=targets["met"].map({True: "met", False: "missed"})))]
