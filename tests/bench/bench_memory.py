"""Memory over thousands of poll cycles: python -m tests.bench.bench_memory [CYCLES]

Runs the real news path (loopback feed server → httpx → feedparser → rules → SQLite →
dispatcher) and prints the traced Python heap after warm-up and at the end. Target: growth
under 1 MB whatever the number of cycles (no leak), i.e. about 0 bytes per cycle.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from tests.bench.report import Row, table
from tests.fakes.feed_server import FeedServer
from tests.memory import cycles


def run(measured: int = 5000) -> list[Row]:
    """One run of `measured` cycles after 500 of warm-up; prints its figures as a table."""
    server = FeedServer()
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            growth = asyncio.run(cycles(Path(tmp), server, warmup=500, measured=measured))
    finally:
        server.stop()
    rows = [
        Row("heap after warm-up (500 cycles)", f"{growth.before / 1e6:.2f} MB"),
        Row(f"heap after {growth.cycles:,} more cycles", f"{growth.after / 1e6:.2f} MB"),
        Row(
            "growth per cycle",
            f"{growth.per_cycle:.1f} bytes",
            "~0, < 1 MB in all",
            growth.after - growth.before < 1_000_000,
        ),
    ]
    notes = [
        "the news path (loopback feed, 50 items, new items every 10 polls, match, send);",
        "traced Python heap (tracemalloc), the in-process feed server left out; one run",
    ]
    print(table("Memory (python -m tests.bench memory)", notes, rows), flush=True)
    return rows


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
