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


@migrations()
def m002_flights(db: Database) -> None:
    """Flights, the coverage ledger, live sightings, route rule state, source credits."""
    db.execute(
        """
        CREATE TABLE flights (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            icao24 TEXT NOT NULL,
            callsign TEXT,
            operator TEXT,
            departure_airport TEXT,
            arrival_airport TEXT,
            departure INTEGER NOT NULL,
            arrival INTEGER,
            sources TEXT NOT NULL,
            quality TEXT NOT NULL DEFAULT '{}',
            recorded_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX flights_aircraft ON flights (icao24, departure)")
    db.execute("CREATE INDEX flights_route ON flights (departure_airport, departure)")
    db.execute(
        """
        CREATE TABLE coverage (
            source_id TEXT NOT NULL,
            airport TEXT NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('departure', 'arrival')),
            day TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('ok', 'empty', 'failed', 'rate_limited')),
            flights INTEGER NOT NULL DEFAULT 0,
            fetches INTEGER NOT NULL DEFAULT 0,
            fetched_at TEXT NOT NULL,
            error TEXT,
            PRIMARY KEY (source_id, airport, direction, day)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE sightings (
            icao24 TEXT NOT NULL,
            seen_at INTEGER NOT NULL,
            callsign TEXT,
            lat REAL,
            lon REAL,
            altitude_ft INTEGER,
            on_ground INTEGER NOT NULL,
            source TEXT NOT NULL,
            PRIMARY KEY (icao24, seen_at, source)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE route_state (
            rule_id TEXT PRIMARY KEY,
            firing INTEGER NOT NULL DEFAULT 0,
            episodes INTEGER NOT NULL DEFAULT 0,
            count INTEGER NOT NULL DEFAULT 0,
            previous INTEGER,
            complete INTEGER NOT NULL DEFAULT 0,
            summary TEXT NOT NULL DEFAULT '',
            evaluated_at TEXT,
            fired_at TEXT
        )
        """
    )
    db.execute("ALTER TABLE sources ADD COLUMN credits_left INTEGER")
    db.execute("ALTER TABLE sources ADD COLUMN credits_spent INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE sources ADD COLUMN last_day TEXT")


@migrations()
def m003_retention(db: Database) -> None:
    """When each item was last seen in its feed, so pruning spares items still listed."""
    db.execute("ALTER TABLE seen_items ADD COLUMN last_seen_at TEXT")
    db.execute("UPDATE seen_items SET last_seen_at = first_seen_at")
    db.execute("CREATE INDEX seen_items_last_seen ON seen_items (last_seen_at)")
    db.execute("CREATE INDEX outbox_sent_at ON outbox (state, sent_at)")
    db.execute("CREATE INDEX sightings_seen_at ON sightings (seen_at)")


@migrations()
def m004_admin(db: Database) -> None:
    """Mutes set by `/mute`, and the alerts they held back (recorded, never sent)."""
    db.execute(
        """
        CREATE TABLE mutes (
            rule_id TEXT PRIMARY KEY,
            until TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by INTEGER
        )
        """
    )
    db.execute(
        """
        CREATE TABLE muted_alerts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            dedup_key TEXT NOT NULL UNIQUE,
            rule_ids TEXT NOT NULL,
            channel TEXT NOT NULL,
            plain TEXT NOT NULL,
            link TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX muted_alerts_created_at ON muted_alerts (created_at)")


@migrations()
def m005_route_indexes(db: Database) -> None:
    """Route rules count a route's flights and its days of coverage inside indexes: the
    flights of one route in a window (operator included; the old index held every departure
    of the origin airport), and the ledger's status beside its key."""
    db.execute("DROP INDEX IF EXISTS flights_route")
    db.execute(
        "CREATE INDEX IF NOT EXISTS flights_by_route "
        "ON flights (departure_airport, arrival_airport, departure, operator)"
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS coverage_status "
        "ON coverage (source_id, airport, direction, day, status)"
    )


@migrations()
def m006_item_revisions(db: Database) -> None:
    """Edited items and first polls: each seen item's fingerprint (what rules match in it)
    and the rules it matched while its source was recording silently; each source's URL at
    its silent first poll, and its count of bad bytes repaired in its documents. Rows from
    before have no fingerprint or URL: the next poll stores them (and alerts on nothing)."""
    db.execute("ALTER TABLE seen_items ADD COLUMN fingerprint TEXT")
    db.execute("ALTER TABLE seen_items ADD COLUMN quiet_rules TEXT")
    db.execute("ALTER TABLE sources ADD COLUMN seeded_url TEXT")
    db.execute("ALTER TABLE sources ADD COLUMN bad_bytes INTEGER NOT NULL DEFAULT 0")


@migrations()
def m007_delivery_admin(db: Database) -> None:
    """Chats that Telegram migrated (a group became a supergroup: alerts follow the new id
    even while rules.toml still names the old one), and sources paused by `/pause`."""
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS chat_migrations (
            old_chat TEXT PRIMARY KEY,
            new_chat TEXT NOT NULL,
            migrated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS paused_sources (
            source_id TEXT PRIMARY KEY,
            paused_at TEXT NOT NULL,
            paused_by INTEGER
        )
        """
    )


@migrations()
def m008_item_text(db: Database) -> None:
    """What the keyword rules read in each seen item (title, summary and content, as
    `watchers.items.item_text` joins them) and its publication date, so `vedette test-rule` can
    match history again; pruned with the item. Rows from before have neither."""
    db.execute("ALTER TABLE seen_items ADD COLUMN text TEXT")
    db.execute("ALTER TABLE seen_items ADD COLUMN published_at TEXT")
    db.execute("CREATE INDEX seen_items_first_seen ON seen_items (first_seen_at)")


@migrations()
def m009_stories(db: Database) -> None:
    """Stories, edits and digests (DESIGN §6): an outbox row is an alert or an edit of an
    alert's message (`kind`, `target_id`); news alerts keep their title (digests, `/recent`);
    alerts sent together in one digest message share `digest_id`. `story_items` holds each
    item of a story (the first one included) with what grouping compares; `story_id` is the
    outbox id of the story's alert. Alerts from before have no story: nothing joins them."""
    db.execute("ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'alert'")
    db.execute("ALTER TABLE outbox ADD COLUMN target_id INTEGER")
    db.execute("ALTER TABLE outbox ADD COLUMN title TEXT")
    db.execute("ALTER TABLE outbox ADD COLUMN digest_id INTEGER")
    db.execute("CREATE INDEX outbox_target ON outbox (target_id, state)")
    db.execute(
        """
        CREATE TABLE story_items (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            story_id INTEGER NOT NULL,
            channel TEXT NOT NULL,
            dedup_key TEXT NOT NULL UNIQUE,
            source_id TEXT NOT NULL,
            item_key TEXT NOT NULL,
            rule_ids TEXT NOT NULL,
            title TEXT NOT NULL,
            link TEXT NOT NULL,
            reason TEXT NOT NULL,
            canonical_link TEXT NOT NULL,
            lang TEXT NOT NULL,
            text TEXT NOT NULL,
            numbers TEXT NOT NULL,
            entities TEXT NOT NULL,
            added_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX story_items_open ON story_items (channel, added_at)")
    db.execute("CREATE INDEX story_items_story ON story_items (story_id)")


@migrations()
def m010_aircraft_and_photos(db: Database) -> None:
    """Route evidence (issue 13): what a source or the `[aircraft] database` knows of each
    flight's aircraft (registration, type, owner or operator name, a military flag; NULL when
    unknown), on flights and on the live sightings they are built from; and an outbox row's
    photo (a route alert with `chart = true`: PNG bytes sent with the text as caption)."""
    for table in ("flights", "sightings"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN registration TEXT")
        db.execute(f"ALTER TABLE {table} ADD COLUMN aircraft_type TEXT")
        db.execute(f"ALTER TABLE {table} ADD COLUMN owner TEXT")
        db.execute(f"ALTER TABLE {table} ADD COLUMN military INTEGER")
    db.execute("ALTER TABLE outbox ADD COLUMN photo BLOB")


@migrations()
def m011_schedule(db: Database) -> None:
    """Adaptive polling (issue 14): each source's schedule as the runner last chose it, for
    `/status`: `interval`, the seconds until its next poll (before jitter); `rate`, its new
    items per day lately (NULL until known); `adaptive`, 1 when the interval follows that
    rate, 0 for fixed polling. Sources from before have all three NULL until their next poll."""
    db.execute("ALTER TABLE sources ADD COLUMN interval REAL")
    db.execute("ALTER TABLE sources ADD COLUMN rate REAL")
    db.execute("ALTER TABLE sources ADD COLUMN adaptive INTEGER")


@migrations()
def m012_feed_hint(db: Database) -> None:
    """A feed's own refresh hint (RSS `ttl`, `sy:updatePeriod`) in seconds, as its last parsed
    body gave it (NULL: none), so that a restart keeps it while the feed answers 304."""
    db.execute("ALTER TABLE sources ADD COLUMN hint REAL")
