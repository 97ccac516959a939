"""The database schema, as an ordered set of sqlite-utils migrations.

Add a new function to change the schema; never edit one that has shipped.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("vedette")


@migrations()
def m001_news(db: Database) -> None:
    """Meta, per-source health, seen items, (rule, item) matches and the outbox."""
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        """
        CREATE TABLE sources (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            etag TEXT,
            last_modified TEXT,
            body_hash TEXT,
            seeded INTEGER NOT NULL DEFAULT 0,
            last_attempt_at TEXT,
            last_success_at TEXT,
            last_error TEXT,
            last_error_at TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            polls INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            items_seen INTEGER NOT NULL DEFAULT 0,
            alerts INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    db.execute(
        """
        CREATE TABLE seen_items (
            source_id TEXT NOT NULL,
            item_key TEXT NOT NULL,
            first_seen_at TEXT NOT NULL,
            title TEXT NOT NULL,
            link TEXT NOT NULL,
            PRIMARY KEY (source_id, item_key)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE matches (
            rule_id TEXT NOT NULL,
            item_key TEXT NOT NULL,
            source_id TEXT NOT NULL,
            matched_at TEXT NOT NULL,
            PRIMARY KEY (rule_id, item_key)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            dedup_key TEXT NOT NULL UNIQUE,
            rule_ids TEXT NOT NULL,
            source_id TEXT NOT NULL,
            channel TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            html TEXT NOT NULL,
            plain TEXT NOT NULL,
            link TEXT NOT NULL,
            created_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
            as_plain INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            not_before TEXT NOT NULL,
            last_error TEXT,
            sent_at TEXT,
            message_id INTEGER
        )
        """
    )
    db.execute("CREATE INDEX outbox_due ON outbox (state, not_before)")
