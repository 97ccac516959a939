"""Route alerts with a chart (`chart = true`): the alert goes out as a photo of the route's
bar chart, its text the caption (DESIGN §6 "Route evidence").

The chart is drawn when the alert is queued, from `bot.flights.evidence.route_report` over
the rule's window up to today: per day for windows up to 31 days, per ISO week up to 180
days, else per month. Telegram allows 1024 characters in a caption (after parsing): a longer
text becomes a short caption (headline, route, condition with coverage, rule) and the whole
text follows as a second outbox row, queued in the same transaction (dedup key `…|list`).
Whatever goes wrong drawing, the alert is the text alone (one warning).

When a firing rule's alert is rendered again (`refit`), a photo keeps its picture and gets
the new text as its caption, fitted the same way; its list row, if any, gets the whole text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.config.types import RouteRule
from bot.flights.evidence import chart_bars, chart_subtitle, periods_for, route_report
from bot.render import Rendered, visible_length
from bot.store.records import NewAlert

if TYPE_CHECKING:
    from bot.store import Store

log = logging.getLogger(__name__)

MAX_CAPTION = 1024  # Telegram's limit for a photo caption, after entity parsing
LIST_SUFFIX = "|list"  # the dedup key suffix of the flight list that follows a photo
FOLLOWS = "(the flights follow in the next message)"
ELSEWHERE = "(the flights: /route or `vedette route`)"


def chart_by(window: float) -> str:
    """The periods a rule's window (seconds) is charted in, as `/route` shows a span of that
    many days (`bot.flights.evidence.periods_for`)."""
    return periods_for(window / 86400)


def route_chart(store: Store, rule: RouteRule, now: datetime) -> bytes:
    """The rule's bar chart (PNG) over its window up to today (UTC days); raises
    `bot.chart.ChartError` (or anything else) when it cannot be drawn."""
    from bot.chart import bar_chart  # the chart's imports are paid only when one is drawn

    report = route_report(
        store,
        rule.origins,
        rule.destinations,
        operator=rule.operator,
        by=chart_by(rule.window),
        start=(now - timedelta(seconds=rule.window)).astimezone(UTC).date(),
        end=now.astimezone(UTC).date(),
        now=now,
    )
    return bar_chart(report.title, chart_bars(report), subtitle=chart_subtitle(report))


def fits(text: Rendered) -> bool:
    """Whether `text` fits a caption (its plain form is what Telegram shows)."""
    return visible_length(text.plain) <= MAX_CAPTION


def short_caption(text: Rendered, note: str) -> Rendered:
    """A route alert without its flight lines: its first two lines (headline with the
    count, route), its last two (condition with coverage, rule) and `note`."""

    def cut(lines: list[str]) -> str:
        kept = [*lines[:2], *lines[-2:]] if len(lines) > 4 else lines
        return "\n".join([*kept, note])

    return Rendered(
        html=cut(text.html.split("\n")), plain=cut(text.plain.split("\n")), link=text.link
    )


def chart_alert(
    store: Store,
    rule: RouteRule,
    alert: NewAlert,
    now: datetime,
    *,
    draw: Callable[[Store, RouteRule, datetime], bytes] = route_chart,
) -> tuple[NewAlert, tuple[NewAlert, ...]]:
    """`alert` with the rule's chart (`draw`) as its photo, and the rows to queue after it
    (the flight list, when the text does not fit a caption); `alert` as it was (text alone)
    when no chart can be drawn."""
    try:
        png = draw(store, rule, now)
    except Exception as exc:  # whatever goes wrong drawing, the alert still goes out
        log.warning(
            "route rule %s: no chart (%s: %s); the alert is sent as text",
            rule.id,
            type(exc).__name__,
            exc,
        )
        return alert, ()
    text = Rendered(alert.html, alert.plain, alert.link)
    if fits(text):
        return replace(alert, photo=png), ()
    short = short_caption(text, FOLLOWS)
    if not fits(short):
        log.warning("route rule %s: its alert is too long for a caption; sent as text", rule.id)
        return alert, ()
    listed = replace(
        alert, dedup_key=alert.dedup_key + LIST_SUFFIX, item_key=alert.item_key + LIST_SUFFIX
    )
    return replace(alert, html=short.html, plain=short.plain, photo=png), (listed,)


def refit(store: Store, row_id: int, dedup_key: str, text: Rendered, now: datetime) -> Rendered:
    """The new text for alert `row_id` (dedup key `dedup_key`) rendered again: as it is for a
    text message; for a photo, a caption that fits, the whole text going to its list row
    (whose message is edited too), if it has one."""
    if not store.alert_has_photo(row_id):
        return text
    list_id = store.alert_id(dedup_key + LIST_SUFFIX)
    if list_id is not None:
        store.update_alert(list_id, text.html, text.plain, now, source_id="routes")
        return short_caption(text, FOLLOWS)
    if fits(text):
        return text
    return short_caption(text, ELSEWHERE)
