"""The news path end to end, in one process: loopback feeds → rules → SQLite → fake Bot API.

Everything real: httpx against a loopback feed server, python-telegram-bot against the fake
Bot API (which checks every call against the spec), SQLite files in tmp_path.
"""

from __future__ import annotations

import io
from pathlib import Path

import httpx

from bot.sinks import ConsoleSink
from bot.status import gather, render_status
from bot.store import Store
from tests.fakes.feed_server import Entry, FeedServer, rss
from tests.fakes.telegram_api import TEST_CHAT_ID, TEST_TOKEN, FakeTelegramAPI
from tests.helpers import ADMIN, eventually, fast_options, make_config, outbox_rows, start
from watchers.clock import utcnow


def serve(feed_server: FeedServer, path: str, *entries: Entry) -> None:
    """Serve an RSS feed with these entries at `path`."""
    feed_server.route(path, body=rss(entries))


def texts(telegram_api: FakeTelegramAPI) -> list[str]:
    """The visible text of every message delivered to the channel."""
    return [m.visible_text for m in telegram_api.messages_to(TEST_CHAT_ID)]


async def test_first_poll_is_silent_then_each_new_match_is_posted_once(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """Items present at the first poll never alert; new matches alert once, even across a restart."""
    old = Entry("Haftar visits Minsk", link="https://news.example/old")
    serve(feed_server, "/feed", old, Entry("Weather in Paris", link="https://news.example/w"))
    config = make_config(telegram_api.url, {"news": feed_server.url("/feed")})
    db = tmp_path / "vedette.db"
    bot = start(config, db, TEST_TOKEN, fast_options())
    await eventually(lambda: feed_server.polls("/feed") >= 2, what="two polls")
    assert texts(telegram_api) == []

    new_en = Entry("Belavia plans Benghazi route", link="https://news.example/1?utm_source=x")
    new_uk = Entry(
        "Зустріч у Мінську",
        link="https://news.example/2",
        summary="<p>Лукашенко зустрівся з <b>Хафтаром</b></p>",
    )
    quiet = Entry("Dinamo Minsk win the cup", link="https://news.example/3")
    serve(feed_server, "/feed", new_uk, new_en, quiet, old)
    await eventually(lambda: len(texts(telegram_api)) == 2, what="two alerts")
    seen = feed_server.polls("/feed")
    await eventually(lambda: feed_server.polls("/feed") >= seen + 3, what="three more polls")
    assert await bot.stop() == 0

    sent = texts(telegram_api)
    assert len(sent) == 2
    ukrainian = next(text for text in sent if "Зустріч у Мінську" in text)
    assert "хафтар* → хафтаром" in ukrainian
    assert "Лукашенко зустрівся з Хафтаром" in ukrainian
    assert any("Belavia plans Benghazi route" in text for text in sent)
    assert telegram_api.violations == []

    later = Entry("Haftar's son flies to Minsk", link="https://news.example/4")
    serve(feed_server, "/feed", later, new_uk, new_en, quiet, old)
    again = start(config, db, TEST_TOKEN, fast_options())
    await eventually(lambda: len(texts(telegram_api)) == 3, what="the alert after restart")
    seen = feed_server.polls("/feed")
    await eventually(lambda: feed_server.polls("/feed") >= seen + 3, what="more polls")
    assert await again.stop() == 0
    assert len(texts(telegram_api)) == 3
    assert "Haftar's son flies to Minsk" in texts(telegram_api)[2]


async def test_markup_in_a_title_is_delivered_as_text(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """A title with <script> and & reaches the channel intact, as text, through HTML mode."""
    title = "Haftar <script>alert('x')</script> & Minsk <b>talks</b>"
    serve(feed_server, "/feed", Entry(title, link="https://news.example/x"))
    config = make_config(telegram_api.url, {"news": feed_server.url("/feed")}, alert_existing=True)
    bot = start(config, tmp_path / "v.db", TEST_TOKEN, fast_options())
    await eventually(lambda: len(texts(telegram_api)) == 1, what="the alert")
    assert await bot.stop() == 0
    message = telegram_api.messages_to(TEST_CHAT_ID)[0]
    assert message.parse_mode == "HTML"
    assert title in message.visible_text
    assert "<script>" not in message.text
    assert telegram_api.violations == []


async def test_flood_control_and_an_outage_lose_nothing(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """A 429 and several seconds of Telegram being down delay alerts but lose and repeat none."""
    entries = [Entry(f"Haftar story {n}", link=f"https://news.example/{n}") for n in range(4)]
    serve(feed_server, "/feed", *entries)
    config = make_config(telegram_api.url, {"news": feed_server.url("/feed")}, alert_existing=True)
    telegram_api.fail_next("sendMessage", "429", retry_after=1)
    telegram_api.down(3.0)
    db = tmp_path / "v.db"
    bot = start(config, db, TEST_TOKEN, fast_options())
    await eventually(lambda: len(texts(telegram_api)) == 4, timeout=40, what="all four alerts")
    assert await bot.stop() == 0
    assert sorted(texts(telegram_api)) == sorted(set(texts(telegram_api)))
    store = Store.open(db)
    assert store.outbox_counts().sent == 4
    assert max(row["attempts"] for row in outbox_rows(store)) >= 1
    store.close()


async def test_telegram_down_for_a_whole_run_keeps_alerts_for_the_next(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """`--once` with Telegram unreachable leaves the alert pending; the next run delivers it."""
    serve(feed_server, "/feed", Entry("Haftar in Minsk", link="https://news.example/1"))
    config = make_config(telegram_api.url, {"news": feed_server.url("/feed")}, alert_existing=True)
    telegram_api.down(60)
    db = tmp_path / "v.db"
    first = start(config, db, TEST_TOKEN, fast_options(once=True))
    assert await first.finish() == 4  # alerts stay pending
    store = Store.open(db)
    assert store.outbox_counts().pending == 1
    store.close()
    telegram_api.up()
    second = start(config, db, TEST_TOKEN, fast_options(once=True))
    assert await second.finish() == 0
    assert len(texts(telegram_api)) == 1


async def test_broken_sources_fail_alone_with_clear_errors(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """Malformed, hanging and oversized feeds each record their own error; the good one alerts."""
    serve(feed_server, "/good", Entry("Old news", link="https://news.example/old"))
    feed_server.route(
        "/html", body=b"<html><body><h1>Welcome</h1></body></html>", content_type="text/html"
    )
    feed_server.route("/hang", hang=True)
    feed_server.route("/huge", body=b"<rss>" + b"x" * 65536, repeat=40, content_length=None)
    feeds = {name: feed_server.url(f"/{name}") for name in ("good", "html", "hang", "huge")}
    db = tmp_path / "v.db"
    bot = start(make_config(telegram_api.url, feeds), db, TEST_TOKEN, fast_options())
    await eventually(lambda: feed_server.polls("/good") >= 1, what="first poll of /good")
    serve(
        feed_server,
        "/good",
        Entry("Haftar meets Lukashenko", link="https://news.example/new"),
        Entry("Old news", link="https://news.example/old"),
    )
    store = Store.open(db)

    def all_failed() -> bool:
        health = {h.id: h for h in store.source_health()}
        return all(
            health.get(name) is not None and health[name].consecutive_failures >= 1
            for name in ("html", "hang", "huge")
        )

    await eventually(all_failed, what="three failing sources")
    await eventually(lambda: len(texts(telegram_api)) == 1, what="the good source's alert")
    report = render_status(gather(store, list(feeds)), utcnow())
    assert await bot.stop() == 0
    errors = {h.id: h.last_error or "" for h in store.source_health()}
    store.close()
    assert errors["good"] == ""
    assert errors["html"].startswith("html: ")
    assert "not a feed" in errors["html"]
    assert errors["hang"].startswith("hang: ")
    assert "timed out" in errors["hang"] or "timeout" in errors["hang"]
    assert errors["huge"].startswith("huge: ")
    assert "larger than 1 MiB" in errors["huge"]
    for name in ("html", "hang", "huge"):
        assert errors[name] in report


async def test_status_answers_an_admin_and_ignores_a_stranger(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """/status goes to the admin; a stranger's /status and /help get no reply at all."""
    serve(feed_server, "/feed", Entry("Old news", link="https://news.example/old"))
    config = make_config(telegram_api.url, {"news": feed_server.url("/feed")})
    bot = start(config, tmp_path / "v.db", TEST_TOKEN, fast_options())
    await eventually(lambda: feed_server.polls("/feed") >= 1, what="a poll")
    telegram_api.push_message(666, 666, "/status")
    telegram_api.push_message(666, -100777, "/help", chat_type="supergroup")
    telegram_api.push_message(ADMIN, ADMIN, "/status")
    await eventually(lambda: bool(telegram_api.messages_to(ADMIN)), what="the admin's reply")
    telegram_api.push_message(ADMIN, ADMIN, "/help")
    await eventually(lambda: len(telegram_api.messages_to(ADMIN)) == 2, what="the help reply")
    assert await bot.stop() == 0
    status, help_ = (m.visible_text for m in telegram_api.messages_to(ADMIN))
    assert status.startswith("vedette ")
    assert "outbox: 0 pending" in status
    assert "news (rss)" in status
    assert "/status" in help_
    assert telegram_api.messages_to(666) == []
    assert telegram_api.messages_to(-100777) == []
    assert [c.params["commands"] for c in telegram_api.calls_to("setMyCommands")]
    assert telegram_api.violations == []


async def test_without_a_token_alerts_go_to_the_console(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """With no token the console sink prints each alert as plain text."""
    serve(feed_server, "/feed", Entry("Haftar & Belavia", link="https://news.example/1"))
    config = make_config(
        "http://127.0.0.1:9", {"news": feed_server.url("/feed")}, alert_existing=True
    )
    out = io.StringIO()
    bot = start(config, tmp_path / "v.db", None, fast_options(once=True, console=ConsoleSink(out)))
    assert await bot.finish() == 0
    assert "Haftar & Belavia" in out.getvalue()
    assert "https://news.example/1" in out.getvalue()


class ExplodingOnce(httpx.AsyncBaseTransport):
    """A transport whose first request fails with a non-HTTP exception (a bug)."""

    def __init__(self) -> None:
        self.calls = 0
        self.real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("a bug in the transport")
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


async def test_an_unexpected_error_does_not_end_a_source(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A bug during one poll is logged and the source is polled again."""
    serve(feed_server, "/feed", Entry("Haftar in Minsk", link="https://news.example/1"))
    config = make_config(
        "http://127.0.0.1:9", {"news": feed_server.url("/feed")}, alert_existing=True
    )
    out = io.StringIO()
    transport = ExplodingOnce()
    bot = start(
        config,
        tmp_path / "v.db",
        None,
        fast_options(console=ConsoleSink(out), feed_transport=transport),
    )
    await eventually(lambda: "Haftar in Minsk" in out.getvalue(), what="the alert after the bug")
    assert await bot.stop() == 0
    assert transport.calls >= 2
