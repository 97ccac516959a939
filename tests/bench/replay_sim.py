"""The replay simulator: polls feeds on a fake clock and measures each item's detection delay.

Event-driven (a heap of next poll times, no sleeping, no I/O). Each feed is polled first at
`start + first_delay(every, rng)`, then after each poll at `policy.interval(...)` plus the
runner's jitter (`watchers.schedule.next_delay`, ±10 %), with one `random.Random` per feed
seeded by (seed, feed id), so two policies replayed with the same seed draw the same jitter
sequence. A poll at time t finds every item published since the previous poll and up to t
(a feed's window is assumed large enough to hold them all); each item's **detection delay** is
t − its publication. Polls go on until each feed's first poll at or after `end`, so every item
published before `end` is found. Measured: the items published in [measure_from, end) and the
polls made in [measure_from, end) (the requests).
"""

from __future__ import annotations

import bisect
import heapq
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tests.bench.replay_model import Feed
from watchers.schedule import first_delay, next_delay

Wait = Callable[[float, random.Random], float]


class Policy(Protocol):
    def interval(
        self, feed: Feed, at: float, found: Sequence[float | None], *, first: bool
    ) -> float:
        """Seconds to the next poll of `feed` (before jitter) after a poll at `at` that
        found items published at `found` (None when the feed gives no dates)."""
        ...


class Fixed:
    """Fixed polling: every `feed.every`, whatever the feed does."""

    def interval(
        self, feed: Feed, at: float, found: Sequence[float | None], *, first: bool
    ) -> float:
        return feed.every


def jittered(interval: float, rng: random.Random) -> float:
    """The runner's wait after a successful poll (±10 % jitter)."""
    return next_delay(interval, 0, retry_after=None, rng=rng)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one replay measured: requests in the measured period, and per feed the
    detection delay of each item published in it."""

    requests: int
    delays: dict[str, list[float]]

    def all_delays(self) -> list[float]:
        return [d for ds in self.delays.values() for d in ds]


def simulate(
    feeds: Sequence[Feed],
    policy: Policy,
    *,
    start: float,
    measure_from: float,
    end: float,
    seed: int,
    wait: Wait = jittered,
    first: Wait = first_delay,
) -> Outcome:
    """Replay `feeds` through `policy` from `start` to `end` (module docstring)."""
    rngs = [random.Random(f"{seed}:{feed.id}") for feed in feeds]
    seen = [0] * len(feeds)
    delays: dict[str, list[float]] = {feed.id: [] for feed in feeds}
    heap = [(start + first(feed.every, rngs[n]), n, True) for n, feed in enumerate(feeds)]
    heapq.heapify(heap)
    requests = 0
    while heap:
        at, n, is_first = heapq.heappop(heap)
        feed = feeds[n]
        upto = bisect.bisect_right(feed.published, at, lo=seen[n])
        found = feed.published[seen[n] : upto]
        seen[n] = upto
        if measure_from <= at < end:
            requests += 1
        delays[feed.id] += [at - p for p in found if measure_from <= p < end]
        dates = found if feed.dated else [None] * len(found)
        if at < end:
            interval = policy.interval(feed, at, dates, first=is_first)
            heapq.heappush(heap, (at + wait(interval, rngs[n]), n, False))
    return Outcome(requests, delays)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile (0.5 = median, 0.9 = p90), inclusive method."""
    if fraction == 0.5:
        return float(statistics.median(values))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[round(fraction * 100) - 1]
