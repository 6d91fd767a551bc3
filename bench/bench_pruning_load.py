"""The pruning sweep beside busy processes: CPU time and wall time against the same sweep alone.

The sweep is a shortened `synthetic_quick` (the small ResNet at 64 px, one pruning step, one
epoch each of 2000 images, accuracy only), one whole `robustlab-prune` process per run, under two
thread policies side by side:

- *before*: `ROBUSTLAB_THREAD_POLICY=torch threads=2` (torch's pools as torch sets them, OpenMP's
  spin-waiting, and the two threads `synthetic_quick` fixed);
- *after*: the default (`robustlab.common.threads`: the cores available, waiting threads sleep).

Each is run idle (no process of ours beside it), beside one busy process and beside two (a
pure-Python loop each, one per core taken), in that order within each repeat, the busy processes
running for the whole of their block. CPU time is the sweep process's own (user + system, from
`wait4`), wall time start to exit; the ratios are loaded / idle of the same repeat (medians over
repeats). Targets, *after* beside one busy process (two cores, one taken): CPU time within 1.3x
of idle, wall time within 2.2x. The machine's load average is printed with every block: on a
shared machine "idle" is the machine as it is.

Run: `python bench/bench_pruning_load.py [--repeats 1] [--keep DIR]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from targets import exit_status, row, verdict

CPU_TARGET, WALL_TARGET = 1.3, 2.2
BUSY = "while True:\n    pass"
POLICIES = {"before": ({"ROBUSTLAB_THREAD_POLICY": "torch"}, ["threads=2"]), "after": ({}, [])}
LOADS = (0, 1, 2)
#: The environment's own thread settings are left out: each policy sets what it sets.
CLEARED = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME", "GOMP_SPINCOUNT", "MKL_NUM_THREADS",
           "OPENBLAS_NUM_THREADS", "ROBUSTLAB_THREAD_POLICY")


def sweep_command(work: Path, run: str) -> list[str]:
    """``robustlab-prune``: a shortened ``synthetic_quick`` (small ResNet, one step) into ``work/run``."""
    return [str(Path(sys.executable).with_name("robustlab-prune")), "experiment=synthetic_quick", "hydra.mode=RUN",
            "model=resnet_small", "method.steps=1", "train.epochs=1", "data.train_size=2000", "data.val_size=500",
            "eval=accuracy", "report=false", "progress=false", f"data.cache_dir={work / 'cache'}",
            f"hydra.run.dir={work / run}"]


def timed_run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """``(cpu_seconds, wall_seconds)`` of one process (its own user + system time, from ``wait4``)."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()
    return usage.ru_utime + usage.ru_stime, wall


def load_average() -> str:
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def measure(work: Path, repeats: int) -> dict[tuple[str, int], list[tuple[float, float]]]:
    """Every (policy, busy processes) cell's ``(cpu, wall)`` per repeat."""
    base = {k: v for k, v in os.environ.items() if k not in CLEARED}
    results: dict[tuple[str, int], list[tuple[float, float]]] = {(p, n): [] for p in POLICIES for n in LOADS}
    timed_run(sweep_command(work, "warm"), base)  # renders and caches the data once
    for r in range(repeats):
        for n_busy in LOADS:
            busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(n_busy)]
            try:
                print(f"repeat {r}, {n_busy} busy process(es), load average {load_average()}", flush=True)
                for policy, (env, overrides) in POLICIES.items():
                    shutil.rmtree(work / "run", ignore_errors=True)
                    cpu, wall = timed_run(sweep_command(work, "run") + overrides, {**base, **env})
                    results[policy, n_busy].append((cpu, wall))
                    print(f"  {policy:<6} CPU {cpu:6.1f} s, wall {wall:6.1f} s", flush=True)
            finally:
                for proc in busy:
                    proc.kill()
                    proc.wait()
    return results


def report(results: dict[tuple[str, int], list[tuple[float, float]]], repeats: int) -> None:
    """Print each loaded cell against its idle one and add the rows of the benches' table."""
    command = f"python bench/bench_pruning_load.py --repeats {repeats}"
    for policy in POLICIES:
        idle = np.array(results[policy, 0])
        for n_busy in LOADS[1:]:
            loaded = np.array(results[policy, n_busy])
            cpu_ratio = float(np.median(loaded[:, 0] / idle[:, 0]))
            wall_ratio = float(np.median(loaded[:, 1] / idle[:, 1]))
            what = f"pruning sweep beside {n_busy} busy process(es), {policy}: CPU time"
            if policy == "after" and n_busy == 1:
                met = verdict(f"{what} <= {CPU_TARGET}x and wall <= {WALL_TARGET}x of idle",
                              cpu_ratio <= CPU_TARGET and wall_ratio <= WALL_TARGET)
                target = f"CPU <= {CPU_TARGET}x, wall {wall_ratio:.2f}x <= {WALL_TARGET}x {met}"
            else:
                target = f"(no target) wall {wall_ratio:.2f}x"
            print(f"{what} {cpu_ratio:.2f}x idle; {target}")
            row(what, f"CPU {np.median(loaded[:, 0]):.1f} s, wall {np.median(loaded[:, 1]):.1f} s",
                f"idle CPU {np.median(idle[:, 0]):.1f} s, wall {np.median(idle[:, 1]):.1f} s", cpu_ratio, target,
                command=command)
    for n_busy in LOADS:
        after, before = np.array(results["after", n_busy]), np.array(results["before", n_busy])
        wall_ratio = float(np.median(after[:, 1] / before[:, 1]))
        where = f"beside {n_busy} busy process(es)" if n_busy else "idle"
        what = f"pruning sweep {where}, after against before: CPU time"
        print(f"{what} {np.median(after[:, 0] / before[:, 0]):.2f}x, wall {wall_ratio:.2f}x")
        row(what, f"CPU {np.median(after[:, 0]):.1f} s, wall {np.median(after[:, 1]):.1f} s",
            f"before CPU {np.median(before[:, 0]):.1f} s, wall {np.median(before[:, 1]):.1f} s",
            float(np.median(after[:, 0] / before[:, 0])), f"(no target) wall {wall_ratio:.2f}x", command=command)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_pruning_load_"))
    try:
        print(f"{len(os.sched_getaffinity(0))} cores; load average at the start {load_average()}")
        report(measure(work, args.repeats), args.repeats)
        print(f"load average at the end {load_average()}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
