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
