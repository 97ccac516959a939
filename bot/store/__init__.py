"""The only module that writes SQLite: seen items, matches, the outbox and source health.

Writes run in `BEGIN IMMEDIATE` transactions (see reference/reliability.md §0.9). A poll's
new items, its matches and their outbox rows commit together, so a crash either loses the
whole poll (it is fetched again) or keeps all of it (the rows are sent after restart). The
clock is never read here: every method that needs the time takes `now`.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.store.flights import FlightRecords
from bot.store.migrations import migrations
from bot.store.mutes import AdminRecords, hold_if_muted
from bot.store.retention import Retention
from bot.timeutil import iso
from watchers.http import Validators
from watchers.items import NewsItem

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The database cannot be opened or written; the message names the file."""


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the store remembers about a source between polls."""

    validators: Validators
    seeded: bool
    consecutive_failures: int
    last_error: str | None
    url: str | None = None  # the URL the source was seeded with (None: before 0.2)


@dataclass(frozen=True, slots=True)
class SeenItem:
    """What the store remembers about an item a source listed: its fingerprint (None when
    recorded before fingerprints existed) and the rules it matched while its source was
    recording silently (first polls), which must not alert when the item is edited."""

    fingerprint: str | None
    quiet_rules: frozenset[str] = frozenset()


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
    channel: str = ""


@dataclass(frozen=True, slots=True)
class DueGroup:
    """Pending rows due now for one channel and stored chat id: the oldest row's id."""

    channel: str
    chat_id: int | str
    first_id: int


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
    bad_bytes: int = 0


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
    `bot.store.mutes`).
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


# PRAGMA application_id of a vedette database: b"vdtt". `run` sets it; `file(1)` shows it.
APPLICATION_ID = int.from_bytes(b"vdtt", "big")
BACKUP_HINT = 'restore from a backup: README "Backing up"'


def database_error(name: str, exc: sqlite3.Error) -> StoreError:
    """A `StoreError` for a failed read, naming the file; corruption points to the backups."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_CORRUPT or "malformed" in str(exc):
        return StoreError(f"{name}: {exc} ({BACKUP_HINT})")
    return StoreError(f"{name}: {exc}")


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows if not row[0].startswith("sqlite_")}


def _applied(conn: sqlite3.Connection) -> set[str]:
    """The names of vedette's migrations recorded in the file."""
    if migrations.migrations_table not in _tables(conn):
        return set()
    rows = conn.execute(
        f"SELECT name FROM [{migrations.migrations_table}] WHERE migration_set = ?",
        (migrations.name,),
    ).fetchall()
    return {row[0] for row in rows}


def check_vedette(conn: sqlite3.Connection, name: str, *, fresh_ok: bool) -> None:
    """Refuse a database that is not vedette's: another application id, or tables but no
    vedette migrations. An empty database passes only when `fresh_ok` (it is new)."""
    (app_id,) = conn.execute("PRAGMA application_id").fetchone()
    if app_id == APPLICATION_ID:
        return
    if app_id != 0:
        raise StoreError(
            f"{name} is another program's SQLite database (application_id {app_id:#x}), "
            "not vedette's: use another --db"
        )
    tables = _tables(conn)
    if not tables:
        if fresh_ok:
            return
        raise StoreError(f"{name}: not a vedette database yet (empty; `vedette run` creates it)")
    if not _applied(conn):
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        raise StoreError(
            f"{name} is not a vedette database (it has other tables: {shown}): use another --db"
        )


def _migrated(conn: sqlite3.Connection, name: str) -> Database:
    """Configure `conn`, check it is vedette's, migrate it and stamp its application id."""
    try:
        check_vedette(conn, name, fresh_ok=True)  # before anything writes to the file
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        db = Database(conn)
        migrations.apply(db)
        if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"{name}: cannot open database: {exc}") from exc
    except StoreError:
        conn.close()
        raise
    return db


def _read_only_uri(name: str, *, immutable: bool) -> str:
    uri = Path(name).resolve().as_uri() + "?mode=ro"
    return uri + "&immutable=1" if immutable else uri


def connect_read_only(
    name: str, *, fresh_ok: bool = False, current: bool = True
) -> sqlite3.Connection:
    """A read-only connection to a vedette database; `StoreError` if it is not one.

    With `current`, the database must have every migration of this version (nothing may
    be migrated here); `fresh_ok` accepts an empty database.

    Opens with `mode=ro`, so nothing is created or migrated. A WAL database needs its `-shm`
    file: when the directory is read-only and there is none, SQLite cannot make one, and
    the file is opened `immutable` instead (it then cannot see what is still in a `-wal`
    file, which a cleanly stopped vedette does not leave behind).
    """
    if not Path(name).is_file():
        raise StoreError(f"{name}: no such database file")
    try:
        conn = sqlite3.connect(_read_only_uri(name, immutable=False), uri=True, timeout=10.0)
    except sqlite3.Error as exc:
        raise database_error(name, exc) from exc
    try:
        try:
            check_vedette(conn, name, fresh_ok=fresh_ok)
        except sqlite3.OperationalError as exc:
            if not _cannot_make_shm(name, exc):
                raise
            conn.close()
            conn = sqlite3.connect(_read_only_uri(name, immutable=True), uri=True)
            check_vedette(conn, name, fresh_ok=fresh_ok)
            _warn_unread_wal(name)
        if current:
            _check_current(conn, name)
    except sqlite3.Error as exc:
        conn.close()
        raise database_error(name, exc) from exc
    except StoreError:
        conn.close()
        raise
    return conn


def _cannot_make_shm(name: str, exc: sqlite3.OperationalError) -> bool:
    """Whether `exc` says SQLite could not create the `-shm` file of a read-only directory
    (SQLITE_READONLY_DIRECTORY; SQLITE_CANTOPEN on a read-only file system)."""
    codes = (sqlite3.SQLITE_READONLY_DIRECTORY, sqlite3.SQLITE_CANTOPEN)
    if getattr(exc, "sqlite_errorcode", None) not in codes:
        return False
    return not os.access(Path(name).resolve().parent, os.W_OK)


def _warn_unread_wal(name: str) -> None:
    wal = Path(f"{name}-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        log.warning(
            "%s: its directory is read-only, so %s is not read: the latest writes may be missing",
            name,
            wal.name,
        )


def _check_current(conn: sqlite3.Connection, name: str) -> None:
    """Refuse a vedette database that this version would have to migrate first."""
    pending = [m.name for m in migrations.pending(Database(conn))]
    if pending and _tables(conn):
        raise StoreError(
            f"{name}: written by an older vedette (schema before {pending[0]}); "
            "`vedette run` updates it"
        )


def _check_directory(name: str) -> None:
    """The database's directory must exist and be writable (for `run`)."""
    parent = Path(name).resolve().parent
    if not parent.is_dir():
        raise StoreError(f"{name}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise StoreError(
            f"{name}: directory {parent} is not writable "
            "(SQLite needs to create -wal and -shm files beside the database)"
        )


class DatabaseInUse(StoreError):
    """Another process holds the database's lock."""


class DatabaseLock:
    """One `vedette run` per database: an exclusive `flock` on `<database>.lock`.

    Held until `release()` or the end of the process: the kernel drops it even when the
    process is killed, so a lock file left behind never blocks the next start. The file
    holds the holder's pid, for the message the second process gives.
    """

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, db: str | Path) -> DatabaseLock:
        """Take the lock of database `db`, or raise `DatabaseInUse` naming the holder."""
        name = str(db)
        _check_directory(name)
        path = Path(f"{Path(name).resolve()}.lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(f"{name}: cannot create the lock file {path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise StoreError(f"{name}: cannot lock {path}: {exc.strerror}") from exc
            who = f"another vedette (pid {holder})" if holder.isdigit() else "another vedette"
            raise DatabaseInUse(f"{who} is using {name}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        return cls(fd, path)

    def release(self) -> None:
        """Give the lock up (the file stays: removing it would race with a new holder)."""
        if self._fd is None:
            return
        with suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None


class Store(FlightRecords, Retention, AdminRecords):
    """The vedette database. Open with `Store.open(path)`; close with `close()`."""

    def __init__(self, db: Database, path: str) -> None:
        self.db = db
        self.path = path

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False) -> Store:
        """Open (creating if needed) and migrate the database at `path`.

        A database another program made is refused (see `check_vedette`). With
        `read_only` (for `status` and `healthcheck`) nothing is created, migrated or
        written, and the file must be a vedette database already.
        """
        name = str(path)
        if read_only:
            return cls(Database(connect_read_only(name)), name)
        if name != ":memory:":
            _check_directory(name)
        try:
            conn = sqlite3.connect(name, timeout=10.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{name}: cannot open database: {exc}") from exc
        return cls(_migrated(conn, name), name)

    @classmethod
    def open_copy(cls, path: str | Path) -> Store:
        """An in-memory copy of the database at `path` (for `--dry-run`), migrated.

        The copy is taken with SQLite's online backup, so it is consistent even while
        another vedette writes the file; nothing is ever written to `path`, and a missing
        file gives an empty copy (the file is not created).
        """
        name = str(path)
        copy = sqlite3.connect(":memory:", isolation_level=None)
        if Path(name).is_file() and Path(name).stat().st_size > 0:
            source = connect_read_only(name, fresh_ok=True, current=False)
            try:
                source.backup(copy)
            except sqlite3.Error as exc:
                raise database_error(name, exc) from exc
            finally:
                source.close()
        return cls(_migrated(copy, name), name)

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
            "SELECT etag, last_modified, body_hash, seeded, consecutive_failures, last_error, "
            "seeded_url FROM sources WHERE id = ?",
            (source_id,),
        )
        if row is None:
            return SourceState(Validators(), seeded=False, consecutive_failures=0, last_error=None)
        return SourceState(
            Validators(row[0], row[1], row[2]), bool(row[3]), row[4], row[5], url=row[6]
        )

    def known_items(self, source_id: str, keys: Iterable[str]) -> dict[str, SeenItem]:
        """The items among `keys` this source has recorded (the others are new to it)."""
        wanted = list(dict.fromkeys(keys))
        known: dict[str, SeenItem] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.conn.execute(
                "SELECT item_key, fingerprint, quiet_rules FROM seen_items "
                f"WHERE source_id = ? AND item_key IN ({marks})",
                (source_id, *chunk),
            )
            for key, fingerprint, quiet in rows:
                rules = frozenset(quiet.split(",")) if quiet else frozenset()
                known[key] = SeenItem(fingerprint, rules)
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
        fingerprints: Mapping[str, str] | None = None,
        quiet: Mapping[str, Collection[str]] | None = None,
        seed: bool = True,
        url: str | None = None,
        bad_bytes: int = 0,
    ) -> int:
        """Record a successful poll, its new items and alerts in one transaction.

        `present` are the keys of every item the feed listed (their last-seen time is
        refreshed, so pruning spares them, and their fingerprint set from `fingerprints`);
        `quiet` maps item keys to every rule they matched while recording silently;
        `new_flights` (flight sources) adds to the source's count of things seen. `seed`
        marks the source seeded (a source never becomes unseeded); `url`, when given, is
        stored as the URL it was seeded with; `bad_bytes` adds to its count of repaired bytes.

        Items already seen are ignored; an alert whose (rule, item) pair matched before, or
        whose dedup key is already in the outbox, is not enqueued again. Returns the number
        of outbox rows added.
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
                    "last_seen_at, title, link, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        source_id,
                        item.key,
                        stamp,
                        stamp,
                        item.title[:300],
                        item.link,
                        prints.get(item.key),
                    ),
                )
                new_items += cursor.rowcount
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
                    added += _enqueue(conn, alert, stamp)
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
        row = self._one("SELECT consecutive_failures FROM sources WHERE id = ?", (source_id,))
        return int(row[0]) if row else 0

    def source_health(self) -> list[SourceHealth]:
        """Every source the store has heard of, by id."""
        rows = self.db.conn.execute(
            "SELECT id, kind, last_success_at, last_error, last_error_at, consecutive_failures, "
            "polls, failures, items_seen, alerts, credits_left, credits_spent, last_day, "
            "bad_bytes FROM sources ORDER BY id"
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

    def due_groups(self, now: datetime) -> list[DueGroup]:
        """Due pending rows grouped by (channel, stored chat id), oldest first.

        The dispatcher resolves each channel to the chat id configured now; the stored chat
        id is only the fallback when it has no configuration to ask.
        """
        rows = self.db.conn.execute(
            "SELECT channel, chat_id, MIN(id) AS first FROM outbox "
            "WHERE state = 'pending' AND not_before <= ? GROUP BY channel, chat_id "
            "ORDER BY first",
            (iso(now),),
        )
        return [DueGroup(channel, _chat_value(chat), first) for channel, chat, first in rows]

    def next_due_at(self, skip_channels: Iterable[str] = ()) -> str | None:
        """When the earliest pending row becomes due (ISO), or None when nothing is pending;
        rows of `skip_channels` (channels no longer configured) are left out."""
        skip = sorted(set(skip_channels))
        marks = ",".join("?" * len(skip))
        where = f" AND channel NOT IN ({marks})" if skip else ""
        row = self._one(f"SELECT MIN(not_before) FROM outbox WHERE state = 'pending'{where}", skip)
        return row[0] if row else None

    def pending_by_channel(self) -> dict[str, int]:
        """Unsent rows (pending or mid-send) per channel."""
        rows = self.db.conn.execute(
            "SELECT channel, COUNT(*) FROM outbox WHERE state IN ('pending', 'sending') "
            "GROUP BY channel ORDER BY channel"
        )
        return {channel: int(count) for channel, count in rows}

    def claim(self, row_id: int, chat_id: int | str | None = None) -> OutboxRow | None:
        """Mark a pending row 'sending' and return it (None if it is no longer pending).

        `chat_id`, when given, is where the row goes now (its channel's chat id in the
        configuration in force); it replaces the chat id stored when the row was queued.
        """
        with self._write() as conn:
            row = conn.execute(
                "UPDATE outbox SET state = 'sending', chat_id = COALESCE(?, chat_id) "
                "WHERE id = ? AND state = 'pending' "
                "RETURNING id, chat_id, html, plain, link, as_plain, attempts, channel",
                (None if chat_id is None else _chat_text(chat_id), row_id),
            ).fetchone()
        if row is None:
            return None
        return OutboxRow(
            row[0], _chat_value(row[1]), row[2], row[3], row[4], bool(row[5]), row[6], row[7]
        )

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
        rows = self.db.conn.execute("SELECT old_chat, new_chat FROM chat_migrations")
        return {_chat_value(old): _chat_value(new) for old, new in rows}

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
