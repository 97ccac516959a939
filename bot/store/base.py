"""The store's connection and transactions: opening, checking and locking the database.

`StoreBase` holds the connection (`db`, a sqlite-utils `Database`) and the file name, and
is the base every concern of `bot.store.Store` builds on. Writes run in `BEGIN IMMEDIATE`
transactions (`StoreBase._write`; see reference/reliability.md §0.9): a poll's new items,
its matches and their outbox rows commit together, so a crash either loses the whole poll
(it is fetched again) or keeps all of it (the rows are sent after restart). The clock is
never read in `bot.store`: every method that needs the time takes `now`.

Also here: refusing a file that is not vedette's (`check_vedette`), read-only connections
for `status` and `healthcheck`, the one-`run`-per-database lock, and `placeholders`, the
`IN (?, ?, …)` list every store module binds its values through.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Self

from sqlite_utils import Database

from bot.store.migrations import migrations
from bot.stories import StoryIndex

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The database cannot be opened or written; the message names the file."""


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
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def _applied(conn: sqlite3.Connection) -> set[str]:
    """The names of vedette's migrations recorded in the file."""
    if migrations.migrations_table not in _tables(conn):
        return set()
    rows = conn.execute(
        f"SELECT name FROM [{migrations.migrations_table}] WHERE migration_set = ?",
        (migrations.name,),
    ).fetchall()
    return {name for (name,) in rows}


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


def placeholders(count: int) -> str:
    """`?, ?, ?` for an `IN (…)` list of `count` bound values."""
    return ", ".join("?" * count)


class StoreBase:
    """The connection to the vedette database. Open with `open(path)`; close with `close()`.

    Rows come back as `sqlite3.Row`, read by column name (`row["rule_id"]`).
    """

    def __init__(self, db: Database, path: str) -> None:
        db.conn.row_factory = sqlite3.Row
        self.db = db
        self.path = path
        # The stories open for joining, in memory (`bot.store.stories`); None: not loaded.
        self.story_index: StoryIndex | None = None

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False) -> Self:
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
    def open_copy(cls, path: str | Path) -> Self:
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
            self._rolled_back(conn)
            raise StoreError(f"{self.path}: cannot write: {exc}") from exc
        except BaseException:
            self._rolled_back(conn)
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rolled_back(conn)
            raise StoreError(f"{self.path}: cannot commit: {exc}") from exc

    def _rolled_back(self, conn: sqlite3.Connection) -> None:
        """Roll back; the stories held in memory may hold what was undone: load them again."""
        _rollback(conn)
        self.story_index = None

    def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row `sql` returns, or None."""
        row: sqlite3.Row | None = self.db.conn.execute(sql, params).fetchone()
        return row

    def _value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row `sql` returns (a `COUNT(*)`, a `MIN`…), or None."""
        row = self._one(sql, params)
        return None if row is None else row[0]

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Every row `sql` returns."""
        return self.db.conn.execute(sql, params).fetchall()

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
        return {row["key"]: row["value"] for row in self._rows("SELECT key, value FROM meta")}
