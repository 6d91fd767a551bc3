"""Command-line start-up: ``robustlab-radiomics --help`` against ``pyradiomics --help``.

Whole processes, in interleaved pairs (ours first in even pairs, theirs first in odd ones), so
that the slow and fast spells of a shared machine fall on both alike; the ratio is the median
of the pairs' ratios (target <= 2). ``robustlab-prune --help`` is timed in the same pairs
against the same baseline; ``robustlab-radiomics --cfg job`` (Hydra composes the config and
prints it, nothing is run) is reported beside them.

Run: ``python bench/bench_startup.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from targets import exit_status, row, verdict

BIN = Path(sys.executable).parent


def wall(command: list[str]) -> float:
    """Seconds a fresh process ``command`` takes, start to exit (its output discarded)."""
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def interleaved(ours: list[str], theirs: list[str], repeats: int) -> tuple[list[float], list[float]]:
    """``repeats`` pairs of (ours, theirs) wall times, the order alternating pair by pair."""
    a, b = [], []
    wall(ours), wall(theirs)  # warm the file cache of both before the first pair
    for r in range(repeats):
        if r % 2 == 0:
            a.append(wall(ours))
            b.append(wall(theirs))
        else:
            b.append(wall(theirs))
            a.append(wall(ours))
    return a, b


def report(what: str, ours: list[float], theirs: list[float], baseline: str, target: float) -> None:
    ratios = [x / y for x, y in zip(ours, theirs, strict=True)]
    ratio = float(np.median(ratios))
    met = verdict(f"{what} within {target:g}x of {baseline}", ratio <= target)
    print(f"{what}: ours median {np.median(ours):.3f} s (runs {', '.join(f'{v:.3f}' for v in ours)}); "
          f"{baseline} median {np.median(theirs):.3f} s (runs {', '.join(f'{v:.3f}' for v in theirs)}); "
          f"ratio median {ratio:.2f} (pairs {', '.join(f'{v:.2f}' for v in ratios)}; target <= {target:g}) {met}")
    row(what, f"{np.median(ours):.3f} s", f"{baseline} {np.median(theirs):.3f} s", ratio,
        f"<= {target:g} {met}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved pairs")
    args = parser.parse_args()
    theirs = [str(BIN / "pyradiomics"), "--help"]
    for app, target in (("robustlab-radiomics", 2.0), ("robustlab-prune", 2.0)):
        ours, base = interleaved([str(BIN / app), "--help"], theirs, args.repeats)
        report(f"{app} --help", ours, base, "pyradiomics --help", target)
    cfg = [wall([str(BIN / "robustlab-radiomics"), "--cfg", "job"]) for _ in range(args.repeats)]
    print(f"robustlab-radiomics --cfg job (Hydra composes and prints): median {np.median(cfg):.3f} s "
          f"(runs {', '.join(f'{v:.3f}' for v in cfg)})")


if __name__ == "__main__":
    main()
    raise SystemExit(exit_status())
