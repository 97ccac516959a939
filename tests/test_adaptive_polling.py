"""Adaptive polling in a real run: loopback feeds, the runner's scheduler, its record in the
database and `/status` (the scheduler's own behaviour is tested in tests/test_adaptive.py)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config.validate import parse_config
from bot.runner import Runner, RunOptions
from bot.store import Store
from tests.fakes.feed_server import Entry, FeedServer, rss
from tests.fakes.telegram_api import TEST_TOKEN, FakeTelegramAPI
from tests.helpers import ask, config_text, eventually, fast_options, start
from watchers.adaptive import Scheduler
from watchers.clock import utcnow

EVERY = 2.0  # seconds: each feed's budget; bounds 0.4 s and 8 s on a loopback host


def serve_two_feeds(feed_server: FeedServer) -> dict[str, str]:
    """A busy feed (20 items in the last 20 minutes) and a quiet one (20 in 20 days)."""
    now = utcnow()
    busy = [
        Entry(f"Busy {n}", link=f"https://busy.example/{n}", published=now - timedelta(minutes=n))
        for n in range(20)
    ]
    quiet = [
        Entry(
            f"Quiet {n}",
            link=f"https://quiet.example/{n}",
            published=now - timedelta(days=n, hours=1),
        )
        for n in range(20)
    ]
    feed_server.route("/busy", body=rss(busy))
    feed_server.route("/quiet", body=rss(quiet))
    return {"busy": feed_server.url("/busy"), "quiet": feed_server.url("/quiet")}


def schedules(db: Path) -> dict[str, tuple[float, float | None, int]]:
    """Each source's recorded (interval, rate per day, adaptive), once it has one."""
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT id, interval, rate, adaptive FROM sources WHERE interval IS NOT NULL"
        ).fetchall()
    except sqlite3.OperationalError:  # not migrated yet
        return {}
    finally:
        conn.close()
    return {ident: (interval, rate, adaptive) for ident, interval, rate, adaptive in rows}


async def test_a_busy_feed_is_polled_more_often_than_a_quiet_one_from_its_first_poll(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """The first poll's dated items give each feed its rate at once: the budget of two polls
    every 2 s goes mostly to the busy feed; the quiet one waits up to 4 × every. `/status`
    shows both."""
    feeds = serve_two_feeds(feed_server)
    config = parse_config(config_text(telegram_api.url, feeds, every="2s"), "test.toml")
    db = tmp_path / "vedette.db"
    bot = start(config, db, TEST_TOKEN, fast_options())

    def shared() -> bool:  # once both are known, the next polls share the budget
        found = schedules(db)
        return len(found) == 2 and found["busy"][0] < EVERY < found["quiet"][0]

    await eventually(shared, what="the busy feed polled more often than the quiet one")
    status = await ask(telegram_api, "/status")
    assert await bot.stop() == 0

    found = schedules(db)
    busy_interval, busy_rate, busy_adaptive = found["busy"]
    quiet_interval, quiet_rate, quiet_adaptive = found["quiet"]
    assert busy_adaptive == quiet_adaptive == 1
    assert 0.4 <= busy_interval < EVERY < quiet_interval <= 8.0
    assert busy_rate is not None
    assert busy_rate > 200
    assert quiet_rate is not None
    assert quiet_rate < 2
    # Together they spend what two fixed polls every 2 s would (this hour's plan).
    assert 1 / busy_interval + 1 / quiet_interval <= 2 / EVERY * 1.01
    assert "adaptive" in status


async def test_adaptive_false_in_defaults_keeps_fixed_polling(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    feeds = serve_two_feeds(feed_server)
    text = "[defaults]\nadaptive = false\n\n" + config_text(telegram_api.url, feeds, every="2s")
    config = parse_config(text, "test.toml")
    db = tmp_path / "vedette.db"
    bot = start(config, db, None, fast_options())
    await eventually(lambda: len(schedules(db)) == 2, what="both feeds polled")
    assert await bot.stop() == 0
    found = schedules(db)
    assert {ident: (interval, adaptive) for ident, (interval, _, adaptive) in found.items()} == {
        "busy": (EVERY, 0),
        "quiet": (EVERY, 0),
    }


async def test_a_restart_keeps_what_the_feeds_published(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """After a restart nothing is new, yet the busy feed keeps its short interval: the
    scheduler reads the stored items."""
    feeds = serve_two_feeds(feed_server)
    config = parse_config(config_text("http://127.0.0.1:9", feeds, every="2s"), "test.toml")
    db = tmp_path / "vedette.db"
    bot = start(config, db, None, fast_options())
    await eventually(lambda: len(schedules(db)) == 2, what="both feeds polled")
    await eventually(lambda: feed_server.polls("/quiet") >= 2, what="the quiet feed again")
    assert await bot.stop() == 0
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE sources SET interval = NULL")
    conn.close()

    polls = feed_server.polls("/busy")
    again = start(config, db, None, fast_options())
    await eventually(lambda: len(schedules(db)) == 2, what="both feeds polled again")
    assert await again.stop() == 0
    assert feed_server.polls("/busy") > polls
    found = schedules(db)
    assert found["busy"][0] < EVERY < found["quiet"][0]


def test_the_start_line_says_feeds_are_polled_on_average(store: Store) -> None:
    feeds = {"news": "http://127.0.0.1:9/feed"}
    adaptive = parse_config(config_text("http://127.0.0.1:9", feeds, every="5m"), "test.toml")
    fixed = parse_config(
        "[defaults]\nadaptive = false\n\n" + config_text("http://127.0.0.1:9", feeds, every="5m"),
        "test.toml",
    )
    assert (
        Runner(adaptive, store, None, RunOptions())
        .summary()
        .endswith("then every 5m (feeds: on average, adaptive)")
    )
    assert Runner(fixed, store, None, RunOptions()).summary().endswith("then every 5m")


async def test_a_feeds_ttl_is_a_floor_on_its_interval(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The busy feed says `<ttl>1</ttl>` (a minute): it is polled no more often than that
    allows, here its max_every (8 s), however busy it is."""
    feeds = serve_two_feeds(feed_server)
    body = feed_server.routes["/busy"].body.replace(b"<channel>", b"<channel><ttl>1</ttl>", 1)
    feed_server.route("/busy", body=body)
    config = parse_config(config_text("http://127.0.0.1:9", feeds, every="2s"), "test.toml")
    db = tmp_path / "vedette.db"
    bot = start(config, db, None, fast_options())
    await eventually(lambda: len(schedules(db)) == 2, what="both feeds polled")
    assert await bot.stop() == 0
    assert schedules(db)["busy"][0] == 8.0


class BrokenScheduler(Scheduler):
    """A scheduler with a bug."""

    def interval(self, source_id: str, now: float) -> float:
        raise ZeroDivisionError("a bug")


async def test_a_bug_in_the_schedule_does_not_end_a_feeds_polling(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    feeds = serve_two_feeds(feed_server)
    config = parse_config(config_text("http://127.0.0.1:9", feeds, every="1s"), "test.toml")
    bot = start(config, tmp_path / "vedette.db", None, fast_options())
    await eventually(lambda: feed_server.polls("/busy") >= 1 and bot.runners, what="a poll")
    runner = bot.runners[0]
    runner.scheduler = BrokenScheduler(list(runner.scheduler.sources.values()))
    polls = feed_server.polls("/busy")
    await eventually(lambda: feed_server.polls("/busy") >= polls + 3, what="three more polls")
    assert await bot.stop() == 0
    assert "source busy: adaptive schedule failed, next poll in 1s" in caplog.text


async def test_a_feeds_ttl_outlives_a_restart_while_the_feed_answers_304(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The hint comes with a parsed body; after a restart the feed answers 304 to the stored
    ETag, and the recorded hint still holds the busy feed at its max_every."""
    feeds = serve_two_feeds(feed_server)
    body = feed_server.routes["/busy"].body.replace(b"<channel>", b"<channel><ttl>1</ttl>", 1)
    feed_server.route("/busy", body=body, etag='"v1"')
    config = parse_config(config_text("http://127.0.0.1:9", feeds, every="2s"), "test.toml")
    db = tmp_path / "vedette.db"
    bot = start(config, db, None, fast_options())
    await eventually(lambda: len(schedules(db)) == 2, what="both feeds polled")
    assert await bot.stop() == 0
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE sources SET interval = NULL")
    conn.close()

    again = start(config, db, None, fast_options())
    await eventually(lambda: "busy" in schedules(db), what="the busy feed polled again")
    assert await again.stop() == 0
    answered_304 = [
        path
        for path, headers in feed_server.requests
        if path == "/busy" and headers.get("if-none-match") == '"v1"'
    ]
    assert answered_304
    assert schedules(db)["busy"][0] == 8.0
