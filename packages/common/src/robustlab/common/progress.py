"""Progress bars (tqdm, with rate and ETA) that stay readable in a terminal, a log file and a pipe.

In a terminal a bar is redrawn in place and the log lines are printed above the open bars
(:func:`logs_above_bars`). Elsewhere (``make pruning | tee log``, a cluster job's output file) a
carriage return does not go back, and tqdm's redraws would pile up into one ever longer line:
there each redraw is a line of its own, without the bar's blocks, at most one every
:data:`LOG_INTERVAL_S` seconds; a bar that ends sooner than that prints nothing (the step lines
of the log say it ended), one that printed ends with its final line.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from typing import Any, TextIO

#: Seconds between two lines of a bar when the output is not a terminal.
LOG_INTERVAL_S = 30.0
#: A bar as a log line: what, how far, elapsed < remaining, rate.
LINE_FORMAT = "{desc}: {n_fmt}/{total_fmt} {unit} ({percentage:.0f} %) [{elapsed}<{remaining}, {rate_fmt}]{postfix}"


class _Lines(io.TextIOBase):
    """A stream that writes each of tqdm's redraws as a line of its own; cursor moves are
    dropped, and so is a redraw at the count of the line before (the final one, at close)."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.last = ""

    def write(self, text: str) -> int:
        for part in text.replace("\x1b[A", "").replace("\r", "\n").split("\n"):
            line, count = part.rstrip(), part.split(" [", 1)[0]
            if line.strip() and count != self.last:
                self.stream.write(line + "\n")
                self.last = count
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def is_terminal(stream: Any = None) -> bool:
    """Whether ``stream`` (default: stderr, where the bars go) is a terminal."""
    stream = sys.stderr if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


def progress(total: int, desc: str, unit: str = "it", enabled: bool = True, **options: Any) -> Any:
    """A tqdm bar over ``total`` units (``enabled=False``: one that shows nothing).

    Args:
        total: units of work.
        desc: what is done, at the start of the line.
        unit: the unit's name (rates read ``<unit>/s``).
        enabled: show it.
        options: tqdm's own (``initial``, ``unit_scale``, ``leave``...); outside a terminal
            ``mininterval`` and ``delay`` default to :data:`LOG_INTERVAL_S` (0 for a bar whose
            every update is worth a line).
    """
    from tqdm.auto import tqdm

    if not enabled or is_terminal():
        return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True, **options)
    options.setdefault("mininterval", LOG_INTERVAL_S)
    options.setdefault("delay", LOG_INTERVAL_S)
    # tqdm's monitor thread redraws a bar idle for maxinterval (10 s): not more often than the rest
    options.setdefault("maxinterval", max(LOG_INTERVAL_S, options["mininterval"]))
    options.update(leave=True, file=_Lines(sys.stderr), bar_format=LINE_FORMAT)
    return tqdm(total=total, desc=desc, unit=unit, **options)


@contextlib.contextmanager
def logs_above_bars() -> Iterator[None]:
    """In a terminal, print the log's console lines above the open bars, not through them."""
    if not is_terminal():
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        yield
