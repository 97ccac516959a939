"""The outbox: alerts waiting to be sent, being sent, sent or failed, and the mute rule.

A mixin of `bot.store.Store` (see `bot.store.base` for the connection and transactions).

- `enqueue` adds an alert in the transaction that found it (a poll's, or a route rule's),
  unless its dedup key is there already (a key is unique forever) or `hold_if_muted` holds
  it: an alert all of whose rules are muted is recorded in `muted_alerts` instead, and is
  never sent, not even after `/unmute` (see `bot.store.mutes`).
- The dispatcher claims due rows (`pending` → `sending`), then marks them `sent`, puts them
  back (`release`, with a delay) or marks them `failed` (kept for `/status`, queued again
  only on request: `retry_failed`). A crash mid-send leaves rows `sending`:
  `recover_inflight` puts them back.
- Chat ids are stored as text (a channel's `@name` or a number) and read back as they were.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.store.base import placeholders
from bot.store.records import DueGroup, NewAlert, OutboxCounts, OutboxRow, RecentAlert
from bot.timeutil import from_iso, iso

if TYPE_CHECKING:
    from bot.store.base import StoreBase
else:
    StoreBase = object


# An alert is sendable when due; an edit only once its target's message is sent.
SENDABLE = (
    "(kind = 'alert' OR EXISTS (SELECT 1 FROM outbox AS target "
    "WHERE target.id = outbox.target_id AND target.state = 'sent'))"
)
CLAIMED = (
    "id, chat_id, html, plain, link, as_plain, attempts, channel, kind, target_id, "
    "source_id, rule_ids, title, created_at, photo"
)


def _chat_text(chat_id: int | str) -> str:
    return str(chat_id)


def _chat_value(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def enqueue(conn: sqlite3.Connection, alert: NewAlert, stamp: str) -> int:
    """Add an outbox row unless its dedup key is there already; 1 if added.

    An alert whose rules are all muted is recorded in `muted_alerts` instead (0; see
    `hold_if_muted`).
    """
    if hold_if_muted(conn, alert, stamp):
        return 0
    cursor = conn.execute(
        "INSERT OR IGNORE INTO outbox (dedup_key, rule_ids, source_id, channel, "
        "chat_id, html, plain, link, created_at, not_before, title, photo) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            alert.title[:300] or None,
            alert.photo,
        ),
    )
    return cursor.rowcount


def hold_if_muted(conn: sqlite3.Connection, alert: NewAlert, stamp: str) -> bool:
    """True when `alert` must not be enqueued because of a mute (called by `enqueue`).

    When every rule of the alert is muted at `stamp`, the alert is recorded in
    `muted_alerts` (once per dedup key, and not if it is in the outbox already). An alert
    held earlier stays held: its dedup key is never enqueued later.
    """
    rules = list(dict.fromkeys(alert.rule_ids))
    if rules:
        marks = placeholders(len(rules))
        muted = conn.execute(
            f"SELECT COUNT(*) AS muted FROM mutes WHERE until > ? AND rule_id IN ({marks})",
            (stamp, *rules),
        ).fetchone()
        if muted["muted"] == len(rules):
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


def _failure(row: sqlite3.Row) -> str:
    """A failed row for `/status`: "rule→channel: error", an edit saying so."""
    what = f"{row['rule_ids']}→{row['channel']}"
    if row["kind"] == "edit":
        what = f"edit of alert #{row['target_id']} ({what})"
    return f"{what}: {row['last_error']}"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def recent_from_rows(rows: Iterable[sqlite3.Row]) -> list[RecentAlert]:
    """`RecentAlert`s from rows with columns `at`, `rule_ids`, `channel`, `plain`, `link`
    (`bot.store.mutes` reads held alerts with it too)."""
    return [
        RecentAlert(
            from_iso(row["at"]),
            tuple(row["rule_ids"].split(",")),
            row["channel"],
            _first_line(row["plain"]),
            row["link"],
            max(1, int(row["sources"])) if "sources" in row else 1,
        )
        for row in rows
    ]


def _claimed(row: sqlite3.Row, target: sqlite3.Row | None) -> OutboxRow:
    """An `OutboxRow` from a claimed row (and, for an edit, its target's row)."""
    text = target if target is not None else row
    return OutboxRow(
        id=row["id"],
        chat_id=_chat_value(row["chat_id"]),
        html=text["html"],
        plain=text["plain"],
        link=text["link"],
        as_plain=bool(row["as_plain"]) or (target is not None and bool(target["as_plain"])),
        attempts=row["attempts"],
        channel=row["channel"],
        kind=row["kind"],
        target_id=row["target_id"],
        message_id=target["message_id"] if target is not None else None,
        source_id=row["source_id"],
        rule_ids=tuple(row["rule_ids"].split(",")),
        title=(target if target is not None else row)["title"] or "",
        created_at=row["created_at"],
        photo=text["photo"],
    )


class Outbox(StoreBase):
    """The outbox; mixed into `bot.store.Store`."""

    def recover_inflight(self) -> int:
        """Put rows left 'sending' by a crash back to 'pending'; returns how many."""
        with self._write() as conn:
            return conn.execute(
                "UPDATE outbox SET state = 'pending' WHERE state = 'sending'"
            ).rowcount

    def due_groups(self, now: datetime) -> list[DueGroup]:
        """Due pending rows grouped by (channel, stored chat id), oldest first.

        The dispatcher resolves each channel to the chat id configured now; the stored chat
        id is only the fallback when it has no configuration to ask.
        """
        rows = self._rows(
            "SELECT channel, chat_id, MIN(id) AS first FROM outbox "
            f"WHERE state = 'pending' AND not_before <= ? AND {SENDABLE} "
            "GROUP BY channel, chat_id ORDER BY first",
            (iso(now),),
        )
        return [DueGroup(row["channel"], _chat_value(row["chat_id"]), row["first"]) for row in rows]

    def next_due_at(self, skip_channels: Iterable[str] = ()) -> str | None:
        """When the earliest pending row becomes due (ISO), or None when nothing is pending;
        rows of `skip_channels` (channels no longer configured) are left out."""
        skip = sorted(set(skip_channels))
        marks = placeholders(len(skip))
        where = f" AND channel NOT IN ({marks})" if skip else ""
        due: str | None = self._value(
            f"SELECT MIN(not_before) FROM outbox WHERE state = 'pending' AND {SENDABLE}{where}",
            skip,
        )
        return due

    def pending_by_channel(self) -> dict[str, int]:
        """Unsent rows (pending or mid-send) per channel."""
        rows = self._rows(
            "SELECT channel, COUNT(*) AS unsent FROM outbox WHERE state IN ('pending', 'sending') "
            "GROUP BY channel ORDER BY channel"
        )
        return {row["channel"]: int(row["unsent"]) for row in rows}

    def claim(self, row_id: int, chat_id: int | str | None = None) -> OutboxRow | None:
        """Mark a pending row 'sending' and return it (None if it is no longer pending).

        `chat_id`, when given, is where the row goes now (its channel's chat id in the
        configuration in force); it replaces the chat id stored when the row was queued.
        An edit row comes back with its target's text, link and message id, and goes to the
        chat its target was sent to (a message id means nothing in another chat).
        """
        with self._write() as conn:
            row = conn.execute(
                "UPDATE outbox SET state = 'sending', chat_id = CASE WHEN kind = 'edit' "
                "THEN COALESCE((SELECT target.chat_id FROM outbox AS target "
                "WHERE target.id = outbox.target_id), chat_id) ELSE COALESCE(?, chat_id) END "
                f"WHERE id = ? AND state = 'pending' RETURNING {CLAIMED}",
                (None if chat_id is None else _chat_text(chat_id), row_id),
            ).fetchone()
            target = None
            if row is not None and row["kind"] == "edit":
                target = conn.execute(
                    "SELECT html, plain, link, as_plain, message_id, title, photo FROM outbox "
                    "WHERE id = ?",
                    (row["target_id"],),
                ).fetchone()
        return None if row is None else _claimed(row, target)

    def claim_digest(
        self, channel: str, stored_chat: int | str, chat_id: int | str, now: datetime, limit: int
    ) -> list[OutboxRow]:
        """Claim up to `limit` due news alerts of `channel` (queued for `stored_chat`),
        oldest first, to send as one digest to `chat_id`; [] when none."""
        with self._write() as conn:
            ids = [
                row["id"]
                for row in conn.execute(
                    "SELECT id FROM outbox WHERE state = 'pending' AND kind = 'alert' "
                    "AND source_id != 'routes' AND channel = ? AND chat_id = ? "
                    "AND not_before <= ? ORDER BY id LIMIT ?",
                    (channel, _chat_text(stored_chat), iso(now), limit),
                )
            ]
            if not ids:
                return []
            rows = conn.execute(
                "UPDATE outbox SET state = 'sending', chat_id = ? "
                f"WHERE id IN ({placeholders(len(ids))}) RETURNING {CLAIMED}",
                (_chat_text(chat_id), *ids),
            ).fetchall()
        return sorted((_claimed(row, None) for row in rows), key=lambda row: row.id)

    def due_news(self, channel: str, stored_chat: int | str, now: datetime) -> int:
        """How many news alerts of `channel` (queued for `stored_chat`) are due now."""
        due: int = self._value(
            "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND kind = 'alert' "
            "AND source_id != 'routes' AND channel = ? AND chat_id = ? AND not_before <= ?",
            (channel, _chat_text(stored_chat), iso(now)),
        )
        return due

    def mark_digest_sent(
        self, row_ids: Sequence[int], now: datetime, message_id: int | None
    ) -> None:
        """Rows sent together in one digest message: sent, sharing `digest_id` (the
        first row's id), which later edits of the digest target."""
        with self._write() as conn:
            conn.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?, message_id = ?, digest_id = ? "
                f"WHERE id IN ({placeholders(len(row_ids))})",
                (iso(now), message_id, min(row_ids), *row_ids),
            )

    def digest_rows(self, digest_id: int) -> list[OutboxRow]:
        """The alerts sent in digest `digest_id`, in order (to render it again)."""
        rows = self._rows(
            f"SELECT {CLAIMED} FROM outbox WHERE digest_id = ? ORDER BY id", (digest_id,)
        )
        return [_claimed(row, None) for row in rows]

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
            conn.execute(  # its message was never sent: its edits cannot be either
                "UPDATE outbox SET state = 'failed', last_error = ? "
                "WHERE kind = 'edit' AND target_id = ? AND state = 'pending'",
                (f"its message (outbox #{row_id}) was not delivered: {error}", row_id),
            )

    def migrate_chat(self, old: int | str, new: int | str, now: datetime | None = None) -> int:
        """Point every unsent row of chat `old` at chat `new`; returns how many.

        With `now`, the migration is also remembered (`chat_migrations`): a channel whose
        rules.toml still names `old` is delivered to `new` (see `chat_migrations`).
        """
        with self._write() as conn:
            if now is not None and _chat_text(old) != _chat_text(new):
                conn.execute(
                    "INSERT INTO chat_migrations (old_chat, new_chat, migrated_at) "
                    "VALUES (?, ?, ?) ON CONFLICT (old_chat) DO UPDATE SET "
                    "new_chat = excluded.new_chat, migrated_at = excluded.migrated_at",
                    (_chat_text(old), _chat_text(new), iso(now)),
                )
            return conn.execute(
                "UPDATE outbox SET chat_id = ? "
                "WHERE chat_id = ? AND state IN ('pending', 'sending')",
                (_chat_text(new), _chat_text(old)),
            ).rowcount

    def chat_migrations(self) -> dict[int | str, int | str]:
        """Old chat id → new chat id, for every group Telegram told us became a supergroup."""
        rows = self._rows("SELECT old_chat, new_chat FROM chat_migrations")
        return {_chat_value(row["old_chat"]): _chat_value(row["new_chat"]) for row in rows}

    def retry_failed(self, now: datetime, rule_id: str | None = None) -> int:
        """Put failed rows (of `rule_id`, if given) back in line; returns how many.

        The same row goes back to 'pending' (same dedup key, attempts reset, due now), so
        an alert that was sent can never be queued a second time by this.
        """
        where = "state = 'failed'"
        params: list[Any] = [iso(now)]
        if rule_id is not None:
            where += " AND instr(',' || rule_ids || ',', ',' || ? || ',') > 0"
            params.append(rule_id)
        with self._write() as conn:
            return conn.execute(
                f"UPDATE outbox SET state = 'pending', attempts = 0, not_before = ? WHERE {where}",
                params,
            ).rowcount

    def outbox_counts(self) -> OutboxCounts:
        """Rows by state, the oldest pending row and the latest failures."""
        counts = {
            row["state"]: int(row["rows"])
            for row in self._rows("SELECT state, COUNT(*) AS rows FROM outbox GROUP BY state")
        }
        oldest = self._value(
            "SELECT MIN(created_at) FROM outbox WHERE state IN ('pending', 'sending')"
        )
        failures = self._rows(
            "SELECT rule_ids, channel, last_error, kind, target_id FROM outbox "
            "WHERE state = 'failed' ORDER BY id DESC LIMIT 3"
        )
        edits_failed = self._value(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'edit' AND state = 'failed'"
        )
        joined = self._value("SELECT COUNT(*) FROM story_items WHERE reason != 'first'")
        return OutboxCounts(
            pending=counts.get("pending", 0) + counts.get("sending", 0),
            sent=counts.get("sent", 0),
            failed=counts.get("failed", 0),
            oldest_pending_at=oldest,
            recent_failures=tuple(_failure(row) for row in failures),
            edits_failed=int(edits_failed),
            joined=int(joined),
        )

    def recent_alerts(self, limit: int = 10) -> list[RecentAlert]:
        """The latest delivered outbox rows, newest first (`at` is when it was sent)."""
        rows = self._rows(
            "SELECT id, sent_at AS at, rule_ids, channel, plain, link, "
            "(SELECT COUNT(*) FROM story_items WHERE story_id = outbox.id) AS sources "
            "FROM outbox WHERE state = 'sent' AND kind = 'alert' AND sent_at IS NOT NULL "
            "ORDER BY sent_at DESC, id DESC LIMIT ?",
            (limit,),
        )
        return recent_from_rows(rows)
