"""Stories and edits: a matched item joins a story instead of being sent, and the story's
message is edited to show it (DESIGN §6 "Stories", "Edits").

A mixin of `bot.store.Store` (see `bot.store.base` for the connection and transactions).

- `enqueue_news` (called in a poll's transaction) either queues the alert, opening a story
  (a `story_items` row for its first item, `story_id` = the alert's outbox id), or, when
  `bot.stories` finds it is the same story as one opened within the window on its channel,
  records it as one more item of that story and asks for an edit of the story's message.
- `ensure_edit` queues the edit: an outbox row of kind "edit" whose `target_id` is the
  message's alert (a digest's first row for an alert sent in a digest). Nothing is queued
  while the target is pending: its send shows the items joined so far. At most one edit per
  message is pending, due at least `EDIT_GAP` after the previous one (coalesced). A target
  that failed gets a failed edit, shown in `/status`, never a second alert; `/retry` sends
  both again.
- The open stories are also kept in memory (`bot.stories.StoryIndex`), loaded from
  `story_items` at the first poll and kept in step with each write; a failed transaction
  drops it, to be loaded again.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.store.outbox import enqueue, hold_if_muted
from bot.store.records import NewAlert, StoryMember
from bot.stories import StoryGrouping, StoryIndex, StoryKeys
from bot.timeutil import from_iso, iso

if TYPE_CHECKING:
    from bot.store.base import StoreBase
else:
    StoreBase = object

EDIT_GAP = timedelta(seconds=60)


def _keys(row: sqlite3.Row) -> StoryKeys:
    return StoryKeys(
        link=row["canonical_link"],
        lang=row["lang"],
        text=row["text"],
        numbers=frozenset(filter(None, row["numbers"].split(","))),
        entities=frozenset(filter(None, row["entities"].split(","))),
        rules=frozenset(filter(None, row["rule_ids"].split(","))),
    )


def _insert_item(
    conn: sqlite3.Connection, story_id: int, alert: NewAlert, reason: str, stamp: str
) -> int:
    keys = alert.story
    assert keys is not None  # noqa: S101 - callers check
    return conn.execute(
        "INSERT OR IGNORE INTO story_items (story_id, channel, dedup_key, source_id, item_key, "
        "rule_ids, title, link, reason, canonical_link, lang, text, numbers, entities, added_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            story_id,
            alert.channel,
            alert.dedup_key,
            alert.source_id,
            alert.item_key,
            ",".join(sorted(keys.rules)),
            alert.title[:300],
            alert.link,
            reason,
            keys.link,
            keys.lang,
            keys.text,
            ",".join(sorted(keys.numbers)),
            ",".join(sorted(keys.entities)),
            stamp,
        ),
    ).rowcount


def ensure_edit(conn: sqlite3.Connection, target_id: int, now: datetime, source_id: str) -> int:
    """Queue an edit of alert `target_id`'s message unless one is pending (or none is
    needed: the alert is not sent yet); 1 if a row was added (see the module doc)."""
    target = conn.execute(
        "SELECT id, state, digest_id, last_error FROM outbox WHERE id = ?", (target_id,)
    ).fetchone()
    if target is None:
        return 0
    if target["digest_id"] is not None and target["digest_id"] != target_id:
        return ensure_edit(conn, target["digest_id"], now, source_id)
    if target["state"] == "pending":
        return 0
    # One pending edit shows every item joined meanwhile; after a failed edit (the message
    # was deleted, or cannot be edited) more would fail too: the failed one stands for them,
    # and `/retry` sends it again with every item joined.
    if conn.execute(
        "SELECT 1 FROM outbox WHERE kind = 'edit' AND target_id = ? "
        "AND state IN ('pending', 'failed')",
        (target_id,),
    ).fetchone():
        return 0
    previous = conn.execute(
        "SELECT (SELECT COALESCE(MAX(id), 0) + 1 FROM outbox) AS next_id, "
        "MAX(COALESCE(sent_at, not_before)) AS last FROM outbox "
        "WHERE kind = 'edit' AND target_id = ?",
        (target_id,),
    ).fetchone()
    due = now
    if previous["last"] is not None:
        due = max(now, from_iso(previous["last"]) + EDIT_GAP)
    state, error = "pending", None
    if target["state"] == "failed":
        state = "failed"
        error = (
            f"its message (outbox #{target_id}) was not delivered: {target['last_error']}; "
            "/retry sends both"
        )
    conn.execute(
        "INSERT INTO outbox (dedup_key, rule_ids, source_id, channel, chat_id, html, plain, "
        "link, created_at, not_before, kind, target_id, state, last_error) "
        "SELECT ?, rule_ids, ?, channel, chat_id, '', '', '', ?, ?, 'edit', id, ?, ? "
        "FROM outbox WHERE id = ?",
        (
            f"edit|{target_id}|{previous['next_id']}",
            source_id,
            iso(now),
            iso(due),
            state,
            error,
            target_id,
        ),
    )
    return 1


def enqueue_news(
    store: StoreBase,
    conn: sqlite3.Connection,
    alert: NewAlert,
    now: datetime,
    grouping: StoryGrouping | None,
) -> tuple[int, int]:
    """Queue a news alert or join it to a story, in the caller's transaction: (alerts
    queued, items joined), each 0 or 1. The caller drops `store.story_index` if the
    transaction fails."""
    stamp = iso(now)
    if alert.story is None or grouping is None:
        return enqueue(conn, alert, stamp), 0
    if hold_if_muted(conn, alert, stamp):
        return 0, 0
    index = _open_stories(store, conn, now, grouping)
    join = index.find(alert.channel, alert.story, now)
    if join is not None:
        if conn.execute(
            "SELECT 1 FROM outbox WHERE dedup_key = ?", (alert.dedup_key,)
        ).fetchone() or not _insert_item(conn, join.story_id, alert, join.reason, stamp):
            return 0, 0
        index.add(alert.channel, join.story_id, alert.story)
        ensure_edit(conn, join.story_id, now, alert.source_id)
        return 0, 1
    added = enqueue(conn, alert, stamp)
    if added:
        story_id = conn.execute(
            "SELECT id FROM outbox WHERE dedup_key = ?", (alert.dedup_key,)
        ).fetchone()["id"]
        _insert_item(conn, story_id, alert, "first", stamp)
        index.open(alert.channel, story_id, now, alert.story)
    return added, 0


def _open_stories(
    store: StoreBase, conn: sqlite3.Connection, now: datetime, grouping: StoryGrouping
) -> StoryIndex:
    """The store's in-memory index of open stories, loaded from `story_items` when needed."""
    window = grouping.window
    index = store.story_index
    if index is not None and (index.window, index.threshold) == (window, grouping.near_copy):
        return index
    index = StoryIndex(window, grouping.near_copy)
    rows = conn.execute(
        "SELECT s.*, o.created_at AS opened FROM story_items s "
        "JOIN outbox o ON o.id = s.story_id "
        "WHERE o.created_at >= ? ORDER BY s.story_id, s.id",
        (iso(now - window),),
    ).fetchall()
    for row in rows:
        if row["reason"] == "first":
            index.open(row["channel"], row["story_id"], from_iso(row["opened"]), _keys(row))
        else:
            index.add(row["channel"], row["story_id"], _keys(row))
    store.story_index = index
    return index


class StoryRecords(StoreBase):
    """Stories and edits; mixed into `bot.store.Store`."""

    def story_members(self, story_id: int) -> list[StoryMember]:
        """The items that joined story `story_id` after its first, oldest first."""
        rows = self._rows(
            "SELECT source_id, title, link, lang, reason, added_at FROM story_items "
            "WHERE story_id = ? AND reason != 'first' ORDER BY id",
            (story_id,),
        )
        return [
            StoryMember(
                row["source_id"],
                row["title"],
                row["link"],
                row["lang"],
                row["reason"],
                from_iso(row["added_at"]),
            )
            for row in rows
        ]

    def story_sources(self, story_ids: list[int]) -> dict[int, int]:
        """How many items (the first included) each of `story_ids` has; 1 when none."""
        found = dict.fromkeys(story_ids, 1)
        for start in range(0, len(story_ids), 500):
            chunk = story_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for row in self._rows(
                f"SELECT story_id, COUNT(*) AS items FROM story_items "
                f"WHERE story_id IN ({marks}) GROUP BY story_id",
                chunk,
            ):
                found[row["story_id"]] = int(row["items"])
        return found

    def update_alert(
        self, row_id: int, html: str, plain: str, now: datetime, source_id: str
    ) -> int:
        """Replace alert `row_id`'s text (a route alert whose count, flights or coverage
        changed) and queue an edit of its message if it was sent; 1 if an edit was queued."""
        with self._write() as conn:
            changed = conn.execute(
                "UPDATE outbox SET html = ?, plain = ? WHERE id = ? AND kind = 'alert' "
                "AND (html != ? OR plain != ?)",
                (html, plain, row_id, html, plain),
            ).rowcount
            return ensure_edit(conn, row_id, now, source_id) if changed else 0
