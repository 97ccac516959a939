"""Memory stays flat over many poll cycles (the long run is tests/bench/bench_memory.py)."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.feed_server import FeedServer
from tests.memory import cycles


async def test_heap_does_not_grow_with_poll_cycles(tmp_path: Path, feed_server: FeedServer) -> None:
    """600 poll-match-send cycles after warm-up leave the Python heap within 1 MB."""
    growth = await cycles(tmp_path, feed_server, warmup=100, measured=600)
    assert growth.after - growth.before < 1_000_000, growth
