"""Field trial 2026-12, delivery: findings 14, 42 (channel resolved at send time, retry of
failed alerts, the channel check at start), 15 (copies from a slow Telegram) and 34 (an
ok:true answer PTB cannot read).

Everything is real: the dispatcher, python-telegram-bot, the fake Bot API on loopback
(checked against api.json) and SQLite files in tmp_path.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.cli import main
from bot.config.types import Channel
from bot.config.validate import load_config
from bot.dispatcher import Dispatcher, Limits
from bot.store import Store
from bot.telegram.commands import TelegramTimeouts
from bot.telegram.replies import check_channels
from bot.telegram.sink import TelegramSink
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram_api import TEST_CHAT_ID, TEST_TOKEN, FakeTelegramAPI
from tests.faults import delivered, running, story
from tests.helpers import (
    ADMIN,
    config_text,
    enqueue,
    eventually,
    fail_all,
    fast_options,
    make_config,
    new_alert,
    outbox_rows,
)
from watchers.http import Validators

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
OTHER_CHAT = -1005550001
GROUP = -4001
SUPERGROUP = -1004001


@pytest.fixture
async def bot(telegram_api: FakeTelegramAPI) -> AsyncIterator[Bot]:
    """A real, initialised PTB Bot on the fake; afterwards, nothing malformed was sent."""
    request = HTTPXRequest(connect_timeout=2.0, read_timeout=2.0, write_timeout=2.0)
    real = Bot(TEST_TOKEN, base_url=telegram_api.base_url, request=request)
    await real.initialize()
    try:
        yield real
    finally:
        await real.shutdown()
    assert telegram_api.violations == []


def sender(store: Store, sink: TelegramSink, channels: dict[str, Channel] | None) -> Dispatcher:
    """A dispatcher without pacing gaps, resolving channels through `channels` (live dict)."""
    limits = Limits(per_chat_gap=0.0, backoff_base=0.05)
    provider = (lambda: channels) if channels is not None else None
    return Dispatcher(store, sink, limits=limits, rng=random.Random(1), channels=provider)


# ── 14: the channel is resolved when the alert is sent ──


async def test_a_pending_alert_goes_to_the_chat_configured_when_it_is_sent(
    store: Store, bot: Bot, telegram_api: FakeTelegramAPI
) -> None:
    """Queued for the old chat id; the configuration now names another: it goes there."""
    telegram_api.chats.add(OTHER_CHAT)
    enqueue(store, NOW, "a", chat=TEST_CHAT_ID)
    channels = {"main": Channel("main", OTHER_CHAT)}
    assert await sender(store, TelegramSink(bot), channels).drain(grace=0) == 0
    assert [m.visible_text for m in telegram_api.messages_to(OTHER_CHAT)] == ["a"]
    assert telegram_api.messages_to(TEST_CHAT_ID) == []
    assert outbox_rows(store, "sent")[0]["chat_id"] == str(OTHER_CHAT)


async def test_an_unconfigured_channel_keeps_its_alerts_pending(
    store: Store, bot: Bot, telegram_api: FakeTelegramAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """A channel removed from the configuration: its rows wait (one log line), others go;
    `drain` does not spin on them; once configured again they are sent there."""
    enqueue(store, NOW, "gone1", "gone2", channel="backup", chat=TEST_CHAT_ID)
    enqueue(store, NOW, "kept", channel="main", chat=TEST_CHAT_ID)
    channels = {"main": Channel("main", TEST_CHAT_ID)}
    dispatcher = sender(store, TelegramSink(bot), channels)
    with caplog.at_level(logging.WARNING, logger="bot.dispatcher"):
        assert await dispatcher.drain(grace=5) == 2
        assert await dispatcher.drain(grace=5) == 2
    assert [m.visible_text for m in telegram_api.messages_to(TEST_CHAT_ID)] == ["kept"]
    warnings = [r.getMessage() for r in caplog.records if "backup" in r.getMessage()]
    assert warnings == [
        "outbox: channel backup is not in the configuration any more; 2 alerts to it stay "
        "pending until a [channels.backup] table is back in rules.toml"
    ]
    assert dispatcher.unconfigured == {"backup": 2}
    telegram_api.chats.add(OTHER_CHAT)
    channels["backup"] = Channel("backup", OTHER_CHAT)
    assert await dispatcher.drain(grace=0) == 0
    assert [m.visible_text for m in telegram_api.messages_to(OTHER_CHAT)] == ["gone1", "gone2"]
    assert dispatcher.unconfigured == {}


async def test_a_migrated_group_is_followed_although_the_configuration_names_it(
    store: Store, bot: Bot, telegram_api: FakeTelegramAPI
) -> None:
    """Telegram says the group became a supergroup: this alert and every later one go to
    the supergroup, even though rules.toml (the provider) still names the group."""
    telegram_api.chats.update({GROUP, SUPERGROUP})
    telegram_api.fail_next("sendMessage", "migrate", migrate_to_chat_id=SUPERGROUP)
    enqueue(store, NOW, "a", chat=GROUP)
    channels = {"main": Channel("main", GROUP)}
    dispatcher = sender(store, TelegramSink(bot), channels)
    assert await dispatcher.drain(grace=0) == 0
    enqueue(store, NOW, "b", chat=GROUP)
    assert await dispatcher.drain(grace=0) == 0
    targets = [c.params["chat_id"] for c in telegram_api.calls_to("sendMessage")]
    assert targets == [GROUP, SUPERGROUP, SUPERGROUP]
    assert [m.visible_text for m in telegram_api.messages_to(SUPERGROUP)] == ["a", "b"]
    assert store.chat_migrations() == {GROUP: SUPERGROUP}


# ── 14, 42: failed alerts can be retried ──


def test_retry_failed_requeues_failed_rows_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`vedette retry-failed [--rule ID]`: failed rows back to pending (same row, same dedup
    key, attempts reset); sent rows stay sent; exit 0 and how many."""
    db = tmp_path / "v.db"
    store = Store.open(db)
    try:
        enqueue(store, NOW, "sent", chat=TEST_CHAT_ID)
        row = store.claim(1)
        assert row is not None
        store.mark_sent(row.id, NOW, 7)
        enqueue(store, NOW, "x", "y", chat=TEST_CHAT_ID)
        alerts = [new_alert("z", "other", chat=TEST_CHAT_ID, dedup_key="k|z")]
        store.record_success("src", "rss", NOW, validators=Validators(), alerts=alerts)
        fail_all(store)
    finally:
        store.close()

    assert main(["retry-failed", "--db", str(db), "--rule", "other"]) == 0
    assert capsys.readouterr().out.startswith("requeued 1 failed alert of rule other: ")
    assert main(["retry-failed", "--db", str(db)]) == 0
    assert capsys.readouterr().out.startswith("requeued 2 failed alerts: ")
    assert main(["retry-failed", "--db", str(db)]) == 0
    assert capsys.readouterr().out == "no failed alerts to requeue\n"

    store = Store.open(db)
    try:
        rows = outbox_rows(store)
    finally:
        store.close()
    assert [(r["dedup_key"], r["state"], r["attempts"]) for r in rows] == [
        ("k|sent", "sent", 0),
        ("k|x", "pending", 0),
        ("k|y", "pending", 0),
        ("k|z", "pending", 0),
    ]


def test_retry_failed_without_a_database_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No database file: one line naming it, exit 1, no file created."""
    db = tmp_path / "none.db"
    assert main(["retry-failed", "--db", str(db)]) == 1
    assert f"no database at {db}" in capsys.readouterr().err
    assert not db.exists()


async def test_wrong_chat_id_fails_then_reload_and_retry_deliver_once(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """The field trial's repro: a chat id Telegram does not know fails the alert for good; the
    admin fixes rules.toml, reloads and sends /retry: it arrives once, in the right chat."""
    feed_server.route("/feed", body=rss([story(1)]))
    rules = tmp_path / "rules.toml"
    feed = {"news": feed_server.url("/feed")}
    rules.write_text(config_text(telegram_api.url, feed, alert_existing=True, chat_id=-100999))
    db = tmp_path / "v.db"
    async with running(load_config(rules), db, TEST_TOKEN, fast_options()) as bot:
        store = Store.open(db)
        try:
            await eventually(lambda: store.outbox_counts().failed == 1, what="the failure")
            rules.write_text(config_text(telegram_api.url, feed, alert_existing=True))
            assert (await bot.runners[0].reload()).startswith("reloaded ")
            telegram_api.push_message(ADMIN, ADMIN, "/retry")
            await eventually(lambda: store.outbox_counts().sent == 1, what="the alert sent")
            await eventually(lambda: bool(telegram_api.messages_to(ADMIN)), what="the reply")
        finally:
            store.close()
        assert await bot.stop() == 0
    assert delivered(telegram_api) == {1: 1}
    [reply] = telegram_api.messages_to(ADMIN)
    assert reply.visible_text.startswith("requeued 1 failed alert: ")
    assert telegram_api.violations == []


# ── 14, 42: every channel is checked at start ──


async def test_check_channels_names_each_problem(bot: Bot, telegram_api: FakeTelegramAPI) -> None:
    """getChat, then the bot's rights: one line per channel, problems say what to fix."""
    telegram_api.chats.update({-1001, -1002, -1003, "@public"})
    telegram_api.set_bot_member(-1001, "administrator", can_post_messages=False)
    telegram_api.set_bot_member(-1002, "kicked")
    telegram_api.set_bot_member("@public", "left")
    channels = {
        "main": Channel("main", TEST_CHAT_ID),
        "typo": Channel("typo", -1001234567891),
        "readonly": Channel("readonly", -1001),
        "kicked": Channel("kicked", -1002),
        "public": Channel("public", "@public"),
    }
    checks = {c.name: c for c in await check_channels(bot, channels, TEST_TOKEN)}
    assert checks["main"].ok
    assert checks["main"].line == f"channel main ({TEST_CHAT_ID}): ok, the bot can post there"
    assert checks["typo"].line == (
        "channel typo (-1001234567891): chat not found — alerts to it will fail; "
        "fix chat_id in rules.toml"
    )
    assert "without the right to post messages" in checks["readonly"].line
    assert "kicked" in checks["kicked"].line
    assert "the bot is not a member" in checks["public"].line
    assert [name for name, check in checks.items() if not check.ok] == [
        "typo",
        "readonly",
        "kicked",
        "public",
    ]


async def test_the_start_logs_a_channel_that_does_not_exist(
    tmp_path: Path,
    feed_server: FeedServer,
    telegram_api: FakeTelegramAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`vedette run` checks every channel once getMe succeeded and logs one clear line."""
    feed_server.route("/feed", body=rss([]))
    config = make_config(
        telegram_api.url, {"news": feed_server.url("/feed")}, chat_id=-1001234567891
    )
    with caplog.at_level(logging.INFO, logger="bot"):
        async with running(config, tmp_path / "v.db", TEST_TOKEN, fast_options()) as bot:
            await eventually(lambda: bool(telegram_api.calls_to("getChat")), what="getChat")
            await eventually(
                lambda: any("chat not found" in r.getMessage() for r in caplog.records),
                what="the log line",
            )
            assert await bot.stop() == 0
    [line] = [r for r in caplog.records if r.getMessage().startswith("channel main ")]
    assert line.levelno == logging.WARNING
    assert line.getMessage() == (
        "channel main (-1001234567891): chat not found — alerts to it will fail; "
        "fix chat_id in rules.toml"
    )
    assert telegram_api.violations == []


# ── 15: a slow Telegram ──


@pytest.mark.parametrize(("slow", "copies"), [(0.75, 2), (1.5, 3)])
async def test_a_slow_api_posts_the_copies_the_readme_states(
    tmp_path: Path,
    feed_server: FeedServer,
    telegram_api: FakeTelegramAPI,
    slow: float,
    copies: int,
) -> None:
    """Telegram accepts every send after `slow` seconds. With a read timeout of 0.5 s (cap
    2 s) the waits are 0.5, 1, 2 s: an answer within 1 s gives 2 copies, within 2 s gives 3,
    as README "Delivery guarantee" says for 15, 30, 60 s; then the alert is marked sent."""
    telegram_api.fail_next("sendMessage", "slow", times=10, seconds=slow)
    feed_server.route("/feed", body=rss([story(1)]))
    config = make_config(telegram_api.url, {"news": feed_server.url("/feed")}, alert_existing=True)
    timeouts = TelegramTimeouts(connect=1.0, read=0.5, write=2.0, poll=1.0, read_cap=2.0)
    db = tmp_path / "v.db"
    async with running(config, db, TEST_TOKEN, fast_options(telegram_timeouts=timeouts)) as bot:
        store = Store.open(db)
        try:
            await eventually(lambda: store.outbox_counts().sent == 1, what="the alert sent")
        finally:
            store.close()
        assert await bot.stop() == 0
    assert delivered(telegram_api) == {1: copies}
    assert len(telegram_api.calls_to("sendMessage")) == copies
    assert telegram_api.violations == []


# ── 34: an ok:true answer that is not a message ──


@pytest.mark.parametrize("result", ["yes", True, {}])
async def test_an_unreadable_success_counts_as_delivered_once(
    store: Store,
    bot: Bot,
    telegram_api: FakeTelegramAPI,
    caplog: pytest.LogCaptureFixture,
    result: Any,
) -> None:
    """`{"ok": true, "result": "yes"}`: accepted, so marked sent without a message id and
    never sent again (a retry could only post a copy); a warning says so."""
    telegram_api.fail_next("sendMessage", "ok_result", result=result)
    enqueue(store, NOW, "a", "b", chat=TEST_CHAT_ID)
    with caplog.at_level(logging.INFO):
        assert await sender(store, TelegramSink(bot), None).drain(grace=0) == 0
    assert [m.visible_text for m in telegram_api.messages_to(TEST_CHAT_ID)] == ["a", "b"]
    assert len(telegram_api.calls_to("sendMessage")) == 2
    rows = outbox_rows(store, "sent")
    assert [r["message_id"] for r in rows] == [None, 2]
    assert [r["attempts"] for r in rows] == [0, 0]
    messages = [r.getMessage() for r in caplog.records]
    assert any("accepted the message but its answer is not a message" in m for m in messages)
    assert not any("retrying" in m or "unexpected error" in m for m in messages)


def test_retry_requeues_with_due_time_now(store: Store) -> None:
    """A failed row requeued is due at once (not at its old not_before)."""
    enqueue(store, NOW, "a", chat=TEST_CHAT_ID)
    fail_all(store)
    later = NOW + timedelta(hours=5)
    assert store.retry_failed(later) == 1
    [row] = outbox_rows(store, "pending")
    assert row["not_before"] == later.isoformat(timespec="milliseconds")


async def test_an_error_before_any_answer_is_not_counted_as_delivered(
    bot: Bot, telegram_api: FakeTelegramAPI
) -> None:
    """Only an exception raised while reading an `ok: true` answer means "accepted": one
    raised before the request (a bug of ours, here in the sink's own argument handling)
    is retried, never counted as delivered."""
    from bot.sinks import Message, Transient

    class Broken:
        def __bool__(self) -> bool:
            raise RuntimeError("a bug before the request")

    outcome = await TelegramSink(bot).send(
        Message(outbox_id=1, chat_id=TEST_CHAT_ID, html="a", plain="a", as_plain=Broken())  # type: ignore[arg-type]
    )
    assert isinstance(outcome, Transient), outcome
    assert "unexpected error while sending: RuntimeError" in outcome.error
    assert telegram_api.calls_to("sendMessage") == []
