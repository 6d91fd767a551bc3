"""Progress bars: with rate and time left, one line per redraw where the output is not a terminal."""

from __future__ import annotations

import re
import sys
import time

import pytest

from robustlab.common.progress import progress

#: A bar as a log line: what, count, percentage, elapsed < remaining, rate.
LINE = re.compile(r"^(?P<desc>[\w ]+): (?P<n>\d+)/(?P<total>\d+) (?P<unit>\w+) \(\d+ %\) "
                  r"\[\d\d:\d\d<(\d\d:\d\d|\?), +([\d.]+|\?)(\w+/s|s/\w+)\](?P<postfix>.*)$")


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    """What went to stderr (pytest's capture: not a terminal)."""
    assert not sys.stderr.isatty()
    return capsys.readouterr().err


def test_outside_a_terminal_every_update_worth_a_line_is_a_line_with_rate_and_time_left(capsys):
    with progress(3, "resnet sweep", unit="step", mininterval=0, delay=0) as bar:
        for _ in range(3):
            time.sleep(0.01)
            bar.update(1)
    err = _err(capsys)
    lines = err.splitlines()
    assert "\r" not in err and "\x1b" not in err
    assert [LINE.match(line)["n"] for line in lines] == ["0", "1", "2", "3"]  # the close repeats no count
    assert all(LINE.match(line)["unit"] == "step" for line in lines)
    assert re.search(r"<00:00, +[\d.]+(step/s|s/step)\]$", lines[-1])


def test_outside_a_terminal_a_long_bar_prints_every_interval_and_a_short_one_nothing(capsys, monkeypatch):
    now = [0.0]
    monkeypatch.setattr("tqdm.std.time", lambda: now[0])  # tqdm's clock, advanced by the test
    monkeypatch.setattr("tqdm.std.tqdm.monitor_interval", 0)
    with progress(4, "short", unit="suite") as bar:
        now[0] += 29.0  # ends before the first line is due
        bar.update(4)
    assert _err(capsys) == ""
    with progress(20, "train step 1", unit="img", unit_scale=64, postfix="accuracy") as bar:
        for _ in range(20):
            now[0] += 10.0
            bar.update(1)
    lines = _err(capsys).splitlines()
    matches = [LINE.match(line) for line in lines]
    assert all(m is not None and m["desc"] == "train step 1" and m["total"] == "1280" for m in matches), lines
    # a line every 30 s of the 200 s (at 3, 6, ... 18 updates of 10 s), then the final count
    assert [int(m["n"]) // 64 for m in matches] == [3, 6, 9, 12, 15, 18, 20]
    assert matches[-1]["postfix"] == ", accuracy" and "[03:20<00:00, " in lines[-1] and "img/s" in lines[-1]


def test_disabled_is_silent(capsys):
    with progress(3, "quiet", enabled=False, mininterval=0, delay=0) as bar:
        bar.update(3)
    assert _err(capsys) == ""
