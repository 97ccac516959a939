"""Many poll cycles of the real news path, measuring Python heap growth with tracemalloc.

Shared by tests/test_memory.py (a bounded run in the suite) and tests/bench/bench_memory.py
(a long run that prints its figures).
"""

from __future__ import annotations

import gc
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bot.config.validate import parse_config
from bot.dispatcher import Dispatcher, Limits
from bot.news import NewsPoller
from bot.sinks import Edit, Message, SendOutcome, Sent
from bot.store import Store
from tests.fakes.feed_server import Entry, FeedServer, rss
from watchers.rss import FeedReader


class NullSink:
    """Accepts every alert and every edit and keeps nothing."""

    name = "null"

    async def send(self, message: Message) -> SendOutcome:
        return Sent(None)

    async def edit(self, edit: Edit) -> SendOutcome:
        return Sent(edit.message_id)


@dataclass(frozen=True)
class Growth:
    """Heap after warm-up and after the measured cycles, in bytes."""

    cycles: int
    before: int
    after: int

    @property
    def per_cycle(self) -> float:
        return (self.after - self.before) / self.cycles


def entries(generation: int) -> list[Entry]:
    """50 realistic items; every generation brings two new ones (one of them matching)."""
    items = [
        Entry(
            f"Story {generation}-{n}: Haftar and Minsk talks"
            if n == 0
            else f"Story {generation}-{n}",
            link=f"https://n.example/{generation}/{n}",
            summary="<p>" + "Lorem ipsum dolor sit amet. " * 20 + "</p>",
        )
        for n in range(2)
    ]
    return items + [
        Entry(f"Older story {n}", link=f"https://n.example/old/{n}", summary="Text " * 40)
        for n in range(48)
    ]


# The loopback server runs in this process too: its threads' allocations are not the bot's.
_NOT_THE_BOT = [
    tracemalloc.Filter(False, pattern)
    for pattern in (
        "*/tests/*",
        "*/http/server.py",
        "*/socketserver.py",
        "*/email/*",
        "*/threading.py",
    )
]


def _bot_heap() -> int:
    """Bytes traced now, leaving out what the in-process test servers allocated."""
    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(_NOT_THE_BOT)
    return sum(stat.size for stat in snapshot.statistics("filename"))


async def cycles(tmp_path: Path, feed_server: FeedServer, warmup: int, measured: int) -> Growth:
    """Poll one feed `warmup + measured` times (its items change every 10 polls) and send
    what matches; return the traced heap size after warm-up and at the end."""
    config = parse_config(
        "[channels.main]\nchat_id = -1\n\n"
        f'[[sources]]\nid = "news"\nkind = "rss"\nurl = "{feed_server.url("/feed")}"\n\n'
        '[[rules]]\nid = "r"\nkind = "keywords"\nquery = "haftar AND minsk"\nchannel = "main"\n'
    )
    store = Store.open(tmp_path / "memory.db")
    now = datetime(2026, 7, 1, tzinfo=UTC)
    dispatcher = Dispatcher(
        store,
        NullSink(),
        clock=lambda: now,
        limits=Limits(per_chat=10**6, per_chat_gap=0.0, overall_per_second=10**6),
    )
    tracemalloc.start()
    before = 0
    try:
        async with httpx.AsyncClient() as client:
            poller = NewsPoller(
                store, FeedReader(client), config.keyword_rules, config.channels, clock=lambda: now
            )
            for cycle in range(warmup + measured):
                if cycle % 10 == 0:
                    feed_server.route("/feed", body=rss(entries(cycle // 10)), etag=f'"{cycle}"')
                await poller.poll(config.news_sources[0])
                await dispatcher.drain(grace=0)
                feed_server.requests.clear()  # the fake's own log is not the bot's memory
                if cycle == warmup - 1:
                    before = _bot_heap()
        after = _bot_heap()
    finally:
        tracemalloc.stop()
        store.close()
    return Growth(measured, before, after)
