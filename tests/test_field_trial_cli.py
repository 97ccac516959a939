"""Field trial (issue 9), the process's edges in-process: settings, opening the database,
the lock, a dry run on a copy, the console's pacing, `status` on bad files."""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from bot.cli import main
from bot.config.types import DeliverySettings
from bot.dispatcher import Limits
from bot.settings import SettingsError, load_paths, load_settings, load_token
from bot.sinks import ConsoleSink
from bot.store import Store
from bot.store.base import APPLICATION_ID, DatabaseInUse, DatabaseLock, StoreError
from tests.fakes.feed_server import Entry, FeedServer, rss
from tests.fakes.telegram_api import TEST_CHAT_ID, TEST_TOKEN, FakeTelegramAPI
from tests.helpers import fast_options, make_config, start


def digest(path: Path) -> str:
    """The file's content hash, to show it was not written."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Settings (findings 7, 8, 21)


def test_an_empty_token_file_is_an_error_not_the_console(tmp_path: Path) -> None:
    """A set but empty token file would print alerts to stdout and mark them sent."""
    token = tmp_path / "tok"
    token.write_text("\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"TELEGRAM_BOT_TOKEN_FILE: .*tok is empty"):
        load_token({"TELEGRAM_BOT_TOKEN_FILE": str(token)})


def test_a_utf16_token_file_is_named_as_not_utf8(tmp_path: Path) -> None:
    """What Windows PowerShell's `echo token > file` writes."""
    token = tmp_path / "tok16"
    token.write_bytes(b"\xff\xfe1\x002\x00")
    with pytest.raises(SettingsError) as caught:
        load_token({"TELEGRAM_BOT_TOKEN_FILE": str(token)})
    assert str(caught.value) == f"TELEGRAM_BOT_TOKEN_FILE: {token} is not UTF-8 text"


def test_token_file_with_bom_and_newline_is_read(tmp_path: Path) -> None:
    """A UTF-8 byte order mark and the trailing newline are not part of the token."""
    token = tmp_path / "tok"
    token.write_bytes(b"\xef\xbb\xbf" + TEST_TOKEN.encode() + b"\r\n")
    assert load_token({"TELEGRAM_BOT_TOKEN_FILE": str(token)}) == TEST_TOKEN


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_a_blank_token_variable_is_an_error(value: str) -> None:
    """Set but blank (e.g. `${TOKEN}` of an unset variable): an error, not the console."""
    with pytest.raises(SettingsError, match="TELEGRAM_BOT_TOKEN is set but blank"):
        load_token({"TELEGRAM_BOT_TOKEN": value})
    assert load_token({}) is None


def test_paths_ignore_every_other_variable() -> None:
    """`--help`, `check`, `status` read only the paths; a bad token or level is `run`'s."""
    env = {
        "TELEGRAM_BOT_TOKEN_FILE": "/nope",
        "VEDETTE_LOG_LEVEL": "verbose",
        "OPENSKY_CLIENT_ID": "only-half",
        "VEDETTE_DB": "/data/v.db",
    }
    assert load_paths(env).db_path == "/data/v.db"
    with pytest.raises(SettingsError, match="TELEGRAM_BOT_TOKEN_FILE: cannot read /nope"):
        load_settings({"TELEGRAM_BOT_TOKEN_FILE": "/nope"})
    dry = load_settings({"TELEGRAM_BOT_TOKEN_FILE": "/nope"}, token=False)
    assert dry.token is None


# Opening the database (findings 10, 19)


def test_status_on_an_empty_file_adds_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`: > zero.db; vedette status --db zero.db` must not give it vedette's schema."""
    zero = tmp_path / "zero.db"
    zero.touch()
    assert main(["status", "--db", str(zero)]) == 1
    assert "not a vedette database yet" in capsys.readouterr().err
    assert main(["healthcheck", "--db", str(zero)]) == 1
    assert capsys.readouterr().out.startswith(f"unhealthy: {zero}: not a vedette database")
    assert zero.stat().st_size == 0


def other_database(path: Path) -> str:
    """Another program's SQLite file; returns its hash."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('ann')")
    conn.close()
    return digest(path)


def test_run_refuses_another_programs_database(tmp_path: Path) -> None:
    """A non-empty SQLite file that is not vedette's is refused, and left as it was."""
    other = tmp_path / "other.db"
    before = other_database(other)
    with pytest.raises(StoreError, match=r"other.db is not a vedette database .*users"):
        Store.open(other)
    with pytest.raises(StoreError, match="not a vedette database"):
        Store.open(other, read_only=True)
    assert digest(other) == before
    assert not Path(f"{other}-wal").exists()


def test_a_foreign_application_id_is_refused(tmp_path: Path) -> None:
    """Another application's id in the header is refused even without tables."""
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as conn:
        conn.execute("PRAGMA application_id = 1234")
    conn.close()
    with pytest.raises(StoreError, match="another program's SQLite database"):
        Store.open(other)


def test_application_id_is_set_on_new_and_existing_databases(tmp_path: Path) -> None:
    """New databases get vedette's id; a vedette database from before gets it at open."""
    db = tmp_path / "v.db"
    Store.open(db).close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        conn.execute("PRAGMA application_id = 0")  # as 0.1.0 left it
    conn.close()
    Store.open(db).close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()


def test_read_only_open_never_migrates(tmp_path: Path) -> None:
    """A database from an older vedette is not migrated by `status`: it says so."""
    db = tmp_path / "v.db"
    Store.open(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_route_indexes'")
    conn.close()
    before = digest(db)
    with pytest.raises(StoreError, match="written by an older vedette"):
        Store.open(db, read_only=True)
    assert digest(db) == before


def corrupt(db: Path) -> None:
    """Overwrite pages after the schema with noise (the field trial's repro)."""
    Store.open(db).close()
    with db.open("r+b") as handle:
        handle.seek(4096 * 3)
        handle.write(os.urandom(40960))


def test_status_and_healthcheck_on_a_corrupted_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A message naming the file and the README's backup section; no traceback."""
    db = tmp_path / "c.db"
    corrupt(db)
    hint = '(restore from a backup: README "Backing up")'
    assert main(["status", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"vedette: {db}: database disk image is malformed {hint}"
    assert main(["healthcheck", "--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert out.strip() == f"unhealthy: {db}: database disk image is malformed {hint}"
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert "**Backing up**" in readme


# One vedette per database (findings 12, 43)


def test_the_lock_names_its_holder_and_a_stale_file_does_not_block(tmp_path: Path) -> None:
    """The second holder is told the first one's pid; once released it can take it."""
    db = tmp_path / "vedette.db"
    first = DatabaseLock.acquire(db)
    with pytest.raises(DatabaseInUse) as caught:
        DatabaseLock.acquire(db)
    assert str(caught.value) == f"another vedette (pid {os.getpid()}) is using {db}"
    first.release()
    (tmp_path / "vedette.db.lock").write_text("999999\n", encoding="utf-8")  # a killed holder
    second = DatabaseLock.acquire(db)
    assert (tmp_path / "vedette.db.lock").read_text(encoding="utf-8") == f"{os.getpid()}\n"
    second.release()


async def test_a_second_run_on_one_database_is_refused(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """While a run holds the database, another run exits naming it; a dry run still works."""
    feed_server.route("/feed", body=rss([Entry("Haftar", link="https://n.example/1")]))
    config = make_config("http://127.0.0.1:9", {"news": feed_server.url("/feed")})
    db = tmp_path / "v.db"
    out = io.StringIO()
    first = start(config, db, None, fast_options(console=ConsoleSink(out)))
    try:
        second = start(config, db, None, fast_options(once=True, console=ConsoleSink(out)))
        with pytest.raises(DatabaseInUse, match="another vedette"):
            await second.finish()
        dry = start(config, db, None, fast_options(once=True, dry_run=True))
        assert await dry.finish() == 0
    finally:
        assert await first.stop() == 0
    again = start(config, db, None, fast_options(once=True, console=ConsoleSink(out)))
    assert await again.finish() == 0


# Dry run (finding 4), console pacing (finding 17)


async def test_dry_run_writes_nothing_and_the_real_run_still_sends(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """The field trial's repro: seed, add an item, dry run, then the real run sends it."""
    items = [Entry("Old news", link="https://n.example/0")]
    feed_server.route("/feed", body=rss(items))
    config = make_config(telegram_api.url, {"news": feed_server.url("/feed")})
    db = tmp_path / "vedette.db"
    assert await start(config, db, TEST_TOKEN, fast_options(once=True)).finish() == 0
    items.insert(0, Entry("Haftar lands in Minsk", link="https://n.example/1"))
    feed_server.route("/feed", body=rss(items))
    before = digest(db)
    out = io.StringIO()
    dry = start(
        config, db, TEST_TOKEN, fast_options(once=True, dry_run=True, console=ConsoleSink(out))
    )
    assert await dry.finish() == 0
    assert "Haftar lands in Minsk" in out.getvalue()
    assert digest(db) == before
    assert telegram_api.messages_to(TEST_CHAT_ID) == []
    assert await start(config, db, TEST_TOKEN, fast_options(once=True)).finish() == 0
    (message,) = telegram_api.messages_to(TEST_CHAT_ID)
    assert "Haftar lands in Minsk" in message.visible_text


async def test_dry_run_on_a_missing_database_creates_nothing(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A dry run with no database works on an empty copy and leaves no file behind."""
    feed_server.route("/feed", body=rss([Entry("Haftar", link="https://n.example/1")]))
    config = make_config(
        "http://127.0.0.1:9", {"news": feed_server.url("/feed")}, alert_existing=True
    )
    out = io.StringIO()
    options = fast_options(once=True, dry_run=True, console=ConsoleSink(out))
    assert await start(config, tmp_path / "v.db", None, options).finish() == 0
    assert "Haftar" in out.getvalue()
    assert list(tmp_path.iterdir()) == []


async def test_the_console_is_not_paced_like_telegram(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """30 alerts to the console in one `--once`, with Telegram's real limits configured
    (and digests only above 30, so each alert is a message of its own)."""
    entries = [Entry(f"Haftar {n}", link=f"https://n.example/{n}") for n in range(30)]
    feed_server.route("/feed", body=rss(entries))
    config = make_config(
        "http://127.0.0.1:9", {"news": feed_server.url("/feed")}, alert_existing=True
    )
    config = replace(config, delivery=DeliverySettings(digest_after=30))
    out = io.StringIO()
    options = fast_options(once=True, console=ConsoleSink(out), dispatch_limits=Limits())
    assert await start(config, tmp_path / "v.db", None, options).finish() == 0
    assert out.getvalue().count("── alert for") == 30


async def test_a_backlog_reaches_the_console_as_one_digest(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The same 30 alerts with the default `digest_after` (10): one digest, a line each."""
    entries = [Entry(f"Haftar {n}", link=f"https://n.example/{n}") for n in range(30)]
    feed_server.route("/feed", body=rss(entries))
    config = make_config(
        "http://127.0.0.1:9", {"news": feed_server.url("/feed")}, alert_existing=True
    )
    out = io.StringIO()
    options = fast_options(once=True, console=ConsoleSink(out), dispatch_limits=Limits())
    assert await start(config, tmp_path / "v.db", None, options).finish() == 0
    text = out.getvalue()
    assert text.count("── alert for") == 1
    assert "Digest: 30 alerts" in text
    assert all(f"Haftar {n} ·" in text for n in range(30))
