"""Write the figures the docs quote from recorded runs, so that none is typed by hand.

Usage::

    python scripts/docs_figures.py outputs/pruning/synthetic_quick outputs/radiomics/<run>   # rewrite
    python scripts/docs_figures.py --check RUN_DIR...     # exit 1 when a page would change

A RUN_DIR is a pruning sweep (``make pruning``'s folder: its jobs, each with ``metrics.csv``, and
``aggregate/report/sweet_spots_summary.csv``) or a radiomics run (``make radiomics``'s run
directory: ``summary.csv``, ``robust_features.csv``, ``failures.csv``). In the pages of
:data:`PAGES`, the text between ``<!-- figures:NAME:start -->`` and ``<!-- figures:NAME:end -->``
is rewritten by the writer NAME of :data:`WRITERS` from the run of its kind, and ends with where the
figures come from: the command, the run's commit (``run_info.json``; ``+`` when the tree was dirty)
and its date. A region whose kind of run is not given is left as it is. Pages are written
atomically; a second run with the same folders changes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
PAGES = ("docs/index.md", "docs/reference/figures.md")
REGION = re.compile(r"(<!-- figures:(?P<name>[\w-]+):start -->\n)(?P<body>.*?)(<!-- figures:(?P=name):end -->)", re.S)


@dataclass(frozen=True)
class Run:
    """A recorded run: its folder, its kind (``pruning`` or ``radiomics``) and where it came from."""

    path: Path
    kind: str
    source: str  # "`make pruning` at commit abc1234, 2026-12-07"


def provenance(path: Path, command: str) -> str:
    """The command, the commit and the date of the run (``run_info.json`` of it or of a job in it)."""
    info_path = next(iter(sorted(path.rglob("run_info.json"))), None) if not (path / "run_info.json").exists() \
        else path / "run_info.json"
    if info_path is None:
        raise SystemExit(f"docs_figures: no run_info.json in {path}: not a recorded run")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    git = info.get("git") or {}
    commit = str(git.get("commit") or "unknown")[:7] + ("+" if git.get("dirty") else "")
    return f"`{command}` at commit {commit}, {str(info.get('start_time', ''))[:10]}"


def read_run(path: Path) -> Run:
    """The kind of run ``path`` holds, told by its tables."""
    if (path / "summary.csv").is_file() and (path / "robust_features.csv").is_file():
        return Run(path, "radiomics", provenance(path, "make radiomics"))
    if (path / "aggregate" / "report" / "sweet_spots_summary.csv").is_file():
        return Run(path, "pruning", provenance(path, "make pruning"))
    raise SystemExit(f"docs_figures: {path} is neither a pruning sweep with aggregate/ nor a radiomics run")


# ------------------------------------------------------------------------------------ pruning

def job_tables(sweep: Path, name: str) -> pd.DataFrame:
    """Every job's ``<name>.csv`` of the sweep, one frame (its ``model`` column from ``metrics.csv``)."""
    frames = []
    for metrics in sorted(sweep.rglob("metrics.csv")):
        if "aggregate" in metrics.relative_to(sweep).parts:
            continue
        model = str(pd.read_csv(metrics)["model"].iloc[0])
        table = metrics.with_name(f"{name}.csv")
        if table.is_file():
            frames.append(pd.read_csv(table).assign(model=model))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def value(table: pd.DataFrame, model: str, method: str, metric: str, step: int = 0) -> float:
    row = table[(table["model"] == model) & (table["method"] == method) & (table["metric"] == metric)
                & (table["step"] == step)]
    return float(row["mean"].iloc[0]) if len(row) else float("nan")


def pruning_dense(run: Run) -> str:
    """The dense small ResNet's localisation and discovery figures (step 0)."""
    interp, disc = job_tables(run.path, "interpretability"), job_tables(run.path, "discovery")
    metrics = job_tables(run.path, "metrics")
    top1 = float(metrics[(metrics["model"] == "resnet_small") & (metrics["step"] == 0)]["top1"].iloc[0])

    def i(method: str, metric: str) -> str:
        return f"{value(interp, 'resnet_small', method, metric):.2f}"

    def d(method: str) -> str:
        return f"{value(disc, 'resnet_small', method, 'corloc'):.2f}"

    return (f"On the procedural data, the dense small ResNet of `make pruning` (step 0, the first 64 "
            f"held-out images, top-1 {top1:.3f}): Grad-CAM pointing game {i('gradcam', 'pointing_game')} "
            f"(Guided Grad-CAM {i('guided_gradcam', 'pointing_game')}; energy pointing game "
            f"{i('gradcam', 'energy_pointing_game')} and {i('guided_gradcam', 'energy_pointing_game')}); "
            f"LOST CorLoc {d('lost')} and TokenCut {d('tokencut')} on the 8x8 `layer2` features against "
            f"{d('centred_box')} for a centred box ({run.source}).")


def pruning_top1(run: Run) -> str:
    """Held-out top-1 against sparsity, one row per model."""
    metrics = job_tables(run.path, "metrics")
    wide = metrics.pivot_table(index="model", columns="step", values="top1", aggfunc="mean")
    sparsity = metrics.groupby("step")["sparsity"].mean()
    head = "| sparsity | " + " | ".join("0" if s == 0 else f"{100 * s:.1f} %" for s in sparsity) + " |"
    lines = [head, "|---" * (len(sparsity) + 1) + "|"]
    for model, row in wide.iterrows():
        lines.append(f"| `{model}` | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    return "\n".join(lines) + f"\n\n({run.source}.)"


def curve_name(row: pd.Series) -> str:
    name = "/".join(str(v) for v in (row["table"], row["method"], row["metric"]) if str(v) not in ("", "nan"))
    level = row.get("level")
    return name + (f" at {level:g}" if pd.notna(level) and float(level) else "")


def pruning_sweet_spots(run: Run) -> str:
    """How many steps were tested and found sweet, per model, then a row per sweet step: its
    dense and sparse value, gain, lower bound at Holm's level and 95 % interval."""
    report = run.path / "aggregate" / "report"
    steps = pd.read_csv(report / "sweet_spots.csv")
    summary = pd.read_csv(report / "sweet_spots_summary.csv")
    tested = steps[steps["testable"].astype(bool)]
    sweet = tested[tested["sweet_spot"].astype(bool)].sort_values(["model", "table", "method", "metric", "step"])
    per_model = "; ".join(f"`{model}` {int((curves['n_sweet'] > 0).sum())} of {len(curves)} curves"
                          for model, curves in summary.groupby("model", sort=True))
    top1 = summary[(summary["table"] == "accuracy") & (summary["metric"] == "top1")]
    clean = "a sweet spot in clean top-1" if (top1["n_sweet"] > 0).any() else "none in clean top-1"
    margins = ", ".join(f"{m:g}" for m in sorted(tested["margin"].unique()))
    scopes = ", ".join(sorted(str(v) for v in tested["holm_scope"].unique()))
    head = (f"Sweet spots found by the aggregate report (`aggregate/report/sweet_spots.csv`; {run.source}): "
            f"{len(sweet)} of {len(tested)} tested steps ({per_model}; {clean}), Holm across the {scopes}, "
            f"each gain's lower bound at Holm's level above its margin of {margins}; "
            f"{int(summary['n_untestable'].sum())} untestable step(s).")
    if sweet.empty:
        return head
    rows = ["| model | curve | sparsity | dense | sparse | gain | lower bound at Holm's level | 95 % interval |",
            "|---|---|---|---|---|---|---|---|"]
    rows += [f"| `{r['model']}` | {curve_name(r)} | {100 * r['sparsity']:.1f} % | {r['dense']:.3f} | "
             f"{r['value']:.3f} | {r['gain']:+.3f} | {r['ci_low_adj']:+.3f} | "
             f"{r['ci_low']:+.3f} to {r['ci_high']:+.3f} |" for _, r in sweet.iterrows()]
    return head + "\n\n" + "\n".join(rows)


# ---------------------------------------------------------------------------------- radiomics

def radiomics_headline(run: Run) -> str:
    """Robust features, failed ROIs and the comparisons of a radiomics run."""
    summary = pd.read_csv(run.path / "summary.csv")
    robust = pd.read_csv(run.path / "robust_features.csv")
    failures = pd.read_csv(run.path / "failures.csv")
    per_family = summary.groupby("family")["n_features"].max()
    failed = "no failed ROI" if failures.empty else f"{len(failures)} failed ROI(s)"
    families = ", ".join(f"{n} in {family}" for family, n in per_family.items())
    return (f"`make radiomics` (the `paper` protocol of the digital phantom, seed 0) ends with {len(robust)} robust "
            f"features of {int(per_family.sum())} ({families}) and {failed} ({run.source}); its report shows, "
            f"for each of the {len(summary)} comparisons, the share of features whose agreement statistic is "
            "excellent (above 0.9):")


def radiomics_between(run: Run) -> str:
    """The share of excellent features between vendors and between field strengths."""
    pct = pd.read_csv(run.path / "summary.csv").set_index("comparison")["pct_excellent"]
    missing = sorted({"between_vendors", "between_field_strengths"} - set(pct.index))
    if missing:
        raise SystemExit(f"docs_figures: {run.path / 'summary.csv'} has no comparison {missing}: "
                         "not a run of the paper protocol")
    return (f"Between vendors ({pct['between_vendors']:.1f} %) and between field strengths "
            f"({pct['between_field_strengths']:.1f} %) few features agree; repeats and echo times 5 ms apart "
            "keep most.")


WRITERS: dict[str, tuple[str, Callable[[Run], str]]] = {
    "pruning-dense": ("pruning", pruning_dense),
    "pruning-top1": ("pruning", pruning_top1),
    "pruning-sweet-spots": ("pruning", pruning_sweet_spots),
    "radiomics-headline": ("radiomics", radiomics_headline),
    "radiomics-between": ("radiomics", radiomics_between),
}


# ---------------------------------------------------------------------------------- the pages

def regions(text: str) -> list[str]:
    """The names of the marked regions of ``text``; an unknown name or an unclosed marker raises."""
    names = [m.group("name") for m in REGION.finditer(text)]
    opened = re.findall(r"<!-- figures:([\w-]+):start -->", text)
    if sorted(opened) != sorted(names) or len(re.findall(r"<!-- figures:[\w-]+:end -->", text)) != len(names):
        raise ValueError(f"unbalanced figures markers: opened {opened}, closed {names}")
    unknown = [n for n in names if n not in WRITERS]
    if unknown:
        raise ValueError(f"unknown figures region(s) {unknown}; known: {sorted(WRITERS)}")
    return names


def rewrite(text: str, runs: dict[str, Run]) -> str:
    """``text`` with every region whose kind of run is given written anew."""
    regions(text)

    def fill(match: re.Match[str]) -> str:
        kind, writer = WRITERS[match.group("name")]
        if kind not in runs:
            return match.group(0)
        text = writer(runs[kind])
        # prose wrapped as the pages are (paragraph by paragraph); tables as they are
        text = "\n\n".join(part if part.lstrip().startswith("|") else textwrap.fill(
            part, width=98, break_long_words=False, break_on_hyphens=False) for part in text.split("\n\n"))
        return f"{match.group(1)}{text}\n{match.group(4)}"

    return REGION.sub(fill, text)


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None, root: Path = REPO) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/docs_figures.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="a make pruning sweep and/or a make radiomics run")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a page would change")
    args = parser.parse_args(argv)
    runs = {run.kind: run for run in map(read_run, args.runs)}
    changed = []
    for page in PAGES:
        path = root / page
        text = path.read_text(encoding="utf-8")
        new = rewrite(text, runs)
        if new != text:
            changed.append(page)
            if not args.check:
                write_atomic(path, new)
    print(("would change: " if args.check else "rewritten: ") + (", ".join(changed) or "nothing"))
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
