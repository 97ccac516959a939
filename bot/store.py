"""The only module that writes SQLite: seen items, matches, the outbox and source health.

Writes run in `BEGIN IMMEDIATE` transactions (see reference/reliability.md §0.9). A poll's
new items, its matches and their outbox rows commit together, so a crash either loses the
whole poll (it is fetched again) or keeps all of it (the rows are sent after restart). The
clock is never read here: every method that needs the time takes `now`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.migrations import migrations
from bot.store_admin import AdminRecords, hold_if_muted
from bot.store_flights import FlightRecords
from bot.store_retention import Retention
from bot.timeutil import iso
from watchers.http import Validators
from watchers.items import NewsItem


class StoreError(Exception):
    """The database cannot be opened or written; the message names the file."""


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the store remembers about a source between polls."""

    validators: Validators
    seeded: bool
    consecutive_failures: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An outbox row to enqueue, for the (rule, item) matches of `rule_ids`.

    `dedup_key` is unique forever. Each (rule, item) pair is recorded once; the row is
    enqueued only if at least one of its pairs is new.
    """

    dedup_key: str
    rule_ids: tuple[str, ...]
    source_id: str
    item_key: str
    channel: str
    chat_id: int | str
    html: str
    plain: str
    link: str


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A claimed outbox row."""

    id: int
    chat_id: int | str
    html: str
    plain: str
    link: str
    as_plain: bool
    attempts: int


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """A `sources` row, for `/status`."""

    id: str
    kind: str
    last_success_at: str | None
    last_error: str | None
    last_error_at: str | None
    consecutive_failures: int
    polls: int
    failures: int
    items_seen: int
    alerts: int
    credits_left: int | None = None
    credits_spent: int = 0
    last_day: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    """Outbox rows by state, the oldest pending row's creation time and the last failures."""

    pending: int
    sent: int
    failed: int
    oldest_pending_at: str | None
    recent_failures: tuple[str, ...]


def _chat_text(chat_id: int | str) -> str:
    return str(chat_id)


def _chat_value(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def _enqueue(conn: sqlite3.Connection, alert: NewAlert, stamp: str) -> int:
    """Add an outbox row unless its dedup key is there already; 1 if added.

    An alert whose rules are all muted is recorded in `muted_alerts` instead (0; see
    `bot.store_admin`).
    """
    if hold_if_muted(conn, alert, stamp):
        return 0
    cursor = conn.execute(
        "INSERT OR IGNORE INTO outbox (dedup_key, rule_ids, source_id, channel, "
        "chat_id, html, plain, link, created_at, not_before) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            alert.dedup_key,
            ",".join(alert.rule_ids),
            alert.source_id,
            alert.channel,
            _chat_text(alert.chat_id),
            alert.html,
            alert.plain,
            alert.link,
            stamp,
            stamp,
        ),
    )
    return cursor.rowcount


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is left of a failed write. SQLite may have ended the transaction
    itself (a full disk or an I/O error at COMMIT does), and a second error here would hide
    the first one."""
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


class Store(FlightRecords, Retention, AdminRecords):
    """The vedette database. Open with `Store.open(path)`; close with `close()`."""

    def __init__(self, db: Database, path: str) -> None:
        self.db = db
        self.path = path

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open (creating if needed) and migrate the database at `path`."""
        name = str(path)
        if name != ":memory:":
            parent = Path(name).resolve().parent
            if not parent.is_dir():
                raise StoreError(f"{name}: directory {parent} does not exist")
            if not os.access(parent, os.W_OK):
                raise StoreError(
                    f"{name}: directory {parent} is not writable "
                    "(SQLite needs to create -wal and -shm files beside the database)"
                )
        try:
            conn = sqlite3.connect(name, timeout=10.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            db = Database(conn)
            migrations.apply(db)
        except sqlite3.Error as exc:
            raise StoreError(f"{name}: cannot open database: {exc}") from exc
        return cls(db, name)

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        self.db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self.db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot start a write: {exc}") from exc
        try:
            yield conn
        except sqlite3.Error as exc:  # e.g. "database or disk is full" while writing
            _rollback(conn)
            raise StoreError(f"{self.path}: cannot write: {exc}") from exc
        except BaseException:
            _rollback(conn)
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            raise StoreError(f"{self.path}: cannot commit: {exc}") from exc

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.db.conn.execute(sql, params).fetchone()
        return row

    # -- meta ---------------------------------------------------------------------------

    def set_meta(self, values: dict[str, str]) -> None:
        """Write meta values (start time, version, heartbeat)."""
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

    def meta(self) -> dict[str, str]:
        """All meta values."""
        return dict(self.db.conn.execute("SELECT key, value FROM meta").fetchall())

    # -- sources ------------------------------------------------------------------------

    def source_state(self, source_id: str) -> SourceState:
        """The validators, seeding and failure state of a source (defaults if unknown)."""
        row = self._one(
            "SELECT etag, last_modified, body_hash, seeded, consecutive_failures, last_error "
            "FROM sources WHERE id = ?",
            (source_id,),
        )
        if row is None:
            return SourceState(Validators(), seeded=False, consecutive_failures=0, last_error=None)
        return SourceState(Validators(row[0], row[1], row[2]), bool(row[3]), row[4], row[5])

    def unseen_keys(self, source_id: str, keys: Iterable[str]) -> set[str]:
        """The keys among `keys` this source has never recorded."""
        wanted = list(dict.fromkeys(keys))
        seen: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.conn.execute(
                f"SELECT item_key FROM seen_items WHERE source_id = ? AND item_key IN ({marks})",
                (source_id, *chunk),
            )
            seen.update(r[0] for r in rows)
        return set(wanted) - seen

    def _ensure_source(self, conn: sqlite3.Connection, source_id: str, kind: str) -> None:
        conn.execute(
            "INSERT INTO sources (id, kind) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
            (source_id, kind),
        )

    def record_success(
        self,
        source_id: str,
        kind: str,
        now: datetime,
        *,
        validators: Validators,
        items: Sequence[NewsItem] = (),
        alerts: Sequence[NewAlert] = (),
        new_flights: int = 0,
        present: Sequence[str] = (),
    ) -> int:
        """Record a successful poll, its new items and alerts in one transaction.

        `present` are the keys of every item the feed listed (their last-seen time is
        refreshed, so pruning spares them); `new_flights` (flight sources) adds to the
        source's count of things seen.

        Items already seen are ignored; an alert whose (rule, item) pair matched before, or
        whose dedup key is already in the outbox, is not enqueued again. Returns the number
        of outbox rows added.
        """
        stamp = iso(now)
        added = 0
        with self._write() as conn:
            self._ensure_source(conn, source_id, kind)
            new_items = new_flights
            for item in items:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO seen_items (source_id, item_key, first_seen_at, "
                    "last_seen_at, title, link) VALUES (?, ?, ?, ?, ?, ?)",
                    (source_id, item.key, stamp, stamp, item.title[:300], item.link),
                )
                new_items += cursor.rowcount
            conn.executemany(
                "UPDATE seen_items SET last_seen_at = ? WHERE source_id = ? AND item_key = ?",
                [(stamp, source_id, key) for key in present],
            )
            for alert in alerts:
                fresh = 0
                for rule_id in alert.rule_ids:
                    fresh += conn.execute(
                        "INSERT OR IGNORE INTO matches (rule_id, item_key, source_id, matched_at) "
                        "VALUES (?, ?, ?, ?)",
                        (rule_id, alert.item_key, alert.source_id, stamp),
                    ).rowcount
                if fresh:
                    added += _enqueue(conn, alert, stamp)
            conn.execute(
                "UPDATE sources SET etag = ?, last_modified = ?, body_hash = ?, seeded = 1, "
                "last_attempt_at = ?, last_success_at = ?, consecutive_failures = 0, "
                "polls = polls + 1, items_seen = items_seen + ?, alerts = alerts + ? "
                "WHERE id = ?",
                (
                    validators.etag,
                    validators.last_modified,
                    validators.body_hash,
                    stamp,
                    stamp,
                    new_items,
                    added,
                    source_id,
                ),
            )
        return added

    def record_failure(self, source_id: str, kind: str, now: datetime, error: str) -> int:
        """Record a failed poll; returns the number of consecutive failures."""
        stamp = iso(now)
        with self._write() as conn:
            self._ensure_source(conn, source_id, kind)
            conn.execute(
                "UPDATE sources SET last_attempt_at = ?, last_error = ?, last_error_at = ?, "
                "consecutive_failures = consecutive_failures + 1, polls = polls + 1, "
                "failures = failures + 1 WHERE id = ?",
                (stamp, error, stamp, source_id),
            )
        row = self._one("SELECT consecutive_failures FROM sources WHERE id = ?", (source_id,))
        return int(row[0]) if row else 0

    def source_health(self) -> list[SourceHealth]:
        """Every source the store has heard of, by id."""
        rows = self.db.conn.execute(
            "SELECT id, kind, last_success_at, last_error, last_error_at, consecutive_failures, "
            "polls, failures, items_seen, alerts, credits_left, credits_spent, last_day "
            "FROM sources ORDER BY id"
        )
        return [SourceHealth(*row) for row in rows]

    def record_route(
        self,
        rule_id: str,
        now: datetime,
        *,
        firing: bool,
        count: int,
        previous: int | None,
        complete: bool,
        summary: str,
        alert: NewAlert | None = None,
    ) -> int:
        """Record a route rule's evaluation and, if it fired, its alert, in one transaction.

        Returns the number of outbox rows added (0 or 1).
        """
        stamp = iso(now)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO route_state (rule_id) VALUES (?) ON CONFLICT (rule_id) DO NOTHING",
                (rule_id,),
            )
            conn.execute(
                "UPDATE route_state SET firing = ?, count = ?, previous = ?, complete = ?, "
                "summary = ?, evaluated_at = ?, episodes = episodes + ?, "
                "fired_at = CASE WHEN ? THEN ? ELSE fired_at END WHERE rule_id = ?",
                (
                    int(firing),
                    count,
                    previous,
                    int(complete),
                    summary,
                    stamp,
                    int(alert is not None),
                    int(alert is not None),
                    stamp,
                    rule_id,
                ),
            )
            return _enqueue(conn, alert, stamp) if alert is not None else 0

    # -- outbox -------------------------------------------------------------------------

    def recover_inflight(self) -> int:
        """Put rows left 'sending' by a crash back to 'pending'; returns how many."""
        with self._write() as conn:
            return conn.execute(
                "UPDATE outbox SET state = 'pending' WHERE state = 'sending'"
            ).rowcount

    def due_chats(self, now: datetime) -> list[tuple[int | str, int]]:
        """For each chat with due pending rows: (chat id, its oldest due row id), oldest first."""
        rows = self.db.conn.execute(
            "SELECT chat_id, MIN(id) AS first FROM outbox "
            "WHERE state = 'pending' AND not_before <= ? GROUP BY chat_id ORDER BY first",
            (iso(now),),
        )
        return [(_chat_value(chat), first) for chat, first in rows]

    def next_due_at(self) -> str | None:
        """When the earliest pending row becomes due (ISO), or None when nothing is pending."""
        row = self._one("SELECT MIN(not_before) FROM outbox WHERE state = 'pending'")
        return row[0] if row else None

    def claim(self, row_id: int) -> OutboxRow | None:
        """Mark a pending row 'sending' and return it (None if it is no longer pending)."""
        with self._write() as conn:
            row = conn.execute(
                "UPDATE outbox SET state = 'sending' WHERE id = ? AND state = 'pending' "
                "RETURNING id, chat_id, html, plain, link, as_plain, attempts",
                (row_id,),
            ).fetchone()
        if row is None:
            return None
        return OutboxRow(row[0], _chat_value(row[1]), row[2], row[3], row[4], bool(row[5]), row[6])

    def mark_sent(self, row_id: int, now: datetime, message_id: int | None) -> None:
        """The row was delivered."""
        with self._write() as conn:
            conn.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?, message_id = ? WHERE id = ?",
                (iso(now), message_id, row_id),
            )

    def release(
        self,
        row_id: int,
        not_before: datetime,
        *,
        error: str | None = None,
        count_attempt: bool = False,
        as_plain: bool | None = None,
    ) -> None:
        """Put a claimed row back to 'pending', due at `not_before`."""
        with self._write() as conn:
            conn.execute(
                "UPDATE outbox SET state = 'pending', not_before = ?, "
                "last_error = COALESCE(?, last_error), attempts = attempts + ?, "
                "as_plain = COALESCE(?, as_plain) WHERE id = ?",
                (
                    iso(not_before),
                    error,
                    int(count_attempt),
                    None if as_plain is None else int(as_plain),
                    row_id,
                ),
            )

    def mark_failed(self, row_id: int, error: str) -> None:
        """The row can never be delivered as is; kept for `/status`, never deleted."""
        with self._write() as conn:
            conn.execute(
                "UPDATE outbox SET state = 'failed', last_error = ?, attempts = attempts + 1 "
                "WHERE id = ?",
                (error, row_id),
            )

    def migrate_chat(self, old: int | str, new: int | str) -> int:
        """Point every unsent row of chat `old` at chat `new`; returns how many."""
        with self._write() as conn:
            return conn.execute(
                "UPDATE outbox SET chat_id = ? "
                "WHERE chat_id = ? AND state IN ('pending', 'sending')",
                (_chat_text(new), _chat_text(old)),
            ).rowcount

    def outbox_counts(self) -> OutboxCounts:
        """Rows by state, the oldest pending row and the latest failures."""
        counts = dict(
            self.db.conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
        )
        oldest = self._one(
            "SELECT MIN(created_at) FROM outbox WHERE state IN ('pending', 'sending')"
        )
        failures = self.db.conn.execute(
            "SELECT rule_ids, channel, last_error FROM outbox WHERE state = 'failed' "
            "ORDER BY id DESC LIMIT 3"
        )
        return OutboxCounts(
            pending=counts.get("pending", 0) + counts.get("sending", 0),
            sent=counts.get("sent", 0),
            failed=counts.get("failed", 0),
            oldest_pending_at=oldest[0] if oldest else None,
            recent_failures=tuple(f"{r}→{c}: {e}" for r, c, e in failures),
        )

    def outbox_rows(self, state: str | None = None) -> list[dict[str, Any]]:
        """Outbox rows as dicts, oldest first (for tests and tooling)."""
        table = self.db.table("outbox")
        where = "state = ?" if state else None
        return list(table.rows_where(where, [state] if state else [], order_by="id"))
