"""One Markdown table of every bench's rows (``make bench`` writes it into ``docs/reference/benches.md``).

Each bench prints its figures and, through :func:`targets.row`, appends one JSON line per figure
to the file named by ``$ROBUSTLAB_BENCH_ROWS``. This script turns those lines into a table
(what, ours, theirs, ratio, target, command) and writes it between the markers
``<!-- bench-table:start -->`` and ``<!-- bench-table:end -->`` of the page (a section with the
markers is added at the end of a page that has none), atomically.

Run: ``python bench/table.py ROWS.jsonl PAGE.md``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
COLUMNS = ("what", "ours", "theirs", "ratio", "target", "command")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value).replace("|", "\\|")


def table(rows: list[dict[str, object]]) -> str:
    """The rows as a Markdown table, with a line saying when and where they were measured."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    lines = [f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {cores} cores "
             f"({platform.processor() or platform.machine()}; load average at the end {load}). "
             "Ratio: ours / theirs (below 1: ours is faster).", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r.get(c)) if c != "command" else f"`{_cell(r.get(c))}`"
                                       for c in COLUMNS) + " |")
    return "\n".join(lines)


def write_block(page: Path, block: str) -> None:
    """Replace the text between the markers of ``page`` with ``block`` (temp file, then rename)."""
    text = page.read_text(encoding="utf-8") if page.exists() else ""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
    else:
        head, tail = (text.rstrip("\n") + "\n\n## Benches\n\n" if text else "# Benches\n\n"), "\n"
    fd, tmp = tempfile.mkstemp(dir=page.parent or ".", prefix=f".{page.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"{head}{START}\n{block}\n{END}{tail}")
    os.replace(tmp, page)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python bench/table.py ROWS.jsonl PAGE.md", file=sys.stderr)
        return 2
    rows_path, page = Path(argv[0]), Path(argv[1])
    rows = [json.loads(line) for line in rows_path.read_text(encoding="utf-8").splitlines()
            if line.strip()] if rows_path.exists() else []
    write_block(page, table(rows))
    print(f"bench table ({len(rows)} rows) written to {page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
