"""The `/status` report: gathered from the store, rendered by a pure function.

`vedette status` prints the same text from the database (for `docker exec`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot import __version__
from bot.flightplan import Backfill
from bot.store import OutboxCounts, SourceHealth, Store
from bot.store_admin import Mute
from bot.store_flights import FlightProgress
from bot.store_retention import StorageReport
from bot.timeutil import ago, from_iso
from bot.words import plural

MAX_CHARS = 4000
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
        routes=tuple(
            RouteLine(row["rule_id"], bool(row["firing"]), row["summary"], row["evaluated_at"])
            for row in store.route_states()
        ),
        mutes=tuple(store.mutes()),
        muted=store.muted_count(),
        storage=store.storage_report(),
        meta=meta,
        progress=store.flight_progress(),
        paused=_paused(store),
    )


def _paused(store: Store) -> dict[str, datetime]:
    """Paused sources; none in a database from before `/pause` (read-only: not migrated)."""
    try:
        return store.paused_sources()
    except sqlite3.OperationalError:
        return {}


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
        return Health(False, f"unhealthy: the bot stopped {_since(stopped, now)}")
    age = (now - from_iso(beat)).total_seconds()
    if age > max_age:
        return Health(False, f"unhealthy: last heartbeat {ago(age)} ago (limit {ago(max_age)})")
    return Health(True, f"healthy: heartbeat {ago(age)} ago")


def _since(stamp: str | None, now: datetime) -> str:
    if stamp is None:
        return "never"
    return f"{ago((now - from_iso(stamp)).total_seconds())} ago"


def _running(report: StatusReport, now: datetime) -> str:
    if report.started_at is None:
        return "never started on this database"
    uptime = ago((now - from_iso(report.started_at)).total_seconds())
    stopped = report.stopped_at is not None and report.stopped_at >= report.started_at
    beat = report.heartbeat_at
    stale = beat is None or (now - from_iso(beat)).total_seconds() > HEARTBEAT_STALE
    if stopped:
        return f"stopped {_since(report.stopped_at, now)}"
    if stale:
        return f"not running? last heartbeat {_since(beat, now)} (started {uptime} ago)"
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
        f"ok {_since(source.last_success_at, now)}" if source.last_success_at else "never succeeded"
    )
    lines = [f"{mark} {source.id} ({source.kind}): {last_ok}, {seen}"]
    if progress is not None:
        lines.extend(_progress_lines(progress, now))
    if source.consecutive_failures:
        failures = plural(source.consecutive_failures, "failure")
        lines.append(
            f"   {failures} in a row "
            f"(last {_since(source.last_error_at, now)}): {source.last_error}"
        )
    return lines


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
        text += f", last {_since(meta['pruned_at'], now)} ({meta.get('pruned', '')})"
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


def render_status(report: StatusReport, now: datetime) -> str:
    """The report as plain text, at most ~4000 characters."""
    lines = [f"vedette {report.version}: {_running(report, now)}"]
    box = report.outbox
    oldest = (
        f", oldest pending {_since(box.oldest_pending_at, now)}" if box.oldest_pending_at else ""
    )
    lines.append(f"outbox: {box.pending} pending, {box.sent} sent, {box.failed} failed{oldest}")
    lines.extend(f"  failed: {failure}" for failure in box.recent_failures)
    lines.extend(_mute_lines(report, now))
    lines.extend(
        f"paused: {source} since {since:%Y-%m-%d %H:%M} UTC, not polled (/resume {source})"
        for source, since in report.paused.items()
    )
    if report.storage is not None:
        lines.append(_storage_line(report.storage, report.meta, now))
    known = {source.id for source in report.sources}
    never = [s for s in report.configured_sources if s not in known]
    # Sources taken out of rules.toml keep their history in the store, but are no longer
    # polled: one line names them instead of a stale health line each.
    configured = set(report.configured_sources)
    shown = [s for s in report.sources if not configured or s.id in configured]
    removed = [s.id for s in report.sources if configured and s.id not in configured]
    lines.append(f"sources ({len(shown) + len(never)}):")
    body: list[str] = []
    for source in shown:
        body.extend(_source_line(source, now, report.progress.get(source.id)))
    body.extend(f"… {ident}: not polled yet" for ident in never)
    if removed:
        body.append(f"no longer in the configuration, not polled: {', '.join(removed)}")
    if report.routes:
        body.append(f"route rules ({len(report.routes)}):")
        for route in report.routes:
            state = "FIRING" if route.firing else "quiet"
            body.append(f"{route.rule_id} [{state}]: {route.summary}")
    text = "\n".join(lines)
    for index, line in enumerate(body):
        if len(text) + len(line) + 60 > MAX_CHARS:
            text += f"\n… and {plural(len(body) - index, 'more line')}"
            break
        text += "\n" + line
    return text
