"""Store faults against the real bot: the database locked by another process, a full disk.

The bot runs in this process on a real SQLite file; another process holds the write lock,
or the disk (a real tiny tmpfs when this machine allows mounting one, else SQLite's
`max_page_count` on the bot's own connection) runs out of space. The bot must say so,
naming the database file, keep what it has stored, and deliver every alert once when the
fault goes away, without a restart.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.sinks import Transient
from bot.store import Store
from bot.store.base import StoreError
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.scripted_sink import ScriptedSink
from tests.fakes.telegram_api import TEST_TOKEN
from tests.faults import (
    FaultyTelegramAPI,
    assert_no_loss_no_dup,
    delivered,
    faulty_telegram_fixture,  # noqa: F401
    outbox_states,
    running,
    story,
)
from tests.helpers import (
    Clock,
    dispatcher,
    enqueue,
    eventually,
    fast_options,
    make_config,
    outbox_rows,
    run_sender_until,
)

LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def hold_lock(db: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process takes the database's write lock for `seconds`; returns once it has."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def released(locker: subprocess.Popen[str]) -> int:
    """Wait for the locking process to commit and exit; its exit code."""
    locker.communicate(timeout=30)
    return locker.returncode


def serve(feed_server: FeedServer, numbers: range, summary: str = "") -> str:
    """Serve stories `numbers` at /feed; its URL."""
    feed_server.route("/feed", body=rss([story(n, summary=summary) for n in numbers]))
    return feed_server.url("/feed")


def integrity(db: Path) -> str:
    """SQLite's own verdict on the database file."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def all_sent(db: Path, count: int) -> bool:
    """True when the outbox holds `count` rows, all sent."""
    return outbox_states(db) == {"sent": count}


async def test_database_locked_briefly_by_another_process_waits_and_loses_nothing(
    tmp_path: Path,
    feed_server: FeedServer,
    faulty_telegram: FaultyTelegramAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another process holds the write lock for 3 s (within the busy timeout) while items
    arrive: the bot waits, logs no database error, and every alert arrives once."""
    api = faulty_telegram
    db = tmp_path / "v.db"
    config = make_config(api.url, {"news": serve(feed_server, range(1, 3))}, alert_existing=True)
    async with running(config, db, TEST_TOKEN, fast_options()) as bot:
        await eventually(lambda: all_sent(db, 2) and len(delivered(api)) == 2, what="two alerts")
        locker = hold_lock(db, 3.0)
        serve(feed_server, range(1, 6))
        assert released(locker) == 0
        await eventually(lambda: all_sent(db, 5) and len(delivered(api)) == 5, what="five alerts")
        assert await bot.stop() == 0
    assert_no_loss_no_dup(delivered(api), range(1, 6))
    assert "database" not in caplog.text
    assert integrity(db) == "ok"


async def test_database_locked_past_the_busy_timeout_during_a_send(
    tmp_path: Path,
    feed_server: FeedServer,
    faulty_telegram: FaultyTelegramAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The lock is taken while Telegram is accepting a message and held 12 s (past the 10 s
    busy timeout): the bot logs "database is locked" naming the file, then marks that
    message sent without sending it again, and sends the next one, all in the same run."""
    api = faulty_telegram
    db = tmp_path / "v.db"
    feed = serve(feed_server, range(1, 3))
    config = make_config(api.url, {"news": feed}, alert_existing=True, every="1h")
    api.answer_late_next(1, 1.5)
    async with running(config, db, TEST_TOKEN, fast_options(heartbeat_every=3600.0)) as bot:
        await eventually(lambda: len(api.sent) == 1, what="the first send accepted")
        locker = hold_lock(db, 12.0)
        await eventually(lambda: "database is locked" in caplog.text, timeout=30, what="the error")
        assert released(locker) == 0
        await eventually(lambda: all_sent(db, 2), timeout=30, what="both rows marked sent")
        await eventually(lambda: len(delivered(api)) == 2, what="the second alert")
        assert await bot.stop() == 0
    assert_no_loss_no_dup(delivered(api), range(1, 3))
    errors = [r.getMessage() for r in caplog.records if "database is locked" in r.getMessage()]
    assert errors
    assert all(str(db) in message for message in errors), errors
    assert integrity(db) == "ok"


async def test_full_database_says_so_keeps_its_data_and_resumes(
    tmp_path: Path,
    feed_server: FeedServer,
    faulty_telegram: FaultyTelegramAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the database unable to grow (max_page_count), new items cannot be recorded:
    the bot logs "database or disk is full" naming the file, what was stored stays, and once
    it may grow again the waiting items alert, once each."""
    api = faulty_telegram
    db = tmp_path / "v.db"
    config = make_config(api.url, {"news": serve(feed_server, range(1, 3))}, alert_existing=True)
    async with running(config, db, TEST_TOKEN, fast_options()) as bot:
        await eventually(lambda: all_sent(db, 2) and len(delivered(api)) == 2, what="two alerts")
        conn = bot.runners[0].store.db.conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        serve(feed_server, range(1, 7), summary="Benghazi airport " * 250)
        await eventually(
            lambda: "database or disk is full" in caplog.text, what="the disk-full error"
        )
        full = [
            r.getMessage() for r in caplog.records if "database or disk is full" in r.getMessage()
        ]
        assert full
        assert all(str(db) in message for message in full), full
        assert outbox_states(db) == {"sent": 2}
        conn.execute("PRAGMA max_page_count = 1073741823")
        await eventually(lambda: all_sent(db, 6) and len(delivered(api)) == 6, what="six alerts")
        assert await bot.stop() == 0
    assert_no_loss_no_dup(delivered(api), range(1, 7))
    assert integrity(db) == "ok"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for the test (skipped where mounting is not allowed)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk` with one file; returns it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (65536, 4096, 512, 1):
            while True:
                try:
                    os.write(fd, bytes(size))
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return filler


async def test_full_disk_during_a_send_says_so_keeps_data_and_resumes(
    tiny_disk: Path,
    feed_server: FeedServer,
    faulty_telegram: FaultyTelegramAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The disk fills while Telegram accepts a message: the bot logs "database or disk is
    full" naming the file, keeps sending nothing twice, loses no row; once space is freed
    the message is marked sent (not resent) and a new item alerts, in the same run."""
    api = faulty_telegram
    db = tiny_disk / "vedette.db"
    config = make_config(api.url, {"news": serve(feed_server, range(1, 3))}, alert_existing=True)
    async with running(config, db, TEST_TOKEN, fast_options()) as bot:
        await eventually(lambda: all_sent(db, 2) and len(delivered(api)) == 2, what="two alerts")
        api.answer_late_next(1, 1.5)
        serve(feed_server, range(1, 4))
        await eventually(lambda: len(api.sent) == 3, what="the third send accepted")
        filler = fill(tiny_disk)
        serve(feed_server, range(1, 5))
        await eventually(
            lambda: "database or disk is full" in caplog.text, what="the disk-full error"
        )
        await eventually(
            lambda: sum(1 for r in caplog.records if "disk is full" in r.getMessage()) > 2
        )
        full = [
            r.getMessage() for r in caplog.records if "database or disk is full" in r.getMessage()
        ]
        assert full
        assert all(str(db) in message for message in full), full
        assert outbox_states(db) == {"sent": 2, "sending": 1}  # kept; the third one is unmarked
        filler.unlink()
        await eventually(lambda: all_sent(db, 4) and len(delivered(api)) == 4, what="four alerts")
        assert await bot.stop() == 0
    assert_no_loss_no_dup(delivered(api), range(1, 5))
    assert integrity(db) == "ok"


class ReleaseFailsOnce(Store):
    """A store whose first `release` fails like a database locked past the busy timeout."""

    failed = False

    def release(self, *args: Any, **kwargs: Any) -> None:
        if not self.failed:
            self.failed = True
            raise StoreError(f"{self.path}: cannot start a write: database is locked")
        super().release(*args, **kwargs)


async def test_a_failed_send_that_cannot_be_recorded_is_released_then_sent(
    store: Store,
) -> None:
    """A send that timed out while the database could not be written is released once it
    can be (never left 'sending' until a restart), then sent; the next row waits its turn."""
    flaky = ReleaseFailsOnce(store.db, store.path)
    clock = Clock()
    enqueue(flaky, clock(), "a", "b")
    sink = ScriptedSink(clock, Transient("timed out"))
    sender = dispatcher(flaky, sink, clock, backoff_base=0.0)
    await run_sender_until(sender, lambda: flaky.outbox_counts().sent == 2, wakes=500)
    assert flaky.failed
    assert [m.plain for m in sink.messages] == ["a", "a", "b"]
    assert [(r["state"], r["attempts"]) for r in outbox_rows(flaky)] == [("sent", 1), ("sent", 0)]
