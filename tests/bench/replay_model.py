"""Publication timestamps for the replay benchmark (pure: everything random is seeded).

**The synthetic model** (`synthetic_feeds`), over the simulated period [start, start + days):

- `FEEDS` = 60 feeds, each with a mean rate drawn log-uniform between `RATE_MIN` = 0.3 and
  `RATE_MAX` = 300 items a day (three orders of magnitude), and an `every` drawn from
  10m, 15m, 20m (the intervals of the shipped rules.toml).
- Each feed is a non-homogeneous Poisson process, drawn by thinning (Lewis & Shedler): its rate
  at time t is `rate × (1 + amplitude × cos(2π (local hour − 13) / 24)) × burst(t)`, peaking at
  13:00 in the feed's time zone (an offset drawn from UTC−8 to UTC+9, whole hours), with an
  amplitude drawn from 0.5 to 0.95 (night-time rate 5-50 % of the mean).
- Breaking news: `BURSTS_PER_WEEK` = 4 bursts across all feeds, each on a feed drawn at random
  with a start drawn uniformly, multiplying that feed's rate by 10 for 1-3 hours.
- Two pathological feeds from issue 14's bad input: `silent` says nothing for 20 days, then
  publishes 50 items within one hour (then resumes 2 a day); `undated` publishes 20 a day with
  no dates in its items (the scheduler sees `None`).

**Real series** (`real_feeds`): the publication dates of real feeds, from
tests/data/publications/*.json (see its README for provenance). A series is replayed as is: its
last `days` days (all of it when shorter) are shifted to begin at `start`, and repeated end to
end (each copy one window plus the series' median gap later) until the period is covered.
Nothing is stretched or invented; only whole copies are shifted in time.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

DAY = 86400.0
HOUR = 3600.0
FEEDS = 60
RATE_MIN, RATE_MAX = 0.3, 300.0  # items a day
EVERY_CHOICES = (600.0, 900.0, 1200.0)  # 10m, 15m, 20m
AMPLITUDE = (0.5, 0.95)
ZONES = range(-8, 10)  # UTC offsets, hours
PEAK_HOUR = 13.0
BURSTS_PER_WEEK = 4
BURST_FACTOR = 10.0
BURST_HOURS = (1.0, 3.0)
Span = tuple[float, float]
PUBLICATIONS = Path(__file__).resolve().parents[1] / "data" / "publications"


@dataclass(frozen=True, slots=True)
class Feed:
    """One feed to replay: when each item was published (sorted epoch seconds), how often fixed
    polling fetches it, and whether its items carry their dates."""

    id: str
    every: float
    published: tuple[float, ...]
    dated: bool = True


@dataclass(frozen=True, slots=True)
class Burst:
    feed: int
    start: float
    end: float


def min_every(every: float) -> float:
    """The default floor of issue 14: `every / 5`, at least one minute."""
    return max(every / 5, 60.0)


def max_every(every: float) -> float:
    """The default ceiling of issue 14: `4 × every`."""
    return 4 * every


def diurnal(t: float, zone: int, amplitude: float) -> float:
    """The day/night factor at epoch `t` for a feed in UTC+`zone` (mean 1 over a day)."""
    hour = ((t / HOUR) + zone) % 24
    return 1 + amplitude * math.cos(2 * math.pi * (hour - PEAK_HOUR) / 24)


def poisson(
    rng: random.Random,
    start: float,
    end: float,
    rate_per_day: float,
    factor: Callable[[float], float],
) -> list[float]:
    """A non-homogeneous Poisson process on [start, end) by thinning: candidates at the peak
    rate `rate_per_day × 2 × BURST_FACTOR`, each kept with probability factor(t) / peak, where
    `factor(t)` (≤ 2 × BURST_FACTOR) multiplies the mean rate at t."""
    peak = 2 * BURST_FACTOR
    top = rate_per_day * peak / DAY
    times: list[float] = []
    t = start
    while True:
        t += rng.expovariate(top)
        if t >= end:
            return times
        if rng.random() * peak < factor(t):
            times.append(t)


def bursts(rng: random.Random, start: float, days: float, feeds: int) -> list[Burst]:
    count = round(BURSTS_PER_WEEK * days / 7)
    found = []
    for _ in range(count):
        begin = start + rng.random() * days * DAY
        found.append(Burst(rng.randrange(feeds), begin, begin + rng.uniform(*BURST_HOURS) * HOUR))
    return found


def synthetic_feeds(seed: int, start: float, days: float, count: int = FEEDS) -> list[Feed]:
    """`count` modelled feeds plus the two pathological ones (module docstring)."""
    rng = random.Random(seed)
    end = start + days * DAY
    spikes = bursts(rng, start, days, count)
    feeds = []
    for n in range(count):
        rate = math.exp(rng.uniform(math.log(RATE_MIN), math.log(RATE_MAX)))
        zone, amplitude = rng.choice(ZONES), rng.uniform(*AMPLITUDE)
        every = rng.choice(EVERY_CHOICES)
        mine = [(b.start, b.end) for b in spikes if b.feed == n]

        def factor(
            t: float, zone: int = zone, amplitude: float = amplitude, mine: list[Span] = mine
        ) -> float:
            boost = BURST_FACTOR if any(a <= t < b for a, b in mine) else 1.0
            return diurnal(t, zone, amplitude) * boost

        feeds.append(Feed(f"f{n:02d}", every, tuple(poisson(rng, start, end, rate, factor))))
    loud = start + 20 * DAY
    flood = sorted(loud + rng.random() * HOUR for _ in range(50))
    after = poisson(rng, loud + HOUR, end, 2.0, lambda t: 1.0)
    feeds.append(Feed("silent", 900.0, tuple(flood + after)))
    feeds.append(
        Feed("undated", 600.0, tuple(poisson(rng, start, end, 20.0, lambda t: 1.0)), False)
    )
    return feeds


@dataclass(frozen=True, slots=True)
class Series:
    """One real feed's publication dates, as stored in tests/data/publications/."""

    id: str
    title: str
    published: tuple[float, ...]


def load_series(directory: Path = PUBLICATIONS) -> list[Series]:
    found = []
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        dates = sorted(_epoch(text) for text in data["published"])
        found.append(Series(path.stem, data["feed"], tuple(dates)))
    return found


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def tiled(published: tuple[float, ...], start: float, days: float) -> tuple[float, ...]:
    """The series' last `days` days (all of it when shorter), shifted to begin at `start` and
    repeated end to end until start + days (module docstring)."""
    span = days * DAY
    last = published[-1]
    window = [t for t in published if t >= last - span]
    if published[0] < last - span:
        begin, period = last - span, span
    else:
        gaps = [b - a for a, b in itertools.pairwise(window)]
        begin = window[0]
        period = (last - begin) + (statistics.median(gaps) if gaps else span)
    times: list[float] = []
    copy = 0
    while start + copy * period < start + span:
        shift = start + copy * period - begin
        times += [t + shift for t in window if t + shift < start + span]
        copy += 1
    return tuple(times)


def real_feeds(start: float, days: float, directory: Path = PUBLICATIONS) -> list[Feed]:
    """Each stored series, tiled over the period, polled every 10m, 15m or 20m in turn."""
    return [
        Feed(s.id, EVERY_CHOICES[n % len(EVERY_CHOICES)], tiled(s.published, start, days))
        for n, s in enumerate(load_series(directory))
    ]
