"""The admin commands beyond /status, end to end: the real bot against the fake Bot API.

`/recent`, `/mute`, `/unmute`, `/test` and `/reload` are driven the way an admin would, by
messages queued on the fake Bot API; everything else is real (feeds on loopback, SQLite in
tmp_path, python-telegram-bot).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from telegram.ext import Application

from bot.config.validate import parse_config
from bot.store import Store
from bot.store.records import Mute
from bot.telegram.commands import COMMANDS, build_application
from tests.fakes.feed_server import Entry, FeedServer, rss
from tests.fakes.telegram_api import TEST_CHAT_ID, TEST_TOKEN, FakeTelegramAPI
from tests.helpers import (
    ADMIN,
    GROUP,
    STRANGER,
    Running,
    ask,
    config_text,
    eventually,
    fast_options,
    make_config,
    serving,
    start,
)
from watchers.clock import utcnow

UNKNOWN_CHANNEL = -100555


def serve(feed_server: FeedServer, *entries: Entry) -> None:
    """Serve an RSS feed with these entries at /feed."""
    feed_server.route("/feed", body=rss(entries))


def channel_texts(telegram_api: FakeTelegramAPI) -> list[str]:
    """The visible text of every message delivered to the configured channel."""
    return [m.visible_text for m in telegram_api.messages_to(TEST_CHAT_ID)]


async def settle(feed_server: FeedServer, more: int = 3) -> None:
    """Wait for a few more polls of /feed (so anything that would be sent was sent)."""
    seen = feed_server.polls("/feed")
    await eventually(lambda: feed_server.polls("/feed") >= seen + more, what=f"{more} more polls")


async def start_on_a_quiet_feed(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> Running:
    """The bot on one feed with nothing to alert on, once it has polled it (database v.db)."""
    serve(feed_server, Entry("Weather in Paris", link="https://news.example/w"))
    config = make_config(telegram_api.url, {"news": feed_server.url("/feed")})
    bot = start(config, tmp_path / "v.db", TEST_TOKEN, fast_options())
    await eventually(lambda: feed_server.polls("/feed") >= 1, what="the first poll")
    return bot


def mutes_in(db: Path) -> list[Mute]:
    """The mutes stored in the database at `db`."""
    store = Store.open(db)
    try:
        return store.mutes()
    finally:
        store.close()


async def test_recent_lists_a_delivered_alert_with_its_link(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """/recent shows the time, rule, title and link of an alert the channel received."""
    serve(feed_server, Entry("Haftar lands in Minsk", link="https://news.example/1"))
    config = make_config(telegram_api.url, {"news": feed_server.url("/feed")}, alert_existing=True)
    db = tmp_path / "v.db"
    bot = start(config, db, TEST_TOKEN, fast_options())
    store = Store.open(db)
    try:
        await eventually(lambda: store.outbox_counts().sent == 1, what="the alert sent")
        reply = await ask(telegram_api, "/recent")
    finally:
        store.close()
    assert await bot.stop() == 0
    line = next(line for line in reply.splitlines() if "Haftar lands in Minsk" in line)
    assert " · watch · " in line
    assert line.endswith(" · https://news.example/1")
    assert line[:16].replace("-", "").replace(":", "").replace(" ", "").isdigit()
    assert telegram_api.violations == []


async def test_mute_holds_matches_and_unmute_lets_the_next_through(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """A muted rule's match is recorded, not sent, and shown in /status; after /unmute the next is sent."""
    bot = await start_on_a_quiet_feed(tmp_path, feed_server, telegram_api)
    store = Store.open(tmp_path / "v.db")
    try:
        assert (await ask(telegram_api, "/mute watch 1h")).startswith("muted watch until ")

        held = Entry("Haftar meets Belavia", link="https://news.example/held")
        serve(feed_server, held, Entry("Weather in Paris", link="https://news.example/w"))
        await eventually(lambda: store.muted_count() == 1, what="the held alert recorded")
        await settle(feed_server)
        assert channel_texts(telegram_api) == []
        status = await ask(telegram_api, "/status")
        assert "muted: watch until " in status
        assert "(1 alert held)" in status
        assert "muted alerts recorded (never sent): 1" in status

        assert await ask(telegram_api, "/unmute watch") == "unmuted watch"
        assert await ask(telegram_api, "/unmute watch") == "watch was not muted"
        fresh = Entry("Haftar flies Belavia again", link="https://news.example/new")
        serve(feed_server, fresh, held, Entry("Weather in Paris", link="https://news.example/w"))
        await eventually(lambda: len(channel_texts(telegram_api)) == 1, what="the next alert")
        await settle(feed_server)
        recent = await ask(telegram_api, "/recent")
    finally:
        store.close()
    assert await bot.stop() == 0
    [sent] = channel_texts(telegram_api)
    assert "Haftar flies Belavia again" in sent
    assert "held by mutes, not sent" in recent
    assert "https://news.example/held" in recent
    assert telegram_api.violations == []


async def test_test_reports_each_channel(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """/test posts to every channel and answers ok, or the error for a chat Telegram lacks."""
    serve(feed_server, Entry("Weather in Paris", link="https://news.example/w"))
    text = config_text(telegram_api.url, {"news": feed_server.url("/feed")})
    text += f"\n[channels.backup]\nchat_id = {UNKNOWN_CHANNEL}\n"
    config = parse_config(text, "test.toml")
    bot = start(config, tmp_path / "v.db", TEST_TOKEN, fast_options())
    await eventually(lambda: feed_server.polls("/feed") >= 1, what="the first poll")
    reply = await ask(telegram_api, "/test")
    assert await bot.stop() == 0
    lines = reply.splitlines()
    assert f"main ({TEST_CHAT_ID}): ok" in lines
    backup = next(line for line in lines if line.startswith(f"backup ({UNKNOWN_CHANNEL}): "))
    assert "chat not found" in backup.lower()
    assert TEST_TOKEN not in reply
    [test_message] = telegram_api.messages_to(TEST_CHAT_ID)
    assert "test message" in test_message.visible_text
    assert telegram_api.violations == []


async def test_bad_arguments_get_usage_replies(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """Missing or bad arguments, in a private chat or a group, are answered with usage."""
    bot = await start_on_a_quiet_feed(tmp_path, feed_server, telegram_api)
    no_args = await ask(telegram_api, "/mute")
    in_group = await ask(telegram_api, "/mute watch", GROUP, "supergroup")
    unknown = await ask(telegram_api, "/mute x 6h")
    bad_duration = await ask(telegram_api, "/mute watch soon")
    too_long = await ask(telegram_api, "/mute watch 400d")
    unmute = await ask(telegram_api, "/unmute")
    recent = await ask(telegram_api, "/recent lots")
    assert await bot.stop() == 0
    assert no_args.startswith("Usage: /mute RULE DURATION, e.g. /mute watch 6h")
    assert in_group.startswith("Usage: /mute RULE DURATION")
    assert unknown == 'unknown rule "x"; rules: watch'
    assert bad_duration.startswith('bad duration "soon"')
    assert "Usage: /mute RULE DURATION" in bad_duration
    assert "too long" in too_long
    assert unmute.startswith("Usage: /unmute RULE")
    assert recent.startswith("Usage: /recent [N]")
    assert mutes_in(tmp_path / "v.db") == []
    assert telegram_api.violations == []


async def test_a_stranger_gets_nothing_from_any_command(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """Every command from a non-admin, in private or in a group, is ignored and changes nothing."""
    bot = await start_on_a_quiet_feed(tmp_path, feed_server, telegram_api)
    for text in ("/status", "/recent", "/mute watch 1h", "/unmute watch", "/test", "/reload"):
        telegram_api.push_message(STRANGER, STRANGER, text)
        telegram_api.push_message(STRANGER, GROUP, text, chat_type="supergroup")
    telegram_api.push_message(STRANGER, STRANGER, "/help")
    help_ = await ask(telegram_api, "/help")  # answered after the stranger's updates
    assert await bot.stop() == 0
    assert telegram_api.messages_to(STRANGER) == []
    assert telegram_api.messages_to(GROUP) == []
    assert telegram_api.messages_to(TEST_CHAT_ID) == []
    for name, _ in COMMANDS:
        assert f"/{name}" in help_
    assert mutes_in(tmp_path / "v.db") == []
    registered = telegram_api.calls_to("setMyCommands")[-1].params["commands"]
    assert [c["command"] for c in registered] == [name for name, _ in COMMANDS]
    assert telegram_api.violations == []


def application(
    telegram_api: FakeTelegramAPI, store: Store, reload: Callable[[], Awaitable[str]] | None
) -> Application:  # type: ignore[type-arg]
    """The commands' Application on the fake, with this `reload` callback."""
    config = make_config(telegram_api.url, {"news": "http://127.0.0.1:9/feed"})
    return build_application(
        TEST_TOKEN,
        telegram_api.url,
        [ADMIN],
        store,
        clock=utcnow,
        config=lambda: config,
        reload=reload,
    )


async def test_reload_answers_with_what_the_callback_says(
    store: Store, telegram_api: FakeTelegramAPI
) -> None:
    """/reload awaits the reload callback and replies with its text, or with its failure."""
    outcomes = iter(["reloaded rules.toml: 2 rules", RuntimeError(f"boom {TEST_TOKEN}")])

    async def reload() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async with serving(application(telegram_api, store, reload)):
        first = await ask(telegram_api, "/reload")
        second = await ask(telegram_api, "/reload")
    async with serving(application(telegram_api, store, None)):
        unavailable = await ask(telegram_api, "/reload")
    assert first == "reloaded rules.toml: 2 rules"
    assert second.startswith("reload failed: RuntimeError: boom ")
    assert TEST_TOKEN not in second
    assert "not available" in unavailable
    assert telegram_api.violations == []
