"""Route evidence: a route's flights per day, ISO week or month, each period with its coverage.

What `vedette route` prints and `/route` sends: "Belavia flew Benghazi→Minsk 2 times in May,
5 in June, 4 in July", with the days behind each number. `route_report` reads the store (the
stored flights, and the coverage ledger: no configuration needed); the rest is pure.

Coverage comes from the ledger alone: the (source, airport) pairs it holds days of for the
route's airports say which daily flight lists exist, and a day is covered when each of them
has both directions fetched (`bot.flights.plan.coverage_of`). No pair at all: the route is
seen by live ADS-B only (`unchecked`). Days after the newest day OpenSky has published are
not fetched *yet* (`pending`), which is not the same as a fetch that failed (`gaps`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.config.flights import AIRPORT_HINT, resolve_airports, unknown_airport
from bot.flights.plan import coverage_of, last_available_day, start_of
from bot.flights.routes import aircraft_label, place
from bot.store.records import StoredFlight
from bot.words import plural
from watchers.clock import utcnow

if TYPE_CHECKING:
    from bot.chart import Bar
    from bot.store import Store

BY = ("day", "week", "month")
DEFAULT_DAYS = 180  # the span when none is given: 180 days up to today
SHOWN_DAYS = 2  # days named in a coverage note before "…"


@dataclass(frozen=True, slots=True)
class Period:
    """One row of the table: a day, an ISO week or a month, clipped to the report's span.

    `missing`: days not fetched (no ledger row for every watched airport and direction);
    `pending`: those of them OpenSky has not published yet (after its newest day);
    `gaps`: days whose fetch failed or was rate-limited; `unchecked`: no daily list covers
    these airports (live ADS-B only).
    """

    label: str
    start: date
    end: date
    count: int
    missing: tuple[date, ...]
    gaps: tuple[date, ...]
    unchecked: bool = False
    pending: tuple[date, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.unchecked and not self.missing and not self.gaps


@dataclass(frozen=True, slots=True)
class RouteReport:
    """Flights per period on a route (codes are ICAO), oldest period first."""

    origins: tuple[str, ...]
    destinations: tuple[str, ...]
    operator: str | None
    by: str
    start: date
    end: date
    title: str
    periods: tuple[Period, ...]
    flights: tuple[StoredFlight, ...]

    @property
    def total(self) -> int:
        return sum(p.count for p in self.periods)

    @property
    def complete(self) -> bool:
        return all(p.complete for p in self.periods)


def periods(by: str, start: date, end: date) -> list[tuple[str, date, date]]:
    """The (label, first day, last day) of each day, ISO week or month touching [start,
    end], clipped to it: "2025-06-05", "2025-W23" (ISO year and week), "2025-06"."""
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}, not {by!r}")
    found: list[tuple[str, date, date]] = []
    day = start
    while day <= end:
        if by == "day":
            label, last = day.isoformat(), day
        elif by == "week":
            year, week, weekday = day.isocalendar()
            label, last = f"{year}-W{week:02d}", day + timedelta(days=7 - weekday)
        else:
            label = f"{day:%Y-%m}"
            last = date(day.year + day.month // 12, day.month % 12 + 1, 1) - timedelta(days=1)
        last = min(last, end)
        found.append((label, day, last))
        day = last + timedelta(days=1)
    return found


def airports_of(text: str) -> tuple[str, ...]:
    """The ICAO codes of "BEN", "HLLB" or "BEN,MJI" (IATA or ICAO codes, read as route
    rules read them); `ValueError` naming every unknown code."""
    codes = [code.strip() for code in text.split(",") if code.strip()]
    if not codes:
        raise ValueError(f"no airport code ({AIRPORT_HINT})")
    found, unknown = resolve_airports(codes)
    if len(unknown) == 1:
        raise ValueError(unknown_airport(unknown[0]))
    if unknown:
        names = ", ".join(f'"{code}"' for code in unknown)
        raise ValueError(f"unknown airport codes {names} ({AIRPORT_HINT})")
    return found


BY_DAY_UP_TO = 31  # spans of up to this many days are counted per day (a bar a day),
BY_WEEK_UP_TO = 90  # up to this many per ISO week, longer ones per month


def periods_for(days: float) -> str:
    """The periods a span of `days` is shown in (`/route`, `chart = true` alerts): "day",
    "week" or "month", so that a chart has between a few and about thirty bars."""
    return "day" if days <= BY_DAY_UP_TO else "week" if days <= BY_WEEK_UP_TO else "month"


def span(
    now: datetime,
    *,
    since: float | None = None,
    first: date | None = None,
    last: date | None = None,
) -> tuple[date, date]:
    """The UTC days a report covers: `since` seconds back from `now` up to today; or
    `first` to `last` (default: today), `last` alone being its last `DEFAULT_DAYS` days;
    nothing: the last `DEFAULT_DAYS` days. `ValueError` for a contradiction."""
    today = now.astimezone(UTC).date()
    if since is not None:
        if first is not None or last is not None:
            raise ValueError("--since counts back from today: give it alone, or --from/--to")
        return (now - timedelta(seconds=since)).astimezone(UTC).date(), today
    end = last or today
    start = first or end - timedelta(days=DEFAULT_DAYS)
    if start > end:
        limit = f"--to {end}" if last is not None else f"today ({end})"
        raise ValueError(f"--from {start} is after {limit}")
    return start, end


def title(origins: Sequence[str], destinations: Sequence[str], operator: str | None) -> str:
    """ "Benghazi (HLLB) → Minsk (UMMS) · operator BRU"."""
    text = f"{place(origins)} → {place(destinations)}"
    return f"{text} · operator {operator}" if operator else text


def route_report(
    store: Store,
    origins: Sequence[str],
    destinations: Sequence[str],
    *,
    operator: str | None,
    by: str,
    start: date,
    end: date,
    now: datetime | None = None,
) -> RouteReport:
    """The flights from `origins` to `destinations` (ICAO codes; of `operator`, if given)
    that departed on the UTC days [start, end], per `by` ("day", "week" or "month"), with
    each period's coverage as of `now` (default: the clock)."""
    if not origins or not destinations:
        raise ValueError("a route needs at least one origin and one destination")
    if start > end:
        raise ValueError(f"the span starts ({start}) after it ends ({end})")
    spans = periods(by, start, end)
    flights = store.flights_between(
        origins, destinations, start_of(start), start_of(end + timedelta(days=1)), operator
    )
    watched = store.coverage_pairs({*origins, *destinations})
    ledger = store.coverage_days(watched, start, end) if watched else {}
    available = last_available_day(now or utcnow())
    counts: dict[date, int] = {}
    for flight in flights:
        day = flight.departure.date()
        counts[day] = counts.get(day, 0) + 1
    rows: list[Period] = []
    for label, first, last in spans:
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        coverage = coverage_of(days, watched, ledger)
        rows.append(
            Period(
                label=label,
                start=first,
                end=last,
                count=sum(counts.get(day, 0) for day in days),
                missing=coverage.missing,
                gaps=coverage.gaps,
                unchecked=coverage.unchecked,
                pending=tuple(day for day in coverage.missing if day > available),
            )
        )
    return RouteReport(
        origins=tuple(origins),
        destinations=tuple(destinations),
        operator=operator,
        by=by,
        start=start,
        end=end,
        title=title(origins, destinations, operator),
        periods=tuple(rows),
        flights=tuple(flights),
    )


def _days(days: Sequence[date], what: str, *, dates: bool) -> str:
    text = f"{plural(len(days), 'day')} {what}"
    if not dates:
        return text
    shown = ", ".join(day.isoformat() for day in days[:SHOWN_DAYS])
    return f"{text} ({shown}{'…' if len(days) > SHOWN_DAYS else ''})"


def _coverage(
    missing: Sequence[date],
    pending: Sequence[date],
    gaps: Sequence[date],
    unchecked: bool,
    *,
    dates: bool = True,
) -> str:
    if unchecked:
        return "live only (no daily flight lists)"
    waiting = set(pending)
    parts = []
    unfetched = [day for day in missing if day not in waiting]
    if unfetched:
        parts.append(_days(unfetched, "not fetched", dates=dates))
    if pending:
        parts.append(_days(pending, "not fetched yet", dates=dates))
    if gaps:
        parts.append(_days(gaps, "failed", dates=dates))
    return ", ".join(parts) or "complete"


def coverage_text(period: Period) -> str:
    """ "complete", "3 days not fetched (2025-06-04, 2025-06-05…)", "1 day failed
    (2025-06-09)", "1 day not fetched yet (…)" (OpenSky has not published it), or
    "live only (no daily flight lists)"."""
    return _coverage(period.missing, period.pending, period.gaps, period.unchecked)


def total_coverage_text(report: RouteReport) -> str:
    """The coverage of the whole span, counted without dates: "complete", "live only …",
    or "incomplete: 3 days not fetched yet, 1 day failed"."""
    text = _coverage(
        [day for p in report.periods for day in p.missing],
        [day for p in report.periods for day in p.pending],
        [day for p in report.periods for day in p.gaps],
        any(p.unchecked for p in report.periods),
        dates=False,
    )
    return text if text == "complete" or text.startswith("live only") else f"incomplete: {text}"


def aircraft(flight: StoredFlight) -> str:
    """The aircraft's registration and type, where known ("EW-455PA B738"; "" when neither
    is, and a list where no flight's is known leaves the column out)."""
    return aircraft_label(flight)


def flight_line(flight: StoredFlight) -> list[str]:
    """The columns of one flight: UTC departure, callsign, icao24, route, aircraft, sources."""
    return [
        f"{flight.departure:%Y-%m-%d %H:%M}",
        flight.callsign or "-",
        flight.icao24,
        f"{flight.departure_airport or '?'}→{flight.arrival_airport or '?'}",
        aircraft(flight),
        ",".join(flight.sources),
    ]


def _table(rows: Iterable[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    """Fixed-width columns two spaces apart (`right`: columns aligned right); empty columns
    are left out."""
    cells_of = [list(row) for row in rows]
    if not cells_of:
        return []
    keep = [i for i in range(len(cells_of[0])) if any(row[i] for row in cells_of)]
    widths = {i: max(len(row[i]) for row in cells_of) for i in keep}
    lines = []
    for row in cells_of:
        cells = [row[i].rjust(widths[i]) if i in right else row[i].ljust(widths[i]) for i in keep]
        lines.append("  ".join(cells).rstrip())
    return lines


def span_text(report: RouteReport) -> str:
    """ "flights per month, 2025-05-01 to 2025-07-31 (UTC days)"."""
    return f"flights per {report.by}, {report.start} to {report.end} (UTC days)"


def report_text(report: RouteReport) -> str:
    """The title, the table of periods (flights, coverage) with a total line, then every
    flight, oldest first (plain text, fixed width)."""
    table = [["period", "flights", "coverage"]]
    table += [[p.label, str(p.count), coverage_text(p)] for p in report.periods]
    table.append(["total", str(report.total), total_coverage_text(report)])
    lines = [report.title, span_text(report), "", *_table(table, right=[1]), ""]
    if report.flights:
        lines.append(f"{plural(len(report.flights), 'flight')} (UTC):")
        lines += _table(flight_line(f) for f in report.flights)
    else:
        lines.append("No flights.")
    return "\n".join(lines)


def report_data(report: RouteReport) -> dict[str, Any]:
    """The report as JSON-ready data (`vedette route --json`; the README shows the shape)."""
    return {
        "title": report.title,
        "from": list(report.origins),
        "to": list(report.destinations),
        "operator": report.operator,
        "by": report.by,
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "total": report.total,
        "complete": report.complete,
        "periods": [
            {
                "label": p.label,
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "flights": p.count,
                "complete": p.complete,
                "missing": [day.isoformat() for day in p.missing],
                "pending": [day.isoformat() for day in p.pending],
                "gaps": [day.isoformat() for day in p.gaps],
                "unchecked": p.unchecked,
            }
            for p in report.periods
        ],
        "flights": [
            {
                "departure": f.departure.isoformat(timespec="seconds"),
                "callsign": f.callsign,
                "icao24": f.icao24,
                "from": f.departure_airport,
                "to": f.arrival_airport,
                "registration": f.registration,
                "type": f.aircraft_type,
                "owner": f.owner,
                "military": f.military,
                "sources": list(f.sources),
            }
            for f in report.flights
        ],
    }


def chart_bars(report: RouteReport) -> list[Bar]:
    """One bar per period for `bot.chart.bar_chart`; incomplete periods are marked."""
    from bot.chart import Bar  # the chart's imports are paid only when a chart is drawn

    return [Bar(p.label, p.count, p.complete) for p in report.periods]


def chart_subtitle(report: RouteReport) -> str:
    """The chart's subtitle: "flights per month, 2025-05-01 to 2025-07-31 (UTC days)" (the
    chart's legend explains the marked bars)."""
    return span_text(report)
