"""Security under faults: no secret in any output, strangers get nothing, no markup injection.

- The bot token and the OpenSky client secret never appear in logs (DEBUG level), stdout,
  `/status`, `vedette status`, or anything stored in the database, while Telegram, OpenSky
  and the feeds misbehave in every way the fault suite knows.
- Commands from anyone but an admin, in a private chat or a group, get no reply at all and
  change nothing.
- A feed item's title, summary and link cannot add formatting or links to the message: the
  only entities Telegram sees are vedette's own (bold title, code terms) and the item's own
  http(s) link.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config.types import Config, StoriesSettings
from bot.config.validate import parse_config
from bot.flights.plan import last_available_day, start_of
from bot.runner import run
from bot.status import gather, render_status, status_data
from bot.store import Store
from tests.fakes.feed_server import Entry, FeedServer, atom, gzip_bomb, json_feed, rss
from tests.fakes.opensky_api import TEST_CLIENT_ID, TEST_CLIENT_SECRET
from tests.fakes.telegram_api import TEST_CHAT_ID, TEST_TOKEN, FakeTelegramAPI, utf16_len
from tests.faults import (
    FaultyOpenSky,
    FaultyTelegramAPI,
    assert_db_has_no_secret,
    assert_no_secret,
    bot_logs,
    closed_port,
    delivered,
    faulty_opensky_fixture,  # noqa: F401
    faulty_telegram_fixture,  # noqa: F401
    finish,
    running,
    story,
    vedette,
)
from tests.helpers import ADMIN, STRANGER, config_text, eventually, fast_options, make_config
from watchers.clock import utcnow
from watchers.opensky_auth import OpenSkyCredentials

GONE_CHAT = -1005550000000  # a channel Telegram does not know: "chat not found"


def hostile_config(
    telegram_url: str,
    feed_server: FeedServer,
    sky: FaultyOpenSky,
    extra_feeds: Mapping[str, str] | None = None,
) -> str:
    """Good and bad feeds, an OpenSky source, a rule to a channel that does not exist."""
    bad = {
        "html": feed_server.url("/html"),
        "refused": f"http://127.0.0.1:{closed_port()}/feed",
        "loop": feed_server.url("/loop"),
        "bomb": feed_server.url("/bomb"),
        **(extra_feeds or {}),
    }
    feeds = {"good": feed_server.url("/good"), **bad}
    return config_text(telegram_url, feeds, alert_existing=True) + (
        f"\n[channels.gone]\nchat_id = {GONE_CHAT}\n\n"
        '[[sources]]\nid = "sky"\nkind = "opensky"\nairports = ["HLLB", "UMMS"]\n'
        f'lookback = "2d"\nevery = "1h"\napi_url = "{sky.api_url}"\n'
        f'auth_url = "{sky.auth_url}"\n\n'
        '[[rules]]\nid = "to-gone"\nkind = "keywords"\nquery = "haftar"\nsources = ["good"]\n'
        'channel = "gone"\n\n'
        '[[rules]]\nid = "ben-msq"\nkind = "route"\nfrom = "BEN"\nto = "MSQ"\nwindow = "2d"\n'
        'at_least = 1\nchannel = "main"\n'
    )


def serve_hostile(feed_server: FeedServer) -> None:
    """The bad feeds of `hostile_config`."""
    feed_server.route(
        "/html", body=b"<html><body>maintenance</body></html>", content_type="text/html"
    )
    feed_server.route("/loop", redirect_to="/loop")
    feed_server.route(
        "/bomb", body=gzip_bomb(50 * 1024 * 1024), headers={"Content-Encoding": "gzip"}
    )


def test_no_secret_in_debug_output_status_or_database_under_faults(
    tmp_path: Path,
    feed_server: FeedServer,
    faulty_telegram: FaultyTelegramAPI,
    faulty_opensky: FaultyOpenSky,
) -> None:
    """Two `run --once` processes at DEBUG with OAuth credentials, through 429, 500,
    unparseable entities, a missing chat, OpenSky's token endpoint failing and truncated
    JSON, HTML, refused, looping and gzip-bomb feeds: no secret in stderr, stdout,
    `vedette status` or the database."""
    api, sky = faulty_telegram, faulty_opensky
    flown = start_of(last_available_day(datetime.now(UTC))) + timedelta(hours=9)
    sky.add_flight(icao24="510123", first_seen=flown, last_seen=flown + timedelta(hours=4))
    serve_hostile(feed_server)
    feed_server.route("/good", body=rss([story(2), story(1)]))
    (tmp_path / "rules.toml").write_text(
        hostile_config(api.url, feed_server, sky), encoding="utf-8"
    )
    env = {"OPENSKY_CLIENT_ID": TEST_CLIENT_ID, "OPENSKY_CLIENT_SECRET": TEST_CLIENT_SECRET}
    api.fail_next("getMe", "502")
    api.fail_next("sendMessage", "429", retry_after=1)
    api.fail_next("sendMessage", "500")
    api.fail_next("sendMessage", "parse_entities")
    sky.fail_next("auth_500")
    outputs: list[str] = []
    first = vedette(tmp_path, "run", "--once", **env)
    outputs.extend(finish(first, 90))
    assert first.returncode == 3, outputs[-1]  # 3: the hostile sources failed

    feed_server.route("/good", body=rss([story(3), story(2), story(1)]))
    sky.fail_next("truncated")
    sky.fail_next("auth_html")  # not used: the token from the first run is not kept
    second = vedette(tmp_path, "run", "--once", **env)
    outputs.extend(finish(second, 90))
    assert second.returncode == 3, outputs[-1]
    status = vedette(tmp_path, "status")
    outputs.extend(finish(status, 30))
    assert status.returncode == 0

    stderr = outputs[1] + outputs[3]
    for sign in (
        "flood control",
        "resending as plain text",
        "failed for good: BadRequest: Chat not found",
        "source html failed",
        "source bomb failed",
        "OpenSky token endpoint answered HTTP 500",
    ):
        assert sign in stderr, sign
    assert delivered(api) == {1: 1, 2: 1, 3: 1}
    assert any("BEN→MSQ" in m.visible_text for m in api.messages_to(TEST_CHAT_ID))
    assert "✗ html (rss)" in outputs[4]
    assert "failed: to-gone→gone: BadRequest: Chat not found" in outputs[4]
    assert sky.tokens_issued >= 1
    assert_no_secret(*outputs)
    assert_db_has_no_secret(tmp_path / "vedette.db")


async def test_no_secret_in_debug_logs_through_timeouts_and_outages(
    tmp_path: Path,
    feed_server: FeedServer,
    faulty_telegram: FaultyTelegramAPI,
    faulty_opensky: FaultyOpenSky,
) -> None:
    """In-process at DEBUG, through send timeouts (before and after delivery), dropped
    connections, an outage, a hanging feed and OpenSky refusing its token: the bot's log
    lines, /status and the database hold no secret."""
    api, sky = faulty_telegram, faulty_opensky
    serve_hostile(feed_server)
    feed_server.route("/good", body=rss([story(2), story(1)]))
    feed_server.route("/hang", hang=True)
    text = hostile_config(api.url, feed_server, sky, {"hang": feed_server.url("/hang")})
    config = parse_config(text, "test.toml")
    api.fail_next("sendMessage", "hang", seconds=3)
    api.stall_next(1, seconds=3)
    api.fail_next("getUpdates", "drop", times=3)
    sky.fail_next("auth_html")
    credentials = OpenSkyCredentials(TEST_CLIENT_ID, TEST_CLIENT_SECRET)
    db = tmp_path / "v.db"
    with bot_logs("DEBUG") as logs:
        stop = asyncio.Event()
        async with running_with_opensky(config, db, stop, credentials) as task:
            await eventually(lambda: set(delivered(api)) == {1, 2}, timeout=40, what="alerts")
            await eventually(
                lambda: "OpenSky token response is not JSON" in logs.getvalue(),
                what="the OpenSky token failure",
            )
            api.down(1.5)
            feed_server.route("/good", body=rss([story(3), story(2), story(1)]))
            await eventually(lambda: 3 in delivered(api), timeout=40, what="the third alert")
            store = Store.open(db)
            try:
                status = gather(store)
                report = render_status(status, utcnow())
                report += "\n" + json.dumps(status_data(status, utcnow()))  # --json
            finally:
                store.close()
            stop.set()
            assert await task == 0
    text_logs = logs.getvalue()
    assert "timed out" in text_logs
    assert "source hang failed: read timeout" in text_logs
    assert "OpenSky token response is not JSON" in text_logs
    assert "✗ hang (rss)" in report
    assert_no_secret(text_logs, report)
    assert_db_has_no_secret(db)


@contextlib.asynccontextmanager
async def running_with_opensky(
    config: Config, db: Path, stop: asyncio.Event, credentials: OpenSkyCredentials
) -> AsyncIterator[asyncio.Task[int]]:
    """`vedette run` in this process with OpenSky credentials; stopped if the test fails."""
    task = asyncio.create_task(
        run(config, str(db), TEST_TOKEN, fast_options(), stop, opensky=credentials)
    )
    try:
        yield task
    finally:
        if not task.done():
            stop.set()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 15)


# ───────────────────────────── strangers ─────────────────────────────

COMMANDS = (
    "/status",
    "/status@vedette_test_bot",
    "/help",
    "/start",
    "/recent",
    "/recent 5",
    "/mute watch 6h",
    "/unmute watch",
    "/test",
    "/reload",
)


async def test_commands_from_strangers_get_no_reply_and_change_nothing(
    tmp_path: Path,
    feed_server: FeedServer,
    telegram_api: FakeTelegramAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every command from a non-admin, in a private chat and in a group, gets no reply and
    has no effect (no mute, no test message, no reload); an admin's commands still work."""
    feed_server.route("/feed", body=rss([story(1)]))
    config = make_config(telegram_api.url, {"news": feed_server.url("/feed")})
    db = tmp_path / "v.db"
    stranger_group, admin_group = -100777, -100888
    async with running(config, db, TEST_TOKEN, fast_options()) as bot:
        await eventually(lambda: bool(telegram_api.calls_to("getUpdates")), what="polling")
        await eventually(
            lambda: sum(path == "/feed" for path, _ in feed_server.requests) >= 2,
            what="the first poll recorded",
        )
        for command in COMMANDS:
            telegram_api.push_message(STRANGER, STRANGER, command)
            telegram_api.push_message(STRANGER, stranger_group, command, chat_type="supergroup")
        telegram_api.push_message(ADMIN, admin_group, "/help", chat_type="supergroup")
        telegram_api.push_message(ADMIN, ADMIN, "/status")
        await eventually(lambda: len(telegram_api.messages_to(ADMIN)) == 1, what="admin reply")
        await eventually(lambda: len(telegram_api.messages_to(admin_group)) == 1)
        feed_server.route("/feed", body=rss([story(2), story(1)]))  # not muted by a stranger
        await eventually(lambda: delivered(telegram_api) == {2: 1}, what="the new alert")
        assert await bot.stop() == 0
    assert telegram_api.messages_to(STRANGER) == []
    assert telegram_api.messages_to(stranger_group) == []
    (alert,) = telegram_api.messages_to(TEST_CHAT_ID)  # and no /test message
    assert "Haftar story 2" in alert.visible_text
    store = Store.open(db)
    try:
        assert store.mutes() == []
    finally:
        store.close()
    assert "reload" not in caplog.text.lower()
    assert telegram_api.violations == []


# ───────────────────────────── markup injection ─────────────────────────────

HOSTILE_TITLE = (
    'Haftar <a href="https://evil.example/x">click</a> <b>bold</b> </code> &lt;b&gt; '
    '<tg-spoiler>s</tg-spoiler> <span class="tg-spoiler">sp</span> '
    '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> [md](https://evil.example/md)'
)
HOSTILE_SUMMARY = (
    '<p>See <a href="javascript:alert(1)">this</a> and <a href="https://evil.example/y">that'
    "</a> <code>x</code> <pre>y</pre> <blockquote>q</blockquote> *bold* &amp;lt;i&amp;gt;"
    "<script>alert(2)</script></p>"
)


def utf16_slice(text: str, offset: int, length: int) -> str:
    """The part of `text` at a UTF-16 offset and length (how Telegram counts entities)."""
    units = text.encode("utf-16-le")
    return units[2 * offset : 2 * (offset + length)].decode("utf-16-le")


@pytest.fixture
def feeds(feed_server: FeedServer) -> dict[str, str]:
    """RSS, Atom and JSON feeds with hostile items; id → URL."""
    feed_server.route(
        "/rss",
        body=rss(
            [
                Entry(
                    HOSTILE_TITLE,
                    link="javascript:alert(document.cookie)",
                    guid="r1",
                    summary=HOSTILE_SUMMARY,
                ),
                Entry(
                    'Haftar plain < & > "quoted"',
                    link='https://news.example/ok?a=1&b=<2>"x',
                    guid="r2",
                ),
            ]
        ),
    )
    feed_server.route(
        "/atom",
        body=atom([Entry(HOSTILE_TITLE, link="https://news.example/a", summary=HOSTILE_SUMMARY)]),
        content_type="application/atom+xml",
    )
    feed_server.route(
        "/json",
        body=json_feed([Entry(HOSTILE_TITLE, link="https://news.example/j", guid="j1")]),
        content_type="application/feed+json",
    )
    return {name: feed_server.url(f"/{name}") for name in ("rss", "atom", "json")}


async def test_feed_items_cannot_inject_markup_or_links(
    tmp_path: Path, feeds: dict[str, str], telegram_api: FakeTelegramAPI
) -> None:
    """Hostile titles, summaries and links (tags, Telegram-only tags, escaped entities,
    javascript: and Markdown links) from RSS, Atom and JSON Feed arrive as literal text: the
    only entities are the bold title, the code terms and the item's own http(s) link.
    (Stories off: the four are near copies of each other, and each must be its own message
    here; tests/test_stories.py checks a story's sources line escapes them too.)"""
    config = make_config(telegram_api.url, feeds, alert_existing=True)
    config = replace(config, stories=StoriesSettings(group=False))
    async with running(config, tmp_path / "v.db", TEST_TOKEN, fast_options()) as bot:
        await eventually(
            lambda: len(telegram_api.messages_to(TEST_CHAT_ID)) == 4, what="four alerts"
        )
        assert await bot.stop() == 0
    messages = telegram_api.messages_to(TEST_CHAT_ID)
    links = {
        "r1": None,
        "r2": 'https://news.example/ok?a=1&b=<2>"x',
        "atom": "https://news.example/a",
        "json": "https://news.example/j",
    }
    seen_links: set[str | None] = set()
    for message in messages:
        assert message.parse_mode == "HTML"
        text = message.visible_text
        kinds = {entity["type"] for entity in message.entities}
        assert kinds <= {"bold", "code", "text_link"}, message.entities
        bold = [e for e in message.entities if e["type"] == "bold"]
        assert len(bold) == 1
        title = utf16_slice(text, bold[0]["offset"], bold[0]["length"])
        assert title.startswith("Haftar")
        assert bold[0]["offset"] == 0
        assert bold[0]["length"] == utf16_len(title)
        codes = {
            utf16_slice(text, e["offset"], e["length"])
            for e in message.entities
            if e["type"] == "code"
        }
        assert codes == {"haftar", "watch"}, codes
        urls = [e["url"] for e in message.entities if e["type"] == "text_link"]
        assert len(urls) <= 1
        assert not any("evil.example" in url or "javascript" in url for url in urls)
        seen_links.add(urls[0] if urls else None)
        if HOSTILE_TITLE in text:
            assert "evil.example/md" in text  # shown as text, not a link
        preview = message.link_preview_options or {}
        assert "javascript" not in str(preview)
    assert seen_links == set(links.values())
    hostile = [m for m in messages if HOSTILE_TITLE in m.visible_text]
    assert len(hostile) == 3  # RSS, Atom and JSON titles shown literally
    for message in hostile:
        if "See this" in message.visible_text:
            assert "See this and that x y q *bold* &lt;i&gt;" in message.visible_text
            assert "alert(2)" not in message.visible_text
    assert telegram_api.violations == []
