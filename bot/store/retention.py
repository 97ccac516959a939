"""Keeping the database bounded: pruning old history, and reporting sizes.

What is pruned once older than the retention (`[storage] retention`, default 90 days):

- seen items not seen in their feed since then (an item still listed is kept);
- sent and failed outbox rows (a pending or sending row never is);
- live sightings (the raw ADS-B positions), alerts held by a mute, and the items of stories
  (a story is open for joining for `[stories] window`, which is at most the retention);
- flights and coverage rows older than both the retention and the longest route window.

What is never pruned: the (rule, item) match records. They are the dedup keys that stop an
item from alerting twice, and they grow only with the alerts actually sent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.store.records import PruneReport, StorageReport
from bot.timeutil import iso

if TYPE_CHECKING:
    from bot.store.base import StoreBase
else:
    StoreBase = object

BATCH = 5000
COUNTED = ("outbox", "seen_items", "matches", "flights", "sightings", "coverage")


class Retention(StoreBase):
    """Pruning and sizes; mixed into `bot.store.Store`."""

    def prune(self, now: datetime, retention: timedelta, flight_history: timedelta) -> PruneReport:
        """Delete what is older than `retention` (flights: older than both), in batches."""
        cutoff = iso(now - retention)
        flights_cutoff = now - max(retention, flight_history + timedelta(days=2))
        return PruneReport(
            seen_items=self._delete("seen_items", "last_seen_at < ?", cutoff),
            alerts=self._delete(
                "outbox",
                "state IN ('sent', 'failed') AND COALESCE(sent_at, created_at) < ?",
                cutoff,
            ),
            sightings=self._delete("sightings", "seen_at < ?", int((now - retention).timestamp())),
            flights=self._delete("flights", "departure < ?", int(flights_cutoff.timestamp())),
            coverage=self._delete("coverage", "day < ?", flights_cutoff.date().isoformat()),
            held=self._delete("muted_alerts", "created_at < ?", cutoff),
            story_items=self._delete("story_items", "added_at < ?", cutoff),
        )

    def _delete(self, table: str, where: str, value: object) -> int:
        total = 0
        while True:
            with self._write() as conn:
                deleted = conn.execute(
                    f"DELETE FROM {table} WHERE rowid IN "
                    f"(SELECT rowid FROM {table} WHERE {where} LIMIT {BATCH})",
                    (value,),
                ).rowcount
            total += deleted
            if deleted < BATCH:
                return total

    def checkpoint(self) -> None:
        """Fold the WAL back into the database file and truncate it."""
        self.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def storage_report(self) -> StorageReport:
        """Bytes on disk (database and WAL) and rows per table."""
        size = 0
        for suffix in ("", "-wal"):
            try:
                size += os.path.getsize(self.path + suffix)
            except OSError:
                continue
        return StorageReport(size, tuple(self._counts()))

    def _counts(self) -> Iterator[tuple[str, int]]:
        for table in COUNTED:
            yield table, int(self._value(f"SELECT COUNT(*) FROM {table}"))
