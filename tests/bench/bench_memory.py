"""Memory over thousands of poll cycles: python tests/bench/bench_memory.py [CYCLES]

Runs the real news path (loopback feed server → httpx → feedparser → rules → SQLite →
dispatcher) and prints the traced Python heap after warm-up and at the end. Target: growth
under 1 MB whatever the number of cycles (no leak), i.e. about 0 bytes per cycle.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from tests.fakes.feed_server import FeedServer
from tests.memory import cycles


async def main(measured: int) -> None:
    server = FeedServer()
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            growth = await cycles(Path(tmp), server, warmup=500, measured=measured)
    finally:
        server.stop()
    print(f"cycles measured      {growth.cycles}")
    print(f"heap after warm-up   {growth.before / 1e6:.2f} MB")
    print(f"heap at the end      {growth.after / 1e6:.2f} MB")
    print(f"growth per cycle     {growth.per_cycle:.1f} bytes   (target: ~0, total < 1 MB)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
