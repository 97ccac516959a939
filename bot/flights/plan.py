"""Which OpenSky days to fetch, and how complete a route's window is (pure).

OpenSky lists an airport's flights per UTC day from a nightly batch, so day D can be
fetched once D has ended and the batch has run (`BATCH_DELAY` after midnight). vedette
fetches each day when it becomes available, fetches it once more a day later (late data),
and on start backfills the days of its history it lacks, newest first. A day that failed
or was rate-limited is fetched again at the next poll, its first retry ahead of every other
day (so a rule waiting for it is not held up by a long backfill).

A route rule is first evaluated once every day it reads was attempted and each day that
failed (or was rate-limited) was attempted once more (`Coverage.ready`): a passing outage
does not fire a partial count. If the retry fails too, the rule is evaluated with the day
reported as a gap (the day is still fetched again at later polls).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from bot.config.types import OpenSkySource, RouteRule
from bot.store.records import CoverageEntry
from bot.words import plural
from watchers.opensky import FlightKind

BATCH_DELAY = timedelta(hours=4)
DIRECTIONS: tuple[FlightKind, ...] = ("departure", "arrival")
FETCHED = ("ok", "empty")


@dataclass(frozen=True, slots=True)
class DayQuery:
    """One call to make: an airport's departures or arrivals on one UTC day."""

    airport: str
    direction: FlightKind
    day: date


def start_of(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, time(0), UTC)


def last_available_day(now: datetime) -> date:
    """The newest day the nightly batch should have published by `now`."""
    return (now - BATCH_DELAY).astimezone(UTC).date() - timedelta(days=1)


def history(now: datetime, days: int) -> list[date]:
    """The `days` newest available days, newest first."""
    last = last_available_day(now)
    return [last - timedelta(days=n) for n in range(days)]


def due_queries(
    source: OpenSkySource, ledger: Iterable[CoverageEntry], now: datetime
) -> list[DayQuery]:
    """The calls this source should make now: first retries of failed days, then the
    rest, newest day first."""
    entries = {(e.airport, e.direction, e.day): e for e in ledger if e.source_id == source.id}
    retries: list[DayQuery] = []
    due: list[DayQuery] = []
    for day in history(now, source.history_days):
        recheck_at = start_of(day) + timedelta(days=2) + BATCH_DELAY
        for airport in source.airports:
            for direction in DIRECTIONS:
                entry = entries.get((airport, direction, day))
                # The late-data recheck is due when no fetch came after its time (a day that
                # needed a retry on its first day still gets it).
                if (
                    entry is None
                    or entry.status not in FETCHED
                    or entry.fetched_at < recheck_at <= now
                ):
                    query = DayQuery(airport, direction, day)
                    if entry is not None and entry.status not in FETCHED and entry.fetches < 2:
                        retries.append(query)
                    else:
                        due.append(query)
    return retries + due


@dataclass(frozen=True, slots=True)
class Coverage:
    """How complete a route rule's days are.

    `ready`: every available day was attempted at least once, and each failed day once
    more (so the initial backfill never fires a partial count, nor does a passing outage).
    `gaps`: attempted days that failed or were rate-limited; `retrying`: those of them
    attempted only once (their retry is due at the next poll). `unchecked`: no OpenSky
    source watches the route's airports (live sources only).
    """

    days: tuple[date, ...]
    missing: tuple[date, ...]
    gaps: tuple[date, ...]
    unchecked: bool = False
    retrying: tuple[date, ...] = ()

    @property
    def ready(self) -> bool:
        return not self.missing and not self.retrying

    @property
    def complete(self) -> bool:
        return not self.unchecked and not self.missing and not self.gaps

    def describe(self) -> str:
        """One line for alerts and `/status`."""
        if self.unchecked:
            return "incomplete coverage: live ADS-B only, no daily flight lists"
        if self.missing:
            total = plural(len(self.days), "day")
            return f"incomplete coverage: {len(self.missing)} of {total} not fetched yet"
        if self.retrying:
            shown = ", ".join(d.isoformat() for d in self.retrying[:5])
            more = f" and {len(self.retrying) - 5} more" if len(self.retrying) > 5 else ""
            failed = plural(len(self.retrying), "failed day")
            return f"incomplete coverage: {failed} to fetch again ({shown}{more})"
        if self.gaps:
            shown = ", ".join(d.isoformat() for d in self.gaps[:5])
            more = f" and {len(self.gaps) - 5} more" if len(self.gaps) > 5 else ""
            failed = plural(len(self.gaps), "day")
            return f"incomplete coverage: {failed} failed ({shown}{more})"
        return f"complete coverage ({plural(len(self.days), 'day')})"


def watched_airports(rule: RouteRule, sources: Sequence[OpenSkySource]) -> list[tuple[str, str]]:
    """The (source id, airport) pairs whose daily lists cover the route's airports."""
    airports = {*rule.origins, *rule.destinations}
    return list(dict.fromkeys((s.id, a) for s in sources for a in s.airports if a in airports))


def rule_days(rule: RouteRule, now: datetime) -> tuple[date, ...]:
    """The available days `rule` reads: its window, and the previous one for spike."""
    first = (now - timedelta(days=rule.history_days)).astimezone(UTC).date()
    last = last_available_day(now)
    return tuple(first + timedelta(days=n) for n in range((last - first).days + 1))


def coverage_of(
    days: Sequence[date],
    watched: Sequence[tuple[str, str]],
    counts: Mapping[date, tuple[int, int]],
    unretried: Collection[date] = (),
) -> Coverage:
    """Coverage from the ledger rows of the `watched` pairs per day: (rows, rows not fetched).

    A day is missing unless each pair has a row for both directions; it is a gap when one
    of them failed or was rate-limited (`Store.coverage_days` counts them in SQLite), and
    a gap still to retry when it is in `unretried` (`Store.unretried_days`).
    """
    if not watched:
        return Coverage(tuple(days), (), (), unchecked=True)
    expected = len(watched) * len(DIRECTIONS)
    missing: list[date] = []
    gaps: list[date] = []
    for day in days:
        rows, bad = counts.get(day, (0, 0))
        if rows < expected:
            missing.append(day)
        elif bad:
            gaps.append(day)
    retrying = tuple(day for day in gaps if day in unretried)
    return Coverage(tuple(days), tuple(missing), tuple(gaps), retrying=retrying)


@dataclass(frozen=True, slots=True)
class Backfill:
    """How many days of a source's history are fetched: each airport's departures and
    arrivals have a good ledger row (`ok` or `empty`)."""

    fetched: int
    total: int

    @property
    def missing(self) -> int:
        return self.total - self.fetched

    @property
    def complete(self) -> bool:
        return self.fetched >= self.total

    def describe(self) -> str:
        """`12 of 70 days fetched, 58 to go` (or `70 days fetched` when complete)."""
        if self.complete:
            return f"{plural(self.total, 'day')} fetched"
        return f"{self.fetched} of {plural(self.total, 'day')} fetched, {self.missing} to go"


class BackfillTracker:
    """The days of a source's history fetched so far, updated as a poll's queries finish."""

    def __init__(
        self, source: OpenSkySource, ledger: Iterable[CoverageEntry], now: datetime
    ) -> None:
        self.days = set(history(now, source.history_days))
        self.expected = len(source.airports) * len(DIRECTIONS)
        self.pairs: dict[date, set[tuple[str, str]]] = {}
        for entry in ledger:
            if entry.source_id == source.id and entry.status in FETCHED:
                self.pairs.setdefault(entry.day, set()).add((entry.airport, entry.direction))

    def mark(self, query: DayQuery, fetched: bool) -> None:
        """Note a query's outcome (a failed recheck makes its day unfetched again)."""
        pairs = self.pairs.setdefault(query.day, set())
        if fetched:
            pairs.add((query.airport, query.direction))
        else:
            pairs.discard((query.airport, query.direction))

    def state(self) -> Backfill:
        done = sum(1 for day in self.days if len(self.pairs.get(day, ())) >= self.expected)
        return Backfill(done, len(self.days))
