"""Procedural data of ``experiment=smoke``: the renderer as it was against the renderer and cache now.

``experiment=smoke`` builds 64 training and 32 evaluation images of 32 px (4 classes) before it
trains for seconds. Three ways, each timed in ``--repeats`` interleaved rounds (the order
rotating each round) in this one process:

- before: torch's own thread count while rendering, memory-only cache (the renderer before the
  rendering threads were limited and the on-disk cache became the default);
- now, cold: rendering with one thread into an empty on-disk cache (a first run);
- now, cached: the same spec again, read from the on-disk cache (every later run).

Target: the data of a smoke run (cached, as every run after the first) at least 5x faster
than before; the cold figure is printed beside it. Wall and CPU seconds are medians. Both on
the machine as it is and with one busy process (a pure-Python loop) beside the rounds: on a
shared node the renderer of before, with a thread per core, lost most to the other process.

Run: ``python bench/bench_shapes.py [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from targets import exit_status, row, verdict

from robustlab.pruning.data import shapes
from robustlab.pruning.data.sources import DataSpec, build_data

SMOKE = dict(name="shapes", img_size=32, num_classes=4, train_size=64, val_size=32)


def timed(spec: DataSpec, threads: int | None) -> tuple[float, float, torch.Tensor]:
    """Wall and CPU seconds of ``build_data(spec)`` with ``RENDER_THREADS = threads``; images."""
    shapes.RENDER_THREADS = threads
    wall, cpu = time.perf_counter(), time.process_time()
    bundle = build_data(spec)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, bundle.train.render_indices(torch.arange(len(bundle.train)))[0]


def rounds(work: Path, repeats: int) -> dict[str, list]:
    """``repeats`` interleaved rounds of the three ways (the order rotating each round)."""
    now_threads = shapes.RENDER_THREADS
    results: dict[str, list] = {"before": [], "cold": [], "cached": []}
    try:
        for r in range(repeats):
            order = ["before", "cold", "cached"]
            for way in order[r % 3:] + order[:r % 3]:
                folder = work / f"r{r}"
                if way == "before":
                    t = timed(DataSpec(**SMOKE, cache_dir=None), None)
                elif way == "cold":
                    shutil.rmtree(folder, ignore_errors=True)
                    t = timed(DataSpec(**SMOKE, cache_dir=str(folder)), now_threads)
                else:
                    if not folder.exists():
                        timed(DataSpec(**SMOKE, cache_dir=str(folder)), now_threads)
                    t = timed(DataSpec(**SMOKE, cache_dir=str(folder)), now_threads)
                results[way].append(t[:2])
                images = results.setdefault(f"images_{way}", [t[2]])
                assert torch.equal(images[0], t[2]), f"{way}: the images changed between rounds"
    finally:
        shapes.RENDER_THREADS = now_threads
        shutil.rmtree(work, ignore_errors=True)
    return results


def report(case: str, results: dict[str, list], repeats: int) -> None:
    """Print the medians and the speed-up of one case; add its rows to the benches' table."""
    same = all(torch.equal(results["images_before"][0], results[f"images_{w}"][0]) for w in ("cold", "cached"))
    med = {w: (float(np.median([t[0] for t in results[w]])), float(np.median([t[1] for t in results[w]])))
           for w in ("before", "cold", "cached")}
    print(f"experiment=smoke's data (64 + 32 images of 32 px), {case}, {repeats} interleaved rounds, "
          f"torch threads {torch.get_num_threads()}; images identical in the three ways: {same}")
    for w in ("before", "cold", "cached"):
        runs = ", ".join(f"{t[0]:.4f}" for t in results[w])
        print(f"  {w:7s} wall median {med[w][0]:.4f} s (runs {runs}); CPU median {med[w][1]:.4f} s")
    speed = med["before"][0] / med["cached"][0]
    met = verdict(f"smoke data >= 5x faster (cached, {case})", speed >= 5 and same)
    print(f"  speed-up cached {speed:.1f}x (target >= 5x) {met}; cold {med['before'][0] / med['cold'][0]:.1f}x")
    row(f"procedural data of experiment=smoke, cached, {case}", f"{med['cached'][0]:.4f} s",
        f"renderer before {med['before'][0]:.4f} s", 1 / speed, f">= 5x faster {met}")
    row(f"procedural data of experiment=smoke, first run, {case}", f"{med['cold'][0]:.4f} s",
        f"renderer before {med['before'][0]:.4f} s", med["cold"][0] / med["before"][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    timed(DataSpec(**SMOKE, cache_dir=None), None)  # warm-up: first-call costs of torch
    for case in ("no busy process", "one busy process"):
        busy = subprocess.Popen([sys.executable, "-c", "while True:\n    pass"]) if case != "no busy process" else None
        try:
            results = rounds(Path(tempfile.mkdtemp(prefix="bench_shapes_")), args.repeats)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
        report(case, results, args.repeats)


if __name__ == "__main__":
    main()
    raise SystemExit(exit_status())
