"""Route rules: when they fire, and what their alert says (pure).

`at_least`: fire when the count in the trailing window reaches the value (including the
first evaluation); stay quiet while it stays there or grows; re-arm when it falls below.
`spike`: fire when count ≥ spike × count(previous window of the same length) and count ≥
`min_count`; re-arm when that stops holding. A rule is evaluated only once every day it
reads was attempted (`Coverage.ready`), so the initial backfill never fires a partial count.
`each`: one alert for every new flight (`render_flight`); `holds` and `decide` are not used.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from bot.config.types import RouteRule
from bot.flights.plan import Coverage
from bot.render import Rendered
from bot.store.records import NewFlight, StoredFlight
from watchers.airports import airport

MAX_LISTED = 40
MAX_AIRCRAFT_SHOWN = 5  # an `each` alert names at most this many of its rule's aircraft


@dataclass(frozen=True, slots=True)
class Decision:
    """What an evaluation does: `fire` an alert now; the rule is `firing` afterwards."""

    fire: bool
    firing: bool


def holds(rule: RouteRule, count: int, previous: int | None) -> bool:
    """Whether the rule's condition holds for these counts."""
    if rule.at_least is not None:
        return count >= rule.at_least
    assert rule.spike is not None  # noqa: S101 - the config guarantees one of the two
    return count >= rule.min_count and count >= rule.spike * (previous or 0)


def decide(rule: RouteRule, count: int, previous: int | None, firing: bool) -> Decision:
    """Fire on the transition into the condition; re-arm when it stops holding."""
    now_holds = holds(rule, count, previous)
    return Decision(fire=now_holds and not firing, firing=now_holds)


def window_text(seconds: float) -> str:
    """ "30 days", "1 day", "12 hours"."""
    if seconds >= 86400 and seconds % 86400 == 0:
        days = int(seconds // 86400)
        return f"{days} day{'s' if days != 1 else ''}"
    hours = seconds / 3600
    return f"{hours:g} hour{'s' if hours != 1 else ''}"


def place(codes: Sequence[str]) -> str:
    """Airports by city: "Benghazi (HLLB)", several joined by " / " (unknown: the code)."""
    names = []
    for code in codes:
        known = airport(code)
        names.append(f"{known.city or known.name} ({code})" if known else code)
    return " / ".join(names)


def aircraft_label(flight: StoredFlight) -> str:
    """The aircraft's registration and ICAO type where known ("EW-455PA B738"), else ""."""
    return " ".join(part for part in (flight.registration, flight.aircraft_type) if part)


def flight_bullet(flight: StoredFlight) -> str:
    """One flight of an alert: "• 2025-06-05 BRU8801 510207 EW-455PA B738" (the aircraft
    where known)."""
    text = f"• {flight.departure:%Y-%m-%d} {flight.callsign or 'no callsign'} {flight.icao24}"
    label = aircraft_label(flight)
    return f"{text} {label}" if label else text


def render_route(
    rule: RouteRule,
    flights: Sequence[StoredFlight],
    previous: int | None,
    coverage: Coverage,
) -> Rendered:
    """The alert for a route rule that fired (Telegram HTML and plain text)."""
    count = len(flights)
    window = window_text(rule.window)
    headline = f"✈ {rule.label}: {count} flight{'s' if count != 1 else ''} in the last {window}"
    if rule.spike is not None:
        headline += f", {previous or 0} in the {window} before"
    route = f"{place(rule.origins)} → {place(rule.destinations)}"
    if rule.operator:
        route += f" · operator {rule.operator}"
    lines = [flight_bullet(f) for f in flights[:MAX_LISTED]]
    if count > MAX_LISTED:
        lines.append(f"… and {count - MAX_LISTED} more")
    if rule.at_least is not None:
        condition = f"at least {rule.at_least}"
    else:
        condition = f"spike ×{rule.spike:g} with at least {rule.min_count}"
    tail = f"{condition} · {coverage.describe()}"
    plain = "\n".join([headline, route, *lines, tail, f"rule {rule.id}"])
    escaped = [html.escape(line) for line in lines]
    markup = "\n".join(
        [
            f"<b>{html.escape(headline)}</b>",
            html.escape(route),
            *escaped,
            html.escape(tail),
            f"rule <code>{html.escape(rule.id)}</code>",
        ]
    )
    return Rendered(html=markup, plain=plain, link="")


def render_flight(rule: RouteRule, new: NewFlight) -> Rendered:
    """The alert of an `each` rule for one new flight (Telegram HTML and plain text): the
    route by city, callsign and icao24, the aircraft where known, departure and arrival
    (UTC), the sources that saw it, the rule."""
    flight = new.flight
    callsign = flight.callsign or "no callsign"
    headline = f"✈ {rule.label}: new flight {callsign} ({flight.icao24})"
    route = f"{_end(flight.departure_airport)} → {_end(flight.arrival_airport)}"
    known = [aircraft_label(flight), flight.owner or "", "military" if flight.military else ""]
    aircraft = [f"aircraft {' · '.join(part for part in known if part)}"] if any(known) else []
    times = f"departed {flight.departure:%Y-%m-%d %H:%M} UTC"
    if new.arrival is not None:
        same_day = new.arrival.date() == flight.departure.date()
        times += f" · arrived {new.arrival:{'%H:%M' if same_day else '%Y-%m-%d %H:%M'}} UTC"
    condition = "each new flight"
    if rule.operator:
        condition += f" · operator {rule.operator}"
    if rule.icao24 and (rule.origins or rule.destinations):
        shown = ", ".join(rule.icao24[:MAX_AIRCRAFT_SHOWN])
        more = len(rule.icao24) - MAX_AIRCRAFT_SHOWN
        condition += f" · aircraft {shown}" + (f" +{more}" if more > 0 else "")
    lines = [
        route,
        *aircraft,
        times,
        f"seen by {', '.join(flight.sources)}",
        condition,
    ]
    plain = "\n".join([headline, *lines, f"rule {rule.id}"])
    markup = "\n".join(
        [
            f"<b>{html.escape(headline)}</b>",
            *(html.escape(line) for line in lines),
            f"rule <code>{html.escape(rule.id)}</code>",
        ]
    )
    return Rendered(html=markup, plain=plain, link="")


def _end(code: str | None) -> str:
    """One end of a flight: "Minsk (UMMS)", or "unknown airport"."""
    return place([code]) if code else "unknown airport"
