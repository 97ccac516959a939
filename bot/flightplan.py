"""Which OpenSky days to fetch, and how complete a route's window is (pure).

OpenSky lists an airport's flights per UTC day from a nightly batch, so day D can be
fetched once D has ended and the batch has run (`BATCH_DELAY` after midnight). vedette
fetches each day when it becomes available, fetches it once more a day later (late data),
and on start backfills the days of its history it lacks, newest first. A day that failed
or was rate-limited is fetched again at the next poll.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from bot.configtypes import OpenSkySource, RouteRule
from bot.store_flights import CoverageEntry
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
    """The calls this source should make now, newest day first."""
    entries = {(e.airport, e.direction, e.day): e for e in ledger if e.source_id == source.id}
    due: list[DayQuery] = []
    for day in history(now, source.history_days):
        recheck_at = start_of(day) + timedelta(days=2) + BATCH_DELAY
        for airport in source.airports:
            for direction in DIRECTIONS:
                entry = entries.get((airport, direction, day))
                if (
                    entry is None
                    or entry.status not in FETCHED
                    or (entry.fetches < 2 and entry.fetched_at < recheck_at <= now)
                ):
                    due.append(DayQuery(airport, direction, day))
    return due


@dataclass(frozen=True, slots=True)
class Coverage:
    """How complete a route rule's days are.

    `ready`: every available day was attempted at least once (so the initial backfill
    never fires a partial count). `gaps`: attempted days that failed or were rate-limited.
    `unchecked`: no OpenSky source watches the route's airports (live sources only).
    """

    days: tuple[date, ...]
    missing: tuple[date, ...]
    gaps: tuple[date, ...]
    unchecked: bool = False

    @property
    def ready(self) -> bool:
        return not self.missing

    @property
    def complete(self) -> bool:
        return not self.unchecked and not self.missing and not self.gaps

    def describe(self) -> str:
        """One line for alerts and `/status`."""
        if self.unchecked:
            return "incomplete coverage: live ADS-B only, no daily flight lists"
        if self.missing:
            return (
                f"incomplete coverage: {len(self.missing)} of {len(self.days)} days not fetched yet"
            )
        if self.gaps:
            shown = ", ".join(d.isoformat() for d in self.gaps[:5])
            more = f" and {len(self.gaps) - 5} more" if len(self.gaps) > 5 else ""
            return f"incomplete coverage: {len(self.gaps)} days failed ({shown}{more})"
        return f"complete coverage ({len(self.days)} days)"


def route_coverage(
    rule: RouteRule,
    sources: Sequence[OpenSkySource],
    ledger: Iterable[CoverageEntry],
    now: datetime,
) -> Coverage:
    """The coverage of the days `rule` reads (its window, and the previous one for spike)."""
    airports = {*rule.origins, *rule.destinations}
    watched = [(s.id, a) for s in sources for a in s.airports if a in airports]
    first = (now - timedelta(days=rule.history_days)).astimezone(UTC).date()
    last = last_available_day(now)
    days = tuple(first + timedelta(days=n) for n in range((last - first).days + 1))
    if not watched:
        return Coverage(days, (), (), unchecked=True)
    status = {(e.source_id, e.airport, e.direction, e.day): e.status for e in ledger}
    missing: list[date] = []
    gaps: list[date] = []
    for day in days:
        states = [status.get((s, a, d, day)) for s, a in watched for d in DIRECTIONS]
        if any(state is None for state in states):
            missing.append(day)
        elif any(state not in FETCHED for state in states):
            gaps.append(day)
    return Coverage(days, tuple(missing), tuple(gaps))
