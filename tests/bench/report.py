"""Printing benchmark figures: one small table per benchmark, the target beside each figure."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

PASS, FAIL = "✓", "✗"


@dataclass(frozen=True)
class Row:
    """One measure: its median (as text), the target, and whether the target is met.

    `ok` is None for a figure without a target (shown for context).
    """

    measure: str
    figure: str
    target: str = ""
    ok: bool | None = None

    @property
    def mark(self) -> str:
        return "" if self.ok is None else PASS if self.ok else FAIL


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float], fmt: str) -> str:
    """`min-max` of the runs, formatted with `fmt` (e.g. "{:.2f}")."""
    return f"{fmt.format(min(values))}-{fmt.format(max(values))}"


def table(title: str, notes: Sequence[str], rows: Sequence[Row]) -> str:
    """The benchmark's title, its notes and a fixed-width table of its rows."""
    head = ("measure", "median", "target", "")
    widths = [
        max(len(head[0]), *(len(r.measure) for r in rows)),
        max(len(head[1]), *(len(r.figure) for r in rows)),
        max(len(head[2]), *(len(r.target) for r in rows)),
    ]
    lines = [title, *(f"  {note}" for note in notes), ""]
    lines.append(
        f"  {head[0]:<{widths[0]}}  {head[1]:>{widths[1]}}  {head[2]:<{widths[2]}}".rstrip()
    )
    lines.append("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            f"  {row.measure:<{widths[0]}}  {row.figure:>{widths[1]}}  "
            f"{row.target:<{widths[2]}}  {row.mark}".rstrip()
        )
    return "\n".join(lines) + "\n"


def all_met(rows: Sequence[Row]) -> bool:
    return all(row.ok is not False for row in rows)
