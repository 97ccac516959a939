"""Sources and their seen items: poll state, what each source listed, health, pausing.

A mixin of `bot.store.Store` (see `bot.store.base` for the connection and transactions).

- **Poll state**: a source's HTTP validators, whether it is seeded (its first poll records
  silently), its failures; `record_success` writes a poll's new items, their (rule, item)
  matches and the alerts they enqueue (`bot.store.outbox.enqueue`) in one transaction.
- **Seen items**: one row per (source, item key), with the item's fingerprint, the rules
  it matched while its source was recording silently, and what the rules read in it (its
  text and date, which `vedette test-rule` matches again: `stored_texts`, `stored_rows`).
- **Schedule**: the interval the runner chose after each poll, the source's recent rate of
  new items and whether it polls adaptively (`record_schedule`), shown by `/status`.
- **Paused sources** (`/pause SOURCE`): a row in `paused_sources`; the runner skips the
  source's polls while it is there (checked each cycle), across restarts, until `/resume`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from bot.store.base import placeholders
from bot.store.records import NewAlert, SeenItem, SourceHealth, SourceState, StoredItem
from bot.store.stories import enqueue_news
from bot.stories import StoryGrouping
from bot.timeutil import from_iso, iso
from watchers.adaptive import HISTORY, Sighting
from watchers.http import Validators
from watchers.items import NewsItem, item_text

if TYPE_CHECKING:
    from bot.store.base import StoreBase
else:
    StoreBase = object

PAUSED_RECHECK = 30.0  # seconds between two looks at a paused source's row


class SourceRecords(StoreBase):
    """Sources, seen items and paused sources; mixed into `bot.store.Store`."""

    def source_state(self, source_id: str) -> SourceState:
        """The validators, seeding and failure state of a source (defaults if unknown)."""
        row = self._one(
            "SELECT etag, last_modified, body_hash, seeded, consecutive_failures, last_error, "
            "seeded_url FROM sources WHERE id = ?",
            (source_id,),
        )
        if row is None:
            return SourceState(Validators(), seeded=False, consecutive_failures=0, last_error=None)
        return SourceState(
            Validators(row["etag"], row["last_modified"], row["body_hash"]),
            seeded=bool(row["seeded"]),
            consecutive_failures=row["consecutive_failures"],
            last_error=row["last_error"],
            url=row["seeded_url"],
        )

    def known_items(self, source_id: str, keys: Iterable[str]) -> dict[str, SeenItem]:
        """The items among `keys` this source has recorded (the others are new to it)."""
        wanted = list(dict.fromkeys(keys))
        known: dict[str, SeenItem] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = placeholders(len(chunk))
            rows = self._rows(
                "SELECT item_key, fingerprint, quiet_rules FROM seen_items "
                f"WHERE source_id = ? AND item_key IN ({marks})",
                (source_id, *chunk),
            )
            for row in rows:
                quiet = row["quiet_rules"]
                rules = frozenset(quiet.split(",")) if quiet else frozenset()
                known[row["item_key"]] = SeenItem(row["fingerprint"], rules)
        return known

    def matched_pairs(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """The (rule id, item key) pairs among `pairs` that have matched before."""
        found: set[tuple[str, str]] = set()
        for rule_id, item_key in dict.fromkeys(pairs):
            if self._one(
                "SELECT 1 FROM matches WHERE rule_id = ? AND item_key = ?", (rule_id, item_key)
            ):
                found.add((rule_id, item_key))
        return found

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
        edited: Sequence[NewsItem] = (),
        fingerprints: Mapping[str, str] | None = None,
        quiet: Mapping[str, Collection[str]] | None = None,
        seed: bool = True,
        url: str | None = None,
        bad_bytes: int = 0,
        grouping: StoryGrouping | None = None,
    ) -> int:
        """Record a successful poll, its new items and alerts in one transaction.

        `present` are the keys of every item the feed listed (their last-seen time is
        refreshed, so pruning spares them, and their fingerprint set from `fingerprints`);
        `edited` are known items whose text changed (their stored text and date follow);
        `quiet` maps item keys to every rule they matched while recording silently;
        `new_flights` (flight sources) adds to the source's count of things seen. `seed`
        marks the source seeded (a source never becomes unseeded); `url`, when given, is
        stored as the URL it was seeded with; `bad_bytes` adds to its count of repaired bytes.

        Items already seen are ignored; an alert whose (rule, item) pair matched before, or
        whose dedup key is already in the outbox, is not enqueued again. With `grouping`, an
        alert may join a story instead (`bot.store.stories.enqueue_news`). Returns the number
        of alerts reported: outbox rows added, and items that joined a story.
        """
        stamp = iso(now)
        added = 0
        prints = fingerprints or {}
        with self._write() as conn:
            self._ensure_source(conn, source_id, kind)
            new_items = new_flights
            for item in items:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO seen_items (source_id, item_key, first_seen_at, "
                    "last_seen_at, title, link, fingerprint, text, published_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        source_id,
                        item.key,
                        stamp,
                        stamp,
                        item.title[:300],
                        item.link,
                        prints.get(item.key),
                        *_item_text(item),
                    ),
                )
                new_items += cursor.rowcount
            conn.executemany(
                "UPDATE seen_items SET text = ?, published_at = ? "
                "WHERE source_id = ? AND item_key = ?",
                [(*_item_text(item), source_id, item.key) for item in edited],
            )
            conn.executemany(
                "UPDATE seen_items SET last_seen_at = ?, fingerprint = COALESCE(?, fingerprint) "
                "WHERE source_id = ? AND item_key = ?",
                [(stamp, prints.get(key), source_id, key) for key in present],
            )
            conn.executemany(
                "UPDATE seen_items SET quiet_rules = ? WHERE source_id = ? AND item_key = ?",
                [
                    (",".join(sorted(rules)) or None, source_id, key)
                    for key, rules in (quiet or {}).items()
                ],
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
                    added += sum(enqueue_news(self, conn, alert, now, grouping))
            conn.execute(
                "UPDATE sources SET etag = ?, last_modified = ?, body_hash = ?, "
                "seeded = MAX(seeded, ?), seeded_url = COALESCE(?, seeded_url), "
                "bad_bytes = bad_bytes + ?, "
                "last_attempt_at = ?, last_success_at = ?, consecutive_failures = 0, "
                "polls = polls + 1, items_seen = items_seen + ?, alerts = alerts + ? "
                "WHERE id = ?",
                (
                    validators.etag,
                    validators.last_modified,
                    validators.body_hash,
                    int(seed),
                    url,
                    bad_bytes,
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
        failures = self._value(
            "SELECT consecutive_failures FROM sources WHERE id = ?", (source_id,)
        )
        return int(failures or 0)

    def source_health(self) -> list[SourceHealth]:
        """Every source the store has heard of, by id."""
        rows = self._rows(
            "SELECT id, kind, last_success_at, last_error, last_error_at, consecutive_failures, "
            "polls, failures, items_seen, alerts, credits_left, credits_spent, last_day, "
            "bad_bytes, interval, rate, adaptive FROM sources ORDER BY id"
        )
        return [_health(row) for row in rows]

    def record_schedule(
        self, source_id: str, kind: str, *, interval: float, rate: float | None, adaptive: bool
    ) -> None:
        """Record the schedule the runner chose after a poll of `source_id`, for `/status`:
        `interval`, the seconds until its next poll (before jitter); `rate`, its new items
        per day lately (None: not known yet); `adaptive`, whether the interval follows the
        rate. One statement; the source's row is created if it has none yet."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO sources (id, kind, interval, rate, adaptive) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET interval = excluded.interval, "
                "rate = excluded.rate, adaptive = excluded.adaptive",
                (source_id, kind, interval, rate, int(adaptive)),
            )

    def record_hint(self, source_id: str, kind: str, hint: float | None) -> None:
        """Record a feed's own refresh hint in seconds (None: it gives none), from a poll that
        parsed its body, for the scheduler after a restart (`feed_hint`)."""
        with self._write() as conn:
            self._ensure_source(conn, source_id, kind)
            conn.execute("UPDATE sources SET hint = ? WHERE id = ?", (hint, source_id))

    def feed_hint(self, source_id: str) -> float | None:
        """The refresh hint `record_hint` last recorded for a feed (None: none)."""
        hint = self._value("SELECT hint FROM sources WHERE id = ?", (source_id,))
        return None if hint is None else float(hint)

    def stored_texts(
        self, since: datetime, *, sources: Collection[str] | None = None
    ) -> list[tuple[int, str]]:
        """(row id, text) of the seen items first seen at or after `since` that have their
        text stored (items recorded before 0.2 have none): of `sources` only, when given.
        `vedette test-rule` matches these, then reads whole only the rows it needs
        (`stored_rows`): a month of items is read to keep a few."""
        where = "first_seen_at >= ? AND text IS NOT NULL"
        params: tuple[str, ...] = (iso(since),)
        if sources is not None:
            chosen = tuple(dict.fromkeys(sources))
            where += f" AND source_id IN ({placeholders(len(chosen))})"
            params += chosen
        cursor = self.db.conn.cursor()
        cursor.row_factory = None  # plain tuples: 100,000 rows
        cursor.execute(f"SELECT rowid, text FROM seen_items WHERE {where}", params)
        return cursor.fetchall()

    def stored_rows(self, rowids: Collection[int]) -> dict[int, StoredItem]:
        """The seen items with these row ids (`stored_texts`), by row id."""
        columns = "rowid, source_id, item_key, title, link, text, published_at, first_seen_at"
        cursor = self.db.conn.cursor()
        cursor.row_factory = None
        found: dict[int, StoredItem] = {}
        wanted = list(rowids)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            cursor.execute(
                f"SELECT {columns} FROM seen_items WHERE rowid IN ({placeholders(len(chunk))})",
                chunk,
            )
            found.update((rowid, StoredItem(*row)) for rowid, *row in cursor)
        return found

    # -- paused sources -------------------------------------------------------------------

    def sightings(self, source_id: str, limit: int = HISTORY) -> list[Sighting]:
        """The source's latest `limit` items as the adaptive scheduler reads them (oldest
        first): when each was first seen and its date; `seed` for those its first poll
        listed (the earliest first-seen time still stored)."""
        rows = self._rows(
            "SELECT first_seen_at, published_at FROM seen_items WHERE source_id = ? "
            "ORDER BY first_seen_at DESC LIMIT ?",
            (source_id, limit),
        )
        seeded_at = self._value(
            "SELECT MIN(first_seen_at) FROM seen_items WHERE source_id = ?", (source_id,)
        )
        return [
            Sighting(
                from_iso(row["first_seen_at"]).timestamp(),
                from_iso(row["published_at"]).timestamp() if row["published_at"] else None,
                seed=row["first_seen_at"] == seeded_at,
            )
            for row in reversed(rows)
        ]

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
        rows = self._rows("SELECT source_id, paused_at FROM paused_sources ORDER BY source_id")
        return {row["source_id"]: from_iso(row["paused_at"]) for row in rows}

    def is_paused(self, source_id: str) -> bool:
        """Whether `source_id` is paused (a read error counts as not paused: poll anyway)."""
        try:
            row = self._one("SELECT 1 FROM paused_sources WHERE source_id = ?", (source_id,))
        except sqlite3.Error:
            return False
        return row is not None


def _health(row: sqlite3.Row) -> SourceHealth:
    """A `sources` row as `SourceHealth` (`adaptive` is stored as 1, 0 or NULL)."""
    fields = dict(row)
    if fields["adaptive"] is not None:
        fields["adaptive"] = bool(fields["adaptive"])
    return SourceHealth(**fields)


def _item_text(item: NewsItem) -> tuple[str, str | None]:
    """The text the keyword rules read in `item` (`watchers.items.item_text`) and its
    publication date, as stored for `vedette test-rule`."""
    return item_text(item), iso(item.published) if item.published else None
