"""`make bench` fails when a bench misses a target it prints.

A real bench is run with a setting that cannot meet its target; then the Makefile's own bench
recipe (read from the Makefile, run by bash with the Makefile's shell flags, not by make) runs
two stand-in benches, one of which fails: every bench runs and the recipe exits non-zero.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_bench_that_misses_its_target_exits_non_zero():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # removing 2 % of the channels cannot bring the latency under 0.7x the dense one
    out = subprocess.run([sys.executable, str(REPO / "bench" / "bench_structured_pruning.py"),
                          "--ratio", "0.02", "--repeats", "3", "--batch", "4"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr[-2000:]
    assert "MISS" in out.stdout and "missed target(s): latency ratio < 0.7" in out.stdout


def bench_recipe() -> str:
    text = (REPO / "Makefile").read_text()
    flags = re.search(r"^\.SHELLFLAGS := (.*)$", text, re.M).group(1)
    body = re.search(r"^bench:.*\n((?:\t.*\n)+)", text, re.M).group(1)
    lines = [line[1:] for line in body.splitlines()]
    recipe = "\n".join(lines).replace("\\\n", "").lstrip("@")
    return flags, recipe.replace("$(PY)", sys.executable).replace("$$", "$")


def test_the_makefile_bench_loop_runs_every_bench_and_fails_when_one_does(tmp_path):
    (tmp_path / "bench").mkdir()
    for name in ("targets.py", "table.py"):
        (tmp_path / "bench" / name).write_text((REPO / "bench" / name).read_text())
    (tmp_path / "bench" / "bench_a.py").write_text("print('a ran'); raise SystemExit(1)\n")
    (tmp_path / "bench" / "bench_b.py").write_text(
        "from targets import row\nprint('b ran')\nrow('b figure', '1.0 s', 'theirs 2.0 s', 0.5, '<= 1 PASS')\n")
    flags, recipe = bench_recipe()
    out = subprocess.run(["bash", *flags.split()[:-1], "-c", recipe], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "a ran" in out.stdout and "b ran" in out.stdout
    assert "missed targets in: bench/bench_a.py" in out.stdout
    # the rows of every bench, failed or not, became one table in the README
    row = "| b figure | 1.0 s | theirs 2.0 s | 0.5 | <= 1 PASS | `python bench/bench_b.py` |"
    assert row in (tmp_path / "README.md").read_text()
    (tmp_path / "bench" / "bench_a.py").write_text("print('a ran')\n")
    ok = subprocess.run(["bash", *flags.split()[:-1], "-c", recipe], cwd=tmp_path,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    page = (tmp_path / "README.md").read_text()
    assert page.count("<!-- bench-table:start -->") == 1 and page.count("b figure") == 1  # replaced, not added
