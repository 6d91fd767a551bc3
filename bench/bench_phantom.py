"""Digital phantom benchmarks, measured in one run (`make bench`).

1. Simulation alone of the full `paper` protocol (21 acquisitions at real sizes: 512-560
   matrices x 12 slices, two 3D volumes of 320 x 320 x 60), written as NIfTI + study.yaml into
   a fresh folder. Target: <= 60 s on 2 cores.
2. A resumed rerun of the same simulation: nothing is simulated again (target: < 5 s).
3. `make radiomics` without Hydra: the simulation, then `run_study` (extraction of the
   21 x 16 = 336 (acquisition, ROI) items with `paper2d`/`paper3d`, analysis, texture test,
   report) with an empty extraction cache and `n_jobs=2`. Target: <= 600 s on 2 cores.

Each line prints the measured wall time, the CPU time of this process and its threads, the
target and their ratio. Run: `.venv/bin/python bench/bench_phantom.py [--skip-pipeline]
[--keep DIR] [--n-jobs 2]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from targets import exit_status, row, verdict

from robustlab.radiomics.phantom import load_config, simulate_study


def timed(label: str, target_s: float, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` and print wall and CPU seconds against the target."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    met = verdict(f"{label} <= {target_s:.0f} s", wall <= target_s)
    print(f"{label:<46} wall {wall:7.1f} s  cpu {cpu:7.1f} s  target <= {target_s:5.0f} s  "
          f"ratio {wall / target_s:5.2f}  {met}", flush=True)
    row(label, f"{wall:.1f} s", "", None, f"<= {target_s:.0f} s {met}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-pipeline", action="store_true", help="time the simulation only")
    parser.add_argument("--keep", type=Path, default=None, help="work in DIR and keep it")
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_phantom_"))
    print(f"cores: {os.cpu_count()}; n_jobs: {args.n_jobs}; folder: {root}")
    protocol, phantom = load_config("protocol", "paper"), load_config("phantom", "pelvic")
    study_dir = root / "study"
    if study_dir.exists():
        shutil.rmtree(study_dir)
    try:
        timed("simulate paper (21 acquisitions)", 60.0, simulate_study, protocol, phantom,
              study_dir, seed=0, n_jobs=args.n_jobs, progress=False)
        timed("resume paper (nothing to simulate)", 5.0, simulate_study, protocol, phantom,
              study_dir, seed=0, n_jobs=args.n_jobs, progress=False)
        if not args.skip_pipeline:
            from robustlab.radiomics.pipeline import run_study

            cache = root / "cache"
            if cache.exists():
                shutil.rmtree(cache)

            def end_to_end() -> None:
                simulate_study(protocol, phantom, root / "study_e2e", seed=0, n_jobs=args.n_jobs,
                               progress=False)
                run_study(root / "study_e2e" / "study.yaml", root / "run", n_jobs=args.n_jobs,
                          cache_dir=cache, seed=0, progress=False)

            if (root / "study_e2e").exists():
                shutil.rmtree(root / "study_e2e")
            timed("make radiomics equivalent (sim + run_study)", 600.0, end_to_end)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
    raise SystemExit(exit_status())
