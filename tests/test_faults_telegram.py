"""Telegram faults against the real bot: flood control, 5xx, refused connections, timeouts.

Each test runs `vedette run` in this process (real httpx, python-telegram-bot and SQLite)
against the loopback fake Bot API, gives every alert a unique marker ("Haftar story N") and
checks at the end that each one reached the channel, and exactly once unless Telegram
accepted a message whose answer the bot never saw (the documented at-least-once window).
Every test also runs with the bot's DEBUG logging, checked for secrets.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.dispatcher import Limits
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram_api import TEST_CHAT_ID, TEST_TOKEN
from tests.faults import (
    FaultyTelegramAPI,
    TcpSwitch,
    assert_no_loss_no_dup,
    assert_no_secret,
    bot_logs,
    delivered,
    faulty_telegram_fixture,  # noqa: F401
    running,
    story,
    story_of,
)
from tests.helpers import eventually, fast_options, make_config


@pytest.fixture(autouse=True)
def no_secret_in_logs() -> Iterator[None]:
    """Each test also runs with the bot's own DEBUG logging, which must hold no secret."""
    with bot_logs("DEBUG") as logs:
        yield
    assert_no_secret(logs.getvalue())


def serve(feed_server: FeedServer, numbers: range) -> str:
    """Serve stories `numbers` at /feed; its URL."""
    feed_server.route("/feed", body=rss([story(n) for n in numbers]))
    return feed_server.url("/feed")


def order(api: FaultyTelegramAPI) -> list[int | None]:
    """The markers in the order the channel received them."""
    return [story_of(m.visible_text) for m in api.messages_to(TEST_CHAT_ID)]


def rows(db: Path) -> list[dict[str, object]]:
    """Every outbox row, oldest first (read-only; none before the bot made the database)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute("SELECT * FROM outbox ORDER BY id")]
    except sqlite3.OperationalError:
        return []


async def run_until_delivered(
    api: FaultyTelegramAPI, feed_server: FeedServer, db: Path, stories: int, *, timeout: float
) -> None:
    """Run the bot on a feed of `stories` stories, all alerting, until the channel has had
    `stories` messages; then stop it (exit 0)."""
    news = serve(feed_server, range(1, stories + 1))
    config = make_config(api.url, {"news": news}, alert_existing=True)
    async with running(config, db, TEST_TOKEN, fast_options()) as bot:
        await eventually(
            lambda: len(delivered(api)) == stories, timeout=timeout, what=f"{stories} alerts"
        )
        assert await bot.stop() == 0


async def test_429_storm_delays_but_loses_and_repeats_nothing(
    tmp_path: Path, feed_server: FeedServer, faulty_telegram: FaultyTelegramAPI
) -> None:
    """Five 429s in a row (retry_after 1) then normal service: all six alerts once, in order."""
    api = faulty_telegram
    api.fail_next("sendMessage", "429", times=5, retry_after=1)
    db = tmp_path / "v.db"
    await run_until_delivered(api, feed_server, db, 6, timeout=40)
    assert_no_loss_no_dup(delivered(api), range(1, 7))
    assert order(api) == list(range(1, 7))
    assert len(api.calls_to("sendMessage")) == 11
    outbox = rows(db)
    assert [row["state"] for row in outbox] == ["sent"] * 6
    assert [row["attempts"] for row in outbox] == [0] * 6  # flood control is not a failure
    assert str(outbox[0]["last_error"]).startswith("RetryAfter: Flood control exceeded")
    assert api.violations == []


async def test_5xx_for_a_minute_then_everything_once_in_order(
    tmp_path: Path, feed_server: FeedServer, faulty_telegram: FaultyTelegramAPI
) -> None:
    """Every Bot API call answers 500, 502 or drops for 8 s (about a minute at the real 2 s
    backoff base, scaled to fast_options' 0.3 s); alerts queued before and during it arrive
    once, in order."""
    api = faulty_telegram
    api.fail_for(
        8.0,
        kinds=("500", "502", "drop"),
        methods=("sendMessage", "getMe", "getUpdates", "setMyCommands", "deleteWebhook"),
    )
    config = make_config(api.url, {"news": serve(feed_server, range(1, 4))}, alert_existing=True)
    db = tmp_path / "v.db"
    async with running(config, db, TEST_TOKEN, fast_options()) as bot:
        await eventually(
            lambda: len(rows(db)) == 3 and int(str(rows(db)[0]["attempts"])) >= 2,
            what="two failed attempts",
        )
        serve(feed_server, range(1, 7))  # more alerts during the outage
        await eventually(lambda: len(delivered(api)) == 6, timeout=45, what="six alerts")
        assert await bot.stop() == 0
    assert_no_loss_no_dup(delivered(api), range(1, 7))
    assert order(api) == list(range(1, 7))
    outbox = rows(db)
    assert [row["state"] for row in outbox] == ["sent"] * 6
    assert int(str(outbox[0]["attempts"])) >= 2
    assert "NetworkError" in str(outbox[0]["last_error"]) or "Bad Gateway" in str(
        outbox[0]["last_error"]
    )
    assert api.violations == []


async def test_connection_refused_then_back(
    tmp_path: Path, feed_server: FeedServer, faulty_telegram: FaultyTelegramAPI
) -> None:
    """While nothing listens on the Bot API's port, alerts wait with a clear error; once it
    listens again each is delivered once."""
    api = faulty_telegram
    switch = TcpSwitch(api.port)
    switch.off()
    try:
        config = make_config(
            switch.url, {"news": serve(feed_server, range(1, 5))}, alert_existing=True
        )
        db = tmp_path / "v.db"
        async with running(config, db, TEST_TOKEN, fast_options()) as bot:

            def refused_twice() -> bool:
                outbox = rows(db)
                return bool(outbox) and int(str(outbox[0]["attempts"])) >= 2

            await eventually(refused_twice, what="two refused attempts")
            assert api.calls == []
            error = str(rows(db)[0]["last_error"])
            assert error.startswith("NetworkError: "), error
            assert "ConnectError" in error
            switch.on()
            await eventually(lambda: len(delivered(api)) == 4, timeout=30, what="four alerts")
            assert await bot.stop() == 0
    finally:
        switch.off()
    assert_no_loss_no_dup(delivered(api), range(1, 5))
    assert order(api) == list(range(1, 5))
    assert api.violations == []


async def test_send_timeout_before_delivery_is_retried_and_sent_once(
    tmp_path: Path, feed_server: FeedServer, faulty_telegram: FaultyTelegramAPI
) -> None:
    """Two sends hang past the read timeout without reaching Telegram: retried, sent once."""
    api = faulty_telegram
    # After a timeout the next send waits twice as long (2 s, then 4 s, capped at 8 s): the
    # hang outlasts both waits, so each attempt ends in a timeout, not in a hang-up.
    api.fail_next("sendMessage", "hang", times=2, seconds=9)
    db = tmp_path / "v.db"
    await run_until_delivered(api, feed_server, db, 3, timeout=40)
    assert_no_loss_no_dup(delivered(api), range(1, 4))
    first = rows(db)[0]
    assert first["attempts"] == 2
    assert "timed out, the message may or may not have been delivered" in str(first["last_error"])
    assert api.violations == []


async def test_send_timeout_after_delivery_repeats_only_that_message(
    tmp_path: Path, feed_server: FeedServer, faulty_telegram: FaultyTelegramAPI
) -> None:
    """Telegram accepts two sends but their answers never come (the read timeout fires):
    exactly those messages are sent again, once per unanswered copy; nothing else repeats."""
    api = faulty_telegram
    config = make_config(api.url, {"news": serve(feed_server, range(1, 3))}, alert_existing=True)
    db = tmp_path / "v.db"
    api.stall_next(1, seconds=3.0)
    async with running(config, db, TEST_TOKEN, fast_options()) as bot:
        await eventually(lambda: len(delivered(api)) == 2, timeout=30, what="the first two alerts")
        api.stall_next(1, seconds=3.0)
        serve(feed_server, range(1, 6))
        await eventually(lambda: len(delivered(api)) == 5, timeout=30, what="five alerts")
        await eventually(lambda: len(rows(db)) == 5 and all(r["state"] == "sent" for r in rows(db)))
        assert await bot.stop() == 0
    texts = api.messages_by_id()
    unanswered = [story_of(texts[message_id]) for message_id in api.unanswered]
    assert len(unanswered) == 2
    counts = delivered(api)
    assert_no_loss_no_dup(counts, range(1, 6), may_repeat=unanswered)
    for number in range(1, 6):
        assert counts[number] == 1 + unanswered.count(number), (number, counts)
    assert api.violations == []


async def test_flood_limit_answers_429_without_losing_alerts(
    tmp_path: Path, feed_server: FeedServer, faulty_telegram: FaultyTelegramAPI
) -> None:
    """With the bot's own pacing off, Telegram's per-chat limit (3 per 2 s) answers 429s;
    seven alerts still arrive once each, in order."""
    api = faulty_telegram
    api.rate_limit_per_chat = (3, 2.0)
    config = make_config(api.url, {"news": serve(feed_server, range(1, 8))}, alert_existing=True)
    options = fast_options(
        dispatch_limits=Limits(
            per_chat=1000, per_chat_gap=0.0, overall_per_second=1000, backoff_base=0.3
        )
    )
    async with running(config, tmp_path / "v.db", TEST_TOKEN, options) as bot:
        await eventually(lambda: len(delivered(api)) == 7, timeout=40, what="seven alerts")
        assert await bot.stop() == 0
    assert_no_loss_no_dup(delivered(api), range(1, 8))
    assert order(api) == list(range(1, 8))
    assert len(api.calls_to("sendMessage")) > 7  # some were refused with 429
    assert api.violations == []
