"""Route rules: when they fire, and what their alert says (pure).

`at_least`: fire when the count in the trailing window reaches the value (including the
first evaluation); stay quiet while it stays there or grows; re-arm when it falls below.
`spike`: fire when count ≥ spike × count(previous window of the same length) and count ≥
`min_count`; re-arm when that stops holding. A rule is evaluated only once every day it
reads was attempted (`Coverage.ready`), so the initial backfill never fires a partial count.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from bot.config.types import RouteRule
from bot.flights.plan import Coverage
from bot.render import Rendered
from bot.store.records import StoredFlight
from watchers.airports import airport

MAX_LISTED = 40


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
    lines = [
        f"• {f.departure:%Y-%m-%d} {f.callsign or 'no callsign'} {f.icao24}"
        for f in flights[:MAX_LISTED]
    ]
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
