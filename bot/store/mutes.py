"""Rule mutes, and the alerts they held back.

A mixin of `bot.store.Store` (see `bot.store.base` for the connection and transactions).

- **Mutes** (`/mute RULE 6h`): until a mute's `until`, an alert all of whose rules are muted
  is recorded in `muted_alerts` instead of the outbox, in the same transaction that would
  have enqueued it (`bot.store.outbox.hold_if_muted`), and is never sent, not even after
  `/unmute`. An alert that an unmuted rule also wants is sent as usual. An expired mute
  stops applying at once; its row is deleted at the next `/mute` or `/unmute`.
- Times are stored as `bot.timeutil.iso` writes them (fixed-width UTC), so they compare as
  text.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.store.outbox import recent_from_rows
from bot.store.records import Mute, RecentAlert
from bot.timeutil import from_iso, iso

if TYPE_CHECKING:
    from bot.store.base import StoreBase
else:
    StoreBase = object


class Mutes(StoreBase):
    """Rule mutes and the alerts they held; mixed into `bot.store.Store`."""

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
        rows = self._rows(
            "SELECT m.rule_id, m.until, m.created_at, (SELECT COUNT(*) FROM muted_alerts a "
            "WHERE a.created_at >= m.created_at "
            "AND instr(',' || a.rule_ids || ',', ',' || m.rule_id || ',') > 0) AS held "
            "FROM mutes m ORDER BY m.rule_id"
        )
        return [
            Mute(
                rule_id=row["rule_id"],
                until=from_iso(row["until"]),
                since=from_iso(row["created_at"]),
                held=row["held"],
            )
            for row in rows
        ]

    def muted_count(self, since: datetime | None = None) -> int:
        """How many alerts mutes held back (from `since` on, if given)."""
        if since is None:
            return int(self._value("SELECT COUNT(*) FROM muted_alerts"))
        return int(
            self._value("SELECT COUNT(*) FROM muted_alerts WHERE created_at >= ?", (iso(since),))
        )

    def recent_muted(self, limit: int = 10) -> list[RecentAlert]:
        """The latest alerts held back by mutes, newest first."""
        rows = self._rows(
            "SELECT created_at AS at, rule_ids, channel, plain, link FROM muted_alerts "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return recent_from_rows(rows)
