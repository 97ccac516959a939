"""`vedette sources` and `/sources`: every configured source and rule, from the configuration.

A pure function renders the lines (`now` is passed in); the CLI and the Telegram command
gather what they have: the configuration always, the database's health, pauses and unsent
alerts when there is one.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.config.types import AdsbSource, Config, KeywordRule, OpenSkySource, RouteRule, Rule, Source
from bot.status import schedule_text
from bot.store import Store
from bot.store.base import StoreError, database_error
from bot.store.records import SourceHealth
from bot.timeutil import ago, since
from bot.words import plural
from watchers.clock import utcnow


@dataclass(frozen=True, slots=True)
class StoredState:
    """What the database adds to the configuration: health, pauses, unsent alerts."""

    health: Mapping[str, SourceHealth] = field(default_factory=dict)
    paused: Mapping[str, datetime] = field(default_factory=dict)
    pending: Mapping[str, int] = field(default_factory=dict)


def stored_state(store: Store) -> StoredState:
    """Read the health of every source, the pauses and the unsent alerts per channel."""
    return StoredState(
        health={h.id: h for h in store.source_health()},
        paused=store.paused_sources(),
        pending=store.pending_by_channel(),
    )


def sources_command(config: Config, db_path: str | None) -> int:
    """`vedette sources`: print the report; with a database (read-only), with health.
    Returns the exit code (0; 1 for a database that cannot be read)."""
    stored = None
    note = ""
    if db_path is not None and Path(db_path).is_file():
        try:
            store = Store.open(db_path, read_only=True)
            try:
                stored = stored_state(store)
            except sqlite3.Error as exc:
                raise database_error(db_path, exc) from exc
            finally:
                store.close()
        except StoreError as exc:
            print(f"vedette: {exc}", file=sys.stderr)
            return 1
    elif db_path is not None:
        note = f"(no database at {db_path}: health not shown)"
    print("\n".join(render_sources(config, utcnow(), stored)))
    if note:
        print(note)
    return 0


def _where(source: Source) -> str:
    if isinstance(source, OpenSkySource):
        return f"airports {', '.join(source.airports)} ({source.api_url})"
    if isinstance(source, AdsbSource):
        watched = [f"callsigns {', '.join(source.callsigns)}"] if source.callsigns else []
        if source.hexes:
            watched.append(f"hexes {', '.join(source.hexes)}")
        return f"{'; '.join(watched)} ({source.api_url})"
    return source.url


def _health(health: SourceHealth | None, now: datetime) -> str:
    if health is None or not health.polls:
        return "… not polled yet"
    seen = (
        f"{plural(health.items_seen, 'item')}, {plural(health.alerts, 'alert')}"
        if health.kind == "rss"
        else f"{plural(health.items_seen, 'flight')}"
    )
    schedule = schedule_text(health)
    if schedule is not None:
        seen += f"; now {schedule}"
    if health.consecutive_failures:
        return (
            f"✗ {plural(health.consecutive_failures, 'failure')} in a row "
            f"(last {since(health.last_error_at, now)}): {health.last_error}; {seen}"
        )
    return f"✓ ok {since(health.last_success_at, now)}; {seen}"


def _rule_line(rule: Rule, config: Config) -> str:
    channel = config.channels.get(rule.channel)
    chat = f" ({channel.chat_id})" if channel is not None else " (not configured)"
    if isinstance(rule, KeywordRule):
        news = {s.id for s in config.news_sources}
        on = (
            "every news source"
            if set(rule.sources) == news
            else f"sources {', '.join(rule.sources)}"
        )
        what = f"keywords on {on}: {rule.query_text}"
    else:
        what = f"route {_route(rule)}"
    return f"{rule.id} → {rule.channel}{chat}: {what}"


def _route(rule: RouteRule) -> str:
    text = rule.label + (f" operator {rule.operator}" if rule.operator else "")
    if rule.each:
        aircraft = f" of aircraft {', '.join(rule.icao24)}" if rule.icao24 else ""
        return f"{text}, each new flight{aircraft}"
    window = ago(rule.window)
    if rule.at_least is not None:
        return f"{text}, at least {rule.at_least} in {window}"
    return f"{text}, ×{rule.spike:g} over the previous {window} (at least {rule.min_count})"


def render_sources(config: Config, now: datetime, stored: StoredState | None = None) -> list[str]:
    """The report as lines: sources (with health when `stored` is given), rules, channels."""
    lines = [f"{plural(len(config.sources), 'source')}:"]
    for source in config.sources:
        lines.append(f"{source.id} ({source.kind}, every {ago(source.every)}): {_where(source)}")
        if stored is not None:
            since = stored.paused.get(source.id)
            if since is not None:
                lines.append(f"   ⏸ paused since {since:%Y-%m-%d %H:%M} UTC (/resume {source.id})")
            lines.append(f"   {_health(stored.health.get(source.id), now)}")
    lines.append(f"{plural(len(config.rules), 'rule')}:")
    lines.extend(_rule_line(rule, config) for rule in config.rules)
    lines.append(f"{plural(len(config.channels), 'channel')}:")
    lines.extend(f"{name}: {channel.chat_id}" for name, channel in config.channels.items())
    if stored is not None:
        for channel, count in sorted(stored.pending.items()):
            if channel not in config.channels:
                lines.append(
                    f"{channel}: not configured; {plural(count, 'unsent alert')} wait for it"
                )
    return lines
