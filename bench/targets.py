"""The targets a bench prints: each line carries its verdict, and a missed one fails the bench.

``make bench`` runs every bench and exits non-zero when any of them does, so a target that is
printed is also a target that is checked.
"""

from __future__ import annotations

MISSED: list[str] = []


def verdict(label: str, met: bool) -> str:
    """``"PASS"`` or ``"MISS"`` for the printed line; a missed target is remembered."""
    if not met:
        MISSED.append(label)
    return "PASS" if met else "MISS"


def exit_status() -> int:
    """0 when every target was met; else 1, after a line naming the missed ones."""
    if MISSED:
        print(f"missed target(s): {'; '.join(MISSED)}")
        return 1
    return 0


#: File (JSON lines) that :func:`row` appends to; ``make bench`` sets it and makes one table of it.
ROWS_ENV = "ROBUSTLAB_BENCH_ROWS"


def row(what: str, ours: str, theirs: str, ratio: float | None, target: str = "",
        command: str | None = None) -> None:
    """One row of the benches' table: printed, and appended to the file named by ``$ROBUSTLAB_BENCH_ROWS``.

    ``ours`` and ``theirs`` are measured figures with their unit (``theirs`` names the baseline);
    ``ratio`` is ours/theirs (None where there is no baseline); ``target`` states the target with
    its verdict; ``command`` reproduces the row (None: this bench as it was invoked).
    """
    import json
    import os
    import sys
    from pathlib import Path

    if command is None:
        command = " ".join(["python", f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]])

    entry = {"what": what, "ours": ours, "theirs": theirs, "ratio": ratio, "command": command,
             "target": target}
    ratio_text = "" if ratio is None else f"{ratio:.3g}"
    print(f"row: {what} | ours {ours} | theirs {theirs} | ratio {ratio_text} | {target} | {command}")
    path = os.environ.get(ROWS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:  # one short line per write: appends do not interleave
            fh.write(json.dumps(entry) + "\n")
