"""The scripts' arguments are declared like config values: a bad one is argparse's one-line error
(exit status 2) naming the argument, before any work; they were tracebacks (issue 28)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.mark.parametrize("args, message", [
    (["--seeds", "5-1"], r"argument --seeds: '5-1' is an empty range; write 1-5"),
    (["--seeds", "abc"], r"argument --seeds: 'abc' is not a seed \(a whole number >= 0\) or a range of seeds \(1-20\)"),
    (["--seeds=-3"], r"argument --seeds: '-3' is not a seed \(a whole number >= 0\) or a range of seeds \(1-20\)"),
    (["--seeds", "1,2,1"], r"argument --seeds: must be without repeated items; got \[1, 2, 1\] \(1 more than once\)"),
    (["--protocol", "nope"], r"argument --protocol: invalid choice: 'nope' \(choose from .*'paper'.*\)"),
    (["--jobs", "0"], r"argument --jobs: must be in \[1, inf\); got 0"),
    (["--jobs", "two"], r"argument --jobs: expected a whole number in \[1, inf\); got 'two'"),
])
def test_calibrate_phantom_refuses_bad_arguments_in_one_line(tmp_path, args, message):
    assert_refused_in_one_line("calibrate_phantom.py", [*args, "--out", str(tmp_path)], message, tmp_path)


def assert_refused_in_one_line(script: str, args: list[str], message: str, cwd: Path) -> None:
    """``script`` with ``args`` exits 2 with argparse's one line matching ``message``, no
    traceback, and writes nothing into ``cwd`` (its ``--out`` lies there)."""
    import re

    result = subprocess.run([sys.executable, str(SCRIPTS / script), *args],
                            capture_output=True, text=True, timeout=120, cwd=cwd)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(rf"{re.escape(script)}: error: {message}", last), last
    assert not any(cwd.iterdir())  # nothing simulated


@pytest.mark.parametrize("args, message", [
    (["--seeds", "5-1"], r"argument --seeds: '5-1' is an empty range; write 1-5"),
    (["--tol", "0"], r"argument --tol: must be in \(0, 50\]; got 0.0"),
    (["--max-evaluations", "0"], r"argument --max-evaluations: must be in \[1, inf\); got 0"),
    (["--texture-evaluations", "0"], r"argument --texture-evaluations: must be in \[1, inf\); got 0"),
    (["--data", "no-such-folder"], r"argument --data: no-such-folder is not a folder of the released phantom features"),
])
def test_fit_phantom_refuses_bad_arguments_in_one_line(tmp_path, args, message):
    assert_refused_in_one_line("fit_phantom.py", [*args, "--out", str(tmp_path / "out")], message, tmp_path)
