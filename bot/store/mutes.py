"""The admin half of the store: rule mutes, the alerts they held back, recent deliveries,
paused sources.

A mixin of `bot.store.Store` (same connection, same `BEGIN IMMEDIATE` writes).

- **Mutes** (`/mute RULE 6h`): until a mute's `until`, an alert all of whose rules are muted
  is recorded in `muted_alerts` instead of the outbox, in the same transaction that would
  have enqueued it, and is never sent, not even after `/unmute`. An alert that an unmuted
  rule also wants is sent as usual. An expired mute stops applying at once; its row is
  deleted at the next `/mute` or `/unmute`.
- **Paused sources** (`/pause SOURCE`): a row in `paused_sources`; the runner skips the
  source's polls while it is there (checked each cycle), across restarts, until `/resume`.
- Times are stored as `bot.timeutil.iso` writes them (fixed-width UTC), so they compare as
  text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from bot.timeutil import from_iso, iso

if TYPE_CHECKING:
    from bot.store import NewAlert

PAUSED_RECHECK = 30.0  # seconds between two looks at a paused source's row


@dataclass(frozen=True, slots=True)
class Mute:
    """A stored mute: until when, since when, and how many alerts it held since then."""

    rule_id: str
    until: datetime
    since: datetime
    held: int


@dataclass(frozen=True, slots=True)
class RecentAlert:
    """A sent (or held) alert, for `/recent`: when, its rules, its first line, its link."""

    at: datetime
    rule_ids: tuple[str, ...]
    channel: str
    title: str
    link: str


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _recent(rows: Sequence[tuple[Any, ...]]) -> list[RecentAlert]:
    return [
        RecentAlert(from_iso(at), tuple(rules.split(",")), channel, _first_line(plain), link)
        for at, rules, channel, plain, link in rows
    ]


def hold_if_muted(conn: sqlite3.Connection, alert: NewAlert, stamp: str) -> bool:
    """True when `alert` must not be enqueued because of a mute (called by `_enqueue`).

    When every rule of the alert is muted at `stamp`, the alert is recorded in
    `muted_alerts` (once per dedup key, and not if it is in the outbox already). An alert
    held earlier stays held: its dedup key is never enqueued later.
    """
    rules = list(dict.fromkeys(alert.rule_ids))
    if rules:
        marks = ",".join("?" * len(rules))
        muted = conn.execute(
            f"SELECT COUNT(*) FROM mutes WHERE until > ? AND rule_id IN ({marks})",
            (stamp, *rules),
        ).fetchone()[0]
        if muted == len(rules):
            queued = conn.execute(
                "SELECT 1 FROM outbox WHERE dedup_key = ?", (alert.dedup_key,)
            ).fetchone()
            if queued is None:
                conn.execute(
                    "INSERT OR IGNORE INTO muted_alerts "
                    "(dedup_key, rule_ids, channel, plain, link, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        alert.dedup_key,
                        ",".join(alert.rule_ids),
                        alert.channel,
                        alert.plain,
                        alert.link,
                        stamp,
                    ),
                )
            return True
    held = conn.execute(
        "SELECT 1 FROM muted_alerts WHERE dedup_key = ?", (alert.dedup_key,)
    ).fetchone()
    return held is not None


class AdminRecords:
    """Mutes and recent alerts; mixed into `bot.store.Store`."""

    db: Database

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def mute(self, rule_id: str, until: datetime, by: int | None, now: datetime) -> None:
        """Mute `rule_id` until `until` (replacing its mute; a running mute keeps its start)."""
        stamp = iso(now)
        with self._write() as conn:
            conn.execute("DELETE FROM mutes WHERE until <= ?", (stamp,))
            conn.execute(
                "INSERT INTO mutes (rule_id, until, created_at, created_by) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (rule_id) DO UPDATE SET until = excluded.until, "
                "created_by = excluded.created_by",
                (rule_id, iso(until), stamp, by),
            )

    def unmute(self, rule_id: str, now: datetime | None = None) -> bool:
        """End the mute of `rule_id`; False if it had none (given `now`: none still running)."""
        with self._write() as conn:
            if now is not None:
                conn.execute("DELETE FROM mutes WHERE until <= ?", (iso(now),))
            return conn.execute("DELETE FROM mutes WHERE rule_id = ?", (rule_id,)).rowcount > 0

    def mutes(self) -> list[Mute]:
        """Every stored mute (expired ones too, until deleted), by rule id."""
        rows = self.db.conn.execute(
            "SELECT m.rule_id, m.until, m.created_at, (SELECT COUNT(*) FROM muted_alerts a "
            "WHERE a.created_at >= m.created_at "
            "AND instr(',' || a.rule_ids || ',', ',' || m.rule_id || ',') > 0) "
            "FROM mutes m ORDER BY m.rule_id"
        )
        return [
            Mute(rule, from_iso(until), from_iso(since), held) for rule, until, since, held in rows
        ]

    def active_mutes(self, now: datetime) -> list[tuple[str, datetime]]:
        """(rule id, until) of each mute still running at `now`, by rule id."""
        rows = self.db.conn.execute(
            "SELECT rule_id, until FROM mutes WHERE until > ? ORDER BY rule_id", (iso(now),)
        )
        return [(rule, from_iso(until)) for rule, until in rows]

    def muted_count(self, since: datetime | None = None) -> int:
        """How many alerts mutes held back (from `since` on, if given)."""
        if since is None:
            row = self.db.conn.execute("SELECT COUNT(*) FROM muted_alerts").fetchone()
        else:
            row = self.db.conn.execute(
                "SELECT COUNT(*) FROM muted_alerts WHERE created_at >= ?", (iso(since),)
            ).fetchone()
        return int(row[0])

    def recent_muted(self, limit: int = 10) -> list[RecentAlert]:
        """The latest alerts held back by mutes, newest first."""
        rows = self.db.conn.execute(
            "SELECT created_at, rule_ids, channel, plain, link FROM muted_alerts "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return _recent(rows)

    def pause_source(self, source_id: str, by: int | None, now: datetime) -> bool:
        """Pause polling of `source_id` (kept across restarts); False if it was paused."""
        with self._write() as conn:
            return (
                conn.execute(
                    "INSERT INTO paused_sources (source_id, paused_at, paused_by) "
                    "VALUES (?, ?, ?) ON CONFLICT (source_id) DO NOTHING",
                    (source_id, iso(now), by),
                ).rowcount
                > 0
            )

    def resume_source(self, source_id: str) -> bool:
        """Poll `source_id` again; False if it was not paused."""
        with self._write() as conn:
            return (
                conn.execute(
                    "DELETE FROM paused_sources WHERE source_id = ?", (source_id,)
                ).rowcount
                > 0
            )

    def paused_sources(self) -> dict[str, datetime]:
        """Paused source id → since when, by id."""
        rows = self.db.conn.execute(
            "SELECT source_id, paused_at FROM paused_sources ORDER BY source_id"
        )
        return {source: from_iso(at) for source, at in rows}

    def is_paused(self, source_id: str) -> bool:
        """Whether `source_id` is paused (a read error counts as not paused: poll anyway)."""
        try:
            row = self.db.conn.execute(
                "SELECT 1 FROM paused_sources WHERE source_id = ?", (source_id,)
            ).fetchone()
        except sqlite3.Error:
            return False
        return row is not None

    def recent_alerts(self, limit: int = 10) -> list[RecentAlert]:
        """The latest delivered outbox rows, newest first (`at` is when it was sent)."""
        rows = self.db.conn.execute(
            "SELECT sent_at, rule_ids, channel, plain, link FROM outbox "
            "WHERE state = 'sent' AND sent_at IS NOT NULL ORDER BY sent_at DESC, id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return _recent(rows)
