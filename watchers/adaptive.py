"""Adaptive polling: when to poll each feed so that, for the same number of requests, new
items are found sooner (DESIGN §5 "Adaptive polling").

Pure: no I/O and no clock; times are epoch seconds passed in.

The model (reference/stories-polling-aircraft-charts.md §2.2). A feed publishing λ items a
second and polled f times a second has each item found on average 1/(2f) after it was
published. For a fixed number of requests Σf, the total delay Σλ/(2f) is least when f ∝ √λ;
and since a feed's rate follows the hours of the day, per hour of the day. So the scheduler:

1. turns each poll's new items into publication times (`publication_time`): an item's own date
   when the feed's dates can be trusted (`dates_trusted`: most items dated, their dates
   distinct, nearly none in the future), else the time the item was first
   seen. An item dated long (`STALE`) before the poll that first saw it is an old one listed
   again, not a publication. Items listed by a source's first poll (`seed`) were published
   before it was watched: their dates count only when trusted;
2. estimates each feed's rate, recent days weighing more (half-life `HALF_LIFE`), and its
   profile over the 24 hours of the day (UTC), shrunk towards flat while the history is thin
   (`Estimate`);
3. shares the budget of the adaptive feeds, Σ 1/every (what fixed polling would spend), among
   them hour by hour, ∝ √λ(hour), each within [1/max_every, 1/min_every] (`allocate`); a
   feed's own refresh hint (RSS `ttl`, `sy:updatePeriod`) raises its lower bound on the
   interval, never above `max_every`;
4. places the next poll where one poll's worth of that hourly frequency has passed
   (`next_interval`), so a feed about to enter its busy hours is polled sooner.

A feed with less than `MIN_SPAN` of history and fewer than `MIN_EVENTS` publications is
polled at its `every` until it has them. Backoff, Retry-After and jitter are applied by the
caller (`watchers.schedule.next_delay`) to the interval given here. Whatever the history or
the clock does (dates in the future, all equal or absent, a burst after a month of silence,
a clock that jumps), the interval stays within [min_every, max_every].
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

HOUR = 3600.0
DAY = 86400.0
HOURS = 24
HALF_LIFE = 7 * DAY  # a publication a week old counts half
MIN_SPAN = DAY  # history needed before adapting, unless MIN_EVENTS publications are known
MIN_EVENTS = 10
PROFILE_SPAN = 2 * DAY  # history needed before the hours of the day are told apart
PROFILE_PRIOR = 2.0  # pseudo-publications per hour pulling a thin profile towards flat
FUTURE_SKEW = 15 * 60.0  # a date up to this far past the poll is a clock difference
STALE = 2 * DAY  # an item dated this long before the poll that first saw it is not new
HISTORY = 2000  # sightings kept per source
REPLAN = 10 * 60.0  # the budget is shared again this often (and when the pool changes)
TRUSTED_SHARE = 0.8
_LN2 = math.log(2.0)


@dataclass(frozen=True, slots=True)
class Polled:
    """One source as the scheduler sees it: its budget (`every`) and bounds, in seconds."""

    id: str
    every: float
    min_every: float
    max_every: float
    adaptive: bool = True


@dataclass(frozen=True, slots=True)
class Sighting:
    """An item first seen at `seen`, dated `published` by its feed (None: undated);
    `seed`: listed by the source's first poll."""

    seen: float
    published: float | None
    seed: bool = False


@dataclass(frozen=True, slots=True)
class Estimate:
    """A feed's publication rate (per second) and its profile over the hours of the day
    (24 factors, mean 1); `enough`: the history is long enough to adapt on."""

    per_second: float
    profile: tuple[float, ...]
    enough: bool

    @property
    def per_day(self) -> float:
        return self.per_second * DAY

    def at_hour(self, hour: int) -> float:
        return self.per_second * self.profile[hour]


FLAT = (1.0,) * HOURS


def future(sighting: Sighting) -> bool:
    """Whether an item is dated after the poll that first saw it (beyond a clock's skew)."""
    return sighting.published is not None and sighting.published > sighting.seen + FUTURE_SKEW


def dates_trusted(dated: int, distinct: int, ahead: int, total: int) -> bool:
    """Whether a feed's dates say when its items were published: most of its `total` items
    are `dated`, with `distinct` dates (not one date for all, nor a day without its time);
    few are dated in the future (`ahead`)."""
    if total == 0 or dated < max(3, total / 2):
        return False
    return distinct >= dated / 2 and ahead <= (1 - TRUSTED_SHARE) * dated


def publication_time(sighting: Sighting, trusted: bool) -> float | None:
    """When an item was published, as far as the scheduler counts it (None: not counted)."""
    published = sighting.published
    if not trusted or published is None or future(sighting):
        # Published before the source was watched (`seed`), at an unknown time; else when
        # first seen.
        return None if sighting.seed else sighting.seen
    if not sighting.seed and published < sighting.seen - STALE:
        return None  # an old item listed again: not a new publication
    return min(published, sighting.seen)


def decay(age: float) -> float:
    """The weight of a publication `age` seconds old (a future one weighs 1)."""
    return float(0.5 ** (max(age, 0.0) / HALF_LIFE))


def exposure(span: float) -> float:
    """∫ decay over the last `span` seconds: the weighted time a rate is measured over."""
    return HALF_LIFE / _LN2 * (1.0 - float(0.5 ** (max(span, HOUR) / HALF_LIFE)))


def hour_of(t: float) -> int:
    return int(t // HOUR) % HOURS


def profile(hours: Sequence[float], span: float) -> tuple[float, ...]:
    """24 factors of mean 1 from weighted publications per hour of the day; flat before
    `PROFILE_SPAN` of history, and pulled towards flat by `PROFILE_PRIOR`."""
    total = sum(hours)
    if span < PROFILE_SPAN or total <= 0:
        return FLAT
    smooth = [
        0.25 * hours[h - 1] + 0.5 * hours[h] + 0.25 * hours[(h + 1) % HOURS] for h in range(HOURS)
    ]
    mean = total / HOURS
    return tuple((count + PROFILE_PRIOR) / (mean + PROFILE_PRIOR) for count in smooth)


def _estimate(weight: float, hours: Sequence[float], events: int, span: float) -> Estimate:
    return Estimate(
        weight / exposure(span),
        profile(hours, span),
        enough=span >= MIN_SPAN or events >= MIN_EVENTS,
    )


def bounds(source: Polled, hint: float | None) -> tuple[float, float]:
    """A source's (lowest, highest) polls per second: its bounds, the hint a floor."""
    shortest = source.min_every
    if hint is not None and hint > shortest:
        shortest = min(hint, source.max_every)
    return 1.0 / source.max_every, 1.0 / shortest


def allocate(
    sources: Sequence[Polled],
    estimates: Mapping[str, Estimate],
    hints: Mapping[str, float] | None = None,
) -> dict[str, tuple[float, ...]]:
    """Polls per second for each source and hour of the day (UTC): the budget Σ 1/every
    shared ∝ √(rate at that hour), each within its bounds."""
    hints = hints or {}
    budget = sum(1.0 / source.every for source in sources)
    rows = []
    for source in sources:
        low, high = bounds(source, hints.get(source.id))
        high = max(high, low)
        found = estimates[source.id]
        demand = [math.sqrt(max(found.at_hour(h), 0.0)) for h in range(HOURS)]
        rows.append((source.id, low, high, demand))

    scale = _scale(budget, rows)
    return {
        ident: tuple(low if d <= 0 else min(max(scale * d, low), high) for d in demand)
        for ident, low, high, demand in rows
    }


def _scale(budget: float, rows: Sequence[tuple[str, float, float, list[float]]]) -> float:
    """The factor s for which Σ clamp(s × demand, low, high) / 24 spends `budget`: the sum
    grows piecewise linearly with s, so walk its breakpoints in order."""
    value, steps = 0.0, []
    for _, low, high, demand in rows:
        for d in demand:
            value += low / HOURS
            if d > 0:
                steps.append((low / d, d / HOURS))
                steps.append((high / d, -d / HOURS))
    if value >= budget:
        return 0.0
    steps.sort()
    at, slope = 0.0, 0.0
    for where, change in steps:
        reached = value + slope * (where - at)
        if reached >= budget and slope > 0:
            return at + (budget - value) / slope
        value, at, slope = reached, where, slope + change
    return math.inf  # even every source at its shortest interval spends less


def next_interval(frequencies: Sequence[float], now: float) -> float:
    """Seconds from `now` until one poll's worth of these hourly frequencies has passed."""
    left, t = 1.0, now
    for _ in range(10 * HOURS * 366):  # each step ends an hour; a frequency is never 0
        rate = frequencies[hour_of(t)]
        end = (math.floor(t / HOUR) + 1) * HOUR
        if rate * (end - t) >= left:
            return t + left / rate - now
        left -= rate * (end - t)
        t = end
    raise ValueError("frequencies too low to place a poll within ten years")


@dataclass
class _History:
    """What the scheduler knows of one source: its recent sightings, the counts that say
    whether its dates can be trusted, and its publications as decayed sums (at `ref`)."""

    since: float | None = None
    sightings: deque[Sighting] = field(default_factory=lambda: deque(maxlen=HISTORY))
    dates: Counter[float] = field(default_factory=Counter)
    dated: int = 0
    ahead: int = 0
    trusted: bool = False
    ref: float = 0.0
    weight: float = 0.0
    hours: list[float] = field(default_factory=lambda: [0.0] * HOURS)
    events: int = 0
    earliest: float | None = None

    def add(self, sightings: Sequence[Sighting], now: float) -> bool:
        """Record sightings; returns whether the source now has enough history."""
        for sighting in sightings:
            if len(self.sightings) == self.sightings.maxlen:
                self._count(self.sightings[0], -1)
            self.sightings.append(sighting)
            self._count(sighting, 1)
            if self.since is None or sighting.seen < self.since:
                self.since = sighting.seen
        trusted = dates_trusted(self.dated, len(self.dates), self.ahead, len(self.sightings))
        if trusted != self.trusted:
            self.trusted = trusted
            self._sum(self.sightings, now, fresh=True)
        else:
            self._sum(sightings, now, fresh=False)
        return self.estimate(now).enough

    def _count(self, sighting: Sighting, step: int) -> None:
        if sighting.published is not None:
            self.dated += step
            self.dates[sighting.published] += step
            if self.dates[sighting.published] <= 0:
                del self.dates[sighting.published]
        self.ahead += step * future(sighting)

    def _sum(self, sightings: Iterable[Sighting], now: float, *, fresh: bool) -> None:
        if fresh:
            self.weight, self.hours, self.events, self.earliest = 0.0, [0.0] * HOURS, 0, None
            self.ref = now
        elif now > self.ref:  # bring the sums to now; a clock gone back keeps the later ref
            factor = decay(now - self.ref)
            self.weight *= factor
            self.hours = [count * factor for count in self.hours]
            self.ref = now
        for sighting in sightings:
            t = publication_time(sighting, self.trusted)
            if t is None:
                continue
            weight = decay(self.ref - t)
            self.weight += weight
            self.hours[hour_of(t)] += weight
            self.events += 1
            self.earliest = t if self.earliest is None else min(self.earliest, t)

    def estimate(self, now: float) -> Estimate:
        if self.since is None:
            return Estimate(0.0, FLAT, enough=False)
        start = self.since if self.earliest is None else min(self.since, self.earliest)
        factor = decay(now - self.ref)
        return _estimate(self.weight * factor, self.hours, self.events, now - start)


class Scheduler:
    """The adaptive schedule of a set of sources: tell it what each poll found (`observe`,
    or `load` a stored history), ask it when to poll next (`interval`)."""

    def __init__(self, sources: Sequence[Polled]) -> None:
        self.sources = {source.id: source for source in sources}
        self._histories = {source.id: _History() for source in sources}
        self._hints: dict[str, float] = {}
        self._plan: dict[str, tuple[float, ...]] = {}
        self._planned_at: float | None = None
        self._stale = True

    def load(self, source_id: str, sightings: Iterable[Sighting], now: float) -> None:
        """A source's stored history, oldest first (at start)."""
        self.observe_sightings(source_id, list(sightings), now)

    def observe(
        self, source_id: str, at: float, published: Sequence[float | None], *, seed: bool = False
    ) -> None:
        """A successful poll at `at` found new items with these dates (None: undated);
        `seed`: the source's first poll, listing what was published before it was watched."""
        history = self._histories.get(source_id)
        if history is None:
            return
        if history.since is None or at < history.since:
            history.since = at
        self.observe_sightings(source_id, [Sighting(at, p, seed) for p in published], at)

    def hint(self, source_id: str) -> float | None:
        """The feed's refresh hint in force (`set_hint`), or None."""
        return self._hints.get(source_id)

    def set_hint(self, source_id: str, seconds: float | None) -> None:
        """The feed's own refresh interval (RSS `ttl`, `sy:updatePeriod`), or None: a floor
        on its interval, at most its `max_every`."""
        if seconds != self._hints.get(source_id):
            self._stale = True
            if seconds is None:
                del self._hints[source_id]
            else:
                self._hints[source_id] = seconds

    def observe_sightings(self, source_id: str, sightings: Sequence[Sighting], now: float) -> None:
        history = self._histories.get(source_id)
        if history is None or (not sightings and history.since is not None):
            return
        enough = history.add(sightings, now)
        if self.sources[source_id].adaptive and enough != (source_id in self._plan):
            self._stale = True  # it joins (or leaves) the shared budget

    def interval(self, source_id: str, now: float) -> float:
        """Seconds from `now` to the next poll after a successful one (before jitter)."""
        source = self.sources[source_id]
        if not source.adaptive:
            return source.every
        frequencies = self._current(now).get(source_id)
        if frequencies is None:
            return source.every
        return min(max(next_interval(frequencies, now), source.min_every), source.max_every)

    def rate(self, source_id: str, now: float) -> float | None:
        """The source's recent rate in items per day (None: nothing known yet)."""
        history = self._histories.get(source_id)
        if history is None or history.since is None:
            return None
        return history.estimate(now).per_day

    def _current(self, now: float) -> dict[str, tuple[float, ...]]:
        planned = self._planned_at
        if self._stale or planned is None or not planned <= now < planned + REPLAN:
            pool = []
            estimates = {}
            for source in self.sources.values():
                found = self._histories[source.id].estimate(now)
                if source.adaptive and found.enough:
                    pool.append(source)
                    estimates[source.id] = found
            self._plan = allocate(pool, estimates, self._hints) if pool else {}
            self._planned_at, self._stale = now, False
        return self._plan
