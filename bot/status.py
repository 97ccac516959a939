"""The `/status` report: gathered from the store, rendered by pure functions.

`vedette status` prints the same text, whole, from the database (for `docker exec`), or as
JSON with `--json`; `/status` sends it as as many Telegram messages as it needs, the summary
first. Nothing is ever left out, however many sources there are.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot import __version__
from bot.flights.plan import Backfill
from bot.render import MESSAGE_BUDGET, split_messages, visible_length
from bot.store import Store
from bot.store.records import FlightProgress, Mute, OutboxCounts, SourceHealth, StorageReport
from bot.timeutil import ago, duration, from_iso, iso, since
from bot.words import plural

MAX_CHARS = MESSAGE_BUDGET  # per /status message, under Telegram's 4096 UTF-16 units
WRAP = 1000  # a list of removed sources wraps at this width, so no line is cut
HEARTBEAT_STALE = 120.0


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Everything `/status` shows, as read from the database."""

    version: str
    started_at: str | None
    heartbeat_at: str | None
    stopped_at: str | None
    sources: tuple[SourceHealth, ...]
    outbox: OutboxCounts
    configured_sources: tuple[str, ...] = ()
    routes: tuple[RouteLine, ...] = ()
    mutes: tuple[Mute, ...] = ()
    muted: int = 0
    storage: StorageReport | None = None
    meta: Mapping[str, str] = field(default_factory=dict)
    progress: Mapping[str, FlightProgress] = field(default_factory=dict)
    paused: Mapping[str, datetime] = field(default_factory=dict)  # /pause: source → since


@dataclass(frozen=True, slots=True)
class RouteLine:
    """A route rule's last evaluation."""

    rule_id: str
    firing: bool
    summary: str
    evaluated_at: str | None
    each: bool = False  # an `each` rule: its summary says how many flights it alerted


def gather(store: Store, configured_sources: Sequence[str] = ()) -> StatusReport:
    """Read the report from the store."""
    meta = store.meta()
    return StatusReport(
        version=meta.get("version", __version__),
        started_at=meta.get("started_at"),
        heartbeat_at=meta.get("heartbeat_at"),
        stopped_at=meta.get("stopped_at"),
        sources=tuple(_stored_flights(store, health) for health in store.source_health()),
        outbox=store.outbox_counts(),
        configured_sources=tuple(configured_sources),
        routes=_route_lines(store),
        mutes=tuple(store.mutes()),
        muted=store.muted_count(),
        storage=store.storage_report(),
        meta=meta,
        progress=store.flight_progress(),
        paused=store.paused_sources(),
    )


def _route_lines(store: Store) -> tuple[RouteLine, ...]:
    """Every route rule's last evaluation; `each` rules are marked (their count is the
    flights they alerted, not a window's)."""
    each = store.each_rules()
    return tuple(
        RouteLine(
            row["rule_id"],
            bool(row["firing"]),
            row["summary"],
            row["evaluated_at"],
            each=row["rule_id"] in each,
        )
        for row in store.route_states()
    )


def _stored_flights(store: Store, source: SourceHealth) -> SourceHealth:
    """A flight source counts the flights stored from it, as the storage line counts them."""
    if source.kind == "rss":
        return source
    return replace(source, items_seen=store.flight_count(source.id))


@dataclass(frozen=True, slots=True)
class Health:
    """The healthcheck's verdict and why."""

    healthy: bool
    reason: str


def health(meta: Mapping[str, str], now: datetime, max_age: float) -> Health:
    """Healthy when the bot runs and its loop wrote a heartbeat within `max_age` seconds."""
    started, beat, stopped = (
        meta.get("started_at"),
        meta.get("heartbeat_at"),
        meta.get("stopped_at"),
    )
    if started is None or beat is None:
        return Health(False, "unhealthy: the bot never ran on this database")
    if stopped is not None and stopped >= started:
        return Health(False, f"unhealthy: the bot stopped {since(stopped, now)}")
    age = (now - from_iso(beat)).total_seconds()
    if age > max_age:
        return Health(False, f"unhealthy: last heartbeat {ago(age)} ago (limit {ago(max_age)})")
    return Health(True, f"healthy: heartbeat {ago(age)} ago")


def _running(report: StatusReport, now: datetime) -> str:
    if report.started_at is None:
        return "never started on this database"
    uptime = ago((now - from_iso(report.started_at)).total_seconds())
    stopped = report.stopped_at is not None and report.stopped_at >= report.started_at
    beat = report.heartbeat_at
    stale = beat is None or (now - from_iso(beat)).total_seconds() > HEARTBEAT_STALE
    if stopped:
        return f"stopped {since(report.stopped_at, now)}"
    if stale:
        return f"not running? last heartbeat {since(beat, now)} (started {uptime} ago)"
    return f"up {uptime}"


def _source_line(
    source: SourceHealth, now: datetime, progress: FlightProgress | None = None
) -> list[str]:
    if source.consecutive_failures:
        mark = "✗"
    elif source.last_success_at:
        mark = "✓"
    else:
        mark = "…"
    if source.kind == "rss":
        seen = f"{plural(source.items_seen, 'item')}, {plural(source.alerts, 'alert')}"
        if source.bad_bytes:  # the feed is not valid in its encoding (finding 1)
            seen += f", {plural(source.bad_bytes, 'bad byte')} replaced"
    else:
        seen = plural(source.items_seen, "flight")
        if source.last_day:
            seen += f", last day fetched {source.last_day}"
        if source.credits_left is not None:
            seen += f", {plural(source.credits_left, 'credit')} left"
        if source.credits_spent:
            seen += f" ({source.credits_spent} spent)"
    last_ok = (
        f"ok {since(source.last_success_at, now)}" if source.last_success_at else "never succeeded"
    )
    schedule = schedule_text(source)
    if schedule is not None:
        seen += f"; {schedule}"
    lines = [f"{mark} {source.id} ({source.kind}): {last_ok}, {seen}"]
    if progress is not None:
        lines.extend(_progress_lines(progress, now))
    if source.consecutive_failures:
        failures = plural(source.consecutive_failures, "failure")
        lines.append(
            f"   {failures} in a row (last {since(source.last_error_at, now)}): {source.last_error}"
        )
    return lines


def schedule_text(source: SourceHealth) -> str | None:
    """How the runner polls a source now, as it last recorded it: `every 3m 20s (adaptive,
    41 items/day)`, `every 10m (fixed)`; None when it recorded no interval yet."""
    if source.interval is None:
        return None
    how = []
    if source.adaptive is not None:
        how.append("adaptive" if source.adaptive else "fixed")
    if source.rate is not None:
        how.append(rate_text(source.rate, "item" if source.kind == "rss" else "flight"))
    detail = f" ({', '.join(how)})" if how else ""
    return f"every {duration(source.interval)}{detail}"


def rate_text(per_day: float, noun: str = "item") -> str:
    """A rate for a phone's width: `41 items/day` from ten a day, `2.5 items/day` from one,
    below that per week, `2.1 items/week` (`<0.1 items/week`: hardly any, but some;
    `0 items/week`: none lately)."""
    if round(per_day, 1) >= 10:
        return f"{per_day:.0f} {noun}s/day"
    if round(per_day, 1) >= 1:
        return f"{per_day:.1f} {noun}s/day"
    week = max(0.0, per_day) * 7
    if week == 0:
        return f"0 {noun}s/week"
    if week < 0.05:
        return f"<0.1 {noun}s/week"
    return f"{week:.1f} {noun}s/week"


def _progress_lines(progress: FlightProgress, now: datetime) -> list[str]:
    """`   backfill: 12 of 70 days fetched, 58 to go; next attempt in ~14h (rate limited)`."""
    parts = []
    if progress.fetched is not None and progress.total and progress.fetched < progress.total:
        backfill = Backfill(progress.fetched, progress.total)
        parts.append(f"backfill: {backfill.describe()}")
    if progress.next_attempt_at is not None and progress.next_attempt_at > now:
        wait = ago((progress.next_attempt_at - now).total_seconds())
        parts.append(f"next attempt in ~{wait} (rate limited)")
    return [f"   {'; '.join(parts)}"] if parts else []


def _storage_line(storage: StorageReport, meta: Mapping[str, str], now: datetime) -> str:
    rows = dict(storage.rows)
    text = (
        f"storage: {storage.bytes_on_disk / 1e6:.1f} MB; {plural(rows.get('outbox', 0), 'alert')}, "
        f"{plural(rows.get('seen_items', 0), 'seen item')}, "
        f"{plural(rows.get('flights', 0), 'flight')}, "
        f"{plural(rows.get('sightings', 0), 'sighting')}"
    )
    if "retention" in meta:
        text += f"; kept {meta['retention']}, pruned every {meta.get('prune_every', '?')}"
    if "pruned_at" in meta:
        text += f", last {since(meta['pruned_at'], now)} ({meta.get('pruned', '')})"
    return text


def _mute_lines(report: StatusReport, now: datetime) -> list[str]:
    lines = [
        f"muted: {mute.rule_id} until {mute.until:%Y-%m-%d %H:%M} UTC "
        f"({plural(mute.held, 'alert')} held)"
        for mute in report.mutes
        if mute.until > now
    ]
    if report.muted:
        lines.append(f"muted alerts recorded (never sent): {report.muted}")
    return lines


@dataclass(frozen=True, slots=True)
class _Layout:
    """The report in reading order: the summary, then one block (lines kept together) per
    source or heading, failing sources first."""

    summary: list[str]
    blocks: list[str]


def _state(source: SourceHealth) -> str:
    """`failing`, `ok`, or `not polled` (neither a success nor a failure recorded yet)."""
    if source.consecutive_failures:
        return "failing"
    return "ok" if source.last_success_at else "not polled"


def _shown(report: StatusReport) -> tuple[list[SourceHealth], list[str], list[str]]:
    """The sources to show, the configured ones never polled, and those removed from the
    configuration (named once: their history stays in the store, but they are not polled).
    Without a configuration (`vedette status`), every source the store knows is shown."""
    known = {source.id for source in report.sources}
    configured = set(report.configured_sources)
    shown = [s for s in report.sources if not configured or s.id in configured]
    never = [s for s in report.configured_sources if s not in known]
    removed = [s.id for s in report.sources if configured and s.id not in configured]
    return shown, never, removed


def _layout(report: StatusReport, now: datetime) -> _Layout:
    summary = [f"vedette {report.version}: {_running(report, now)}"]
    box = report.outbox
    oldest = (
        f", oldest pending {since(box.oldest_pending_at, now)}" if box.oldest_pending_at else ""
    )
    summary.append(f"outbox: {box.pending} pending, {box.sent} sent, {box.failed} failed{oldest}")
    if box.joined or box.edits_failed:
        summary.append(
            f"stories: {plural(box.joined, 'item')} joined an earlier alert's message; "
            f"{plural(box.edits_failed, 'edit')} of a sent message failed (the alert stands, "
            "not sent again)"
        )
    summary.extend(f"  failed: {failure}" for failure in box.recent_failures)
    summary.extend(_mute_lines(report, now))
    summary.extend(
        f"paused: {source} since {since:%Y-%m-%d %H:%M} UTC, not polled (/resume {source})"
        for source, since in report.paused.items()
    )
    if report.storage is not None:
        summary.append(_storage_line(report.storage, report.meta, now))
    shown, never, removed = _shown(report)
    failing = [s for s in shown if _state(s) == "failing"]
    ok = [s for s in shown if _state(s) == "ok"]
    other = [s for s in shown if _state(s) == "not polled"]
    count = f"{plural(len(shown) + len(never), 'source')}: {len(ok)} ok, {len(failing)} failing"
    if other or never:
        count += f", {len(other) + len(never)} not polled yet"
    summary.append(count)
    if report.routes:
        summary.append(f"route rules ({len(report.routes)}):")
        for route in report.routes:
            state = "each" if route.each else "FIRING" if route.firing else "quiet"
            summary.append(f"{route.rule_id} [{state}]: {route.summary}")
    blocks: list[str] = []
    for heading, group in (("failing", failing), ("ok", ok), ("", other)):
        for index, source in enumerate(group):
            lines = _source_line(source, now, report.progress.get(source.id))
            if heading and index == 0:  # a heading never ends a message alone
                lines.insert(0, f"{heading} ({len(group)}):")
            blocks.append("\n".join(lines))
    blocks.extend(f"… {ident}: not polled yet" for ident in never)
    if removed:
        blocks.extend(
            textwrap.wrap(
                f"no longer in the configuration, not polled: {', '.join(removed)}",
                width=WRAP,
                break_long_words=False,
                break_on_hyphens=False,
                subsequent_indent="   ",
            )
        )
    return _Layout(summary, blocks)


def render_status(report: StatusReport, now: datetime) -> str:
    """The whole report as plain text, never cut (`vedette status`): a summary (version,
    uptime, outbox, storage, sources ok and failing, route rules), then every source,
    failing ones first with their last error, then the healthy ones, one line each."""
    layout = _layout(report, now)
    return "\n".join([*layout.summary, *layout.blocks])


def status_messages(report: StatusReport, now: datetime, limit: int = MAX_CHARS) -> list[str]:
    """The whole report as Telegram messages of at most `limit` UTF-16 units each (`/status`).

    One message when it fits; otherwise the summary first, on its own, then the sources
    in as many messages as needed, split between sources (a source's lines stay together).
    Nothing is left out; only a single line longer than `limit` is cut, with "…".
    """
    layout = _layout(report, now)
    whole = "\n".join([*layout.summary, *layout.blocks])
    if visible_length(whole) <= limit:
        return [whole]
    return split_messages(layout.summary, limit) + split_messages(layout.blocks, limit)


def status_data(report: StatusReport, now: datetime) -> dict[str, Any]:
    """The report as JSON-ready data (`vedette status --json`): the same facts as the text,
    times as ISO 8601 UTC strings, no secrets. The shape is documented in the README."""
    shown, never, removed = _shown(report)
    states = [_state(s) for s in shown]
    box = report.outbox
    return {
        "version": report.version,
        "generated_at": iso(now),
        "running": _running(report, now),
        "started_at": report.started_at,
        "heartbeat_at": report.heartbeat_at,
        "stopped_at": report.stopped_at,
        "outbox": {
            "pending": box.pending,
            "sent": box.sent,
            "failed": box.failed,
            "oldest_pending_at": box.oldest_pending_at,
            "recent_failures": list(box.recent_failures),
            "joined": box.joined,
            "edits_failed": box.edits_failed,
        },
        "summary": {
            "sources": len(shown) + len(never),
            "ok": states.count("ok"),
            "failing": states.count("failing"),
            "not_polled": states.count("not polled") + len(never),
        },
        "sources": [
            *(_source_data(s, report) for s in shown),
            *({"id": ident, "kind": None, "state": "not polled"} for ident in never),
        ],
        "removed_sources": removed,
        "route_rules": [
            {
                "rule_id": route.rule_id,
                "firing": route.firing,
                "summary": route.summary,
                "evaluated_at": route.evaluated_at,
                "each": route.each,
            }
            for route in report.routes
        ],
        "mutes": [
            {"rule_id": mute.rule_id, "until": iso(mute.until), "held": mute.held}
            for mute in report.mutes
            if mute.until > now
        ],
        "muted_alerts": report.muted,
        "storage": _storage_data(report.storage, report.meta),
    }


def _source_data(source: SourceHealth, report: StatusReport) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": source.id,
        "kind": source.kind,
        "state": _state(source),
        "ok": _state(source) == "ok",
        "last_success_at": source.last_success_at,
        "last_error": source.last_error,
        "last_error_at": source.last_error_at,
        "consecutive_failures": source.consecutive_failures,
        "polls": source.polls,
        "failures": source.failures,
        "items": source.items_seen,
        "alerts": source.alerts,
        "paused_since": iso(report.paused[source.id]) if source.id in report.paused else None,
        "interval_s": source.interval,
        "rate_per_day": source.rate,
        "adaptive": source.adaptive,
    }
    if source.kind == "rss":
        data["bad_bytes"] = source.bad_bytes
    else:
        data["credits_left"] = source.credits_left
        data["credits_spent"] = source.credits_spent
        data["last_day"] = source.last_day
        progress = report.progress.get(source.id)
        if progress is not None:
            data["backfill"] = {
                "fetched": progress.fetched,
                "total": progress.total,
                "next_attempt_at": (
                    iso(progress.next_attempt_at) if progress.next_attempt_at else None
                ),
            }
    return data


def _storage_data(storage: StorageReport | None, meta: Mapping[str, str]) -> dict[str, Any] | None:
    if storage is None:
        return None
    return {
        "bytes_on_disk": storage.bytes_on_disk,
        "rows": dict(storage.rows),
        "retention": meta.get("retention"),
        "prune_every": meta.get("prune_every"),
        "pruned_at": meta.get("pruned_at"),
        "pruned": meta.get("pruned"),
    }
