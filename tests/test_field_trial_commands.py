"""Field trial 2026-12, commands: findings 29 (`/recent 100`, `/bogus`), 39 and 46
(`vedette sources`, `/sources`, `/pause`, `/resume`).

The real bot runs against the fake Bot API with feeds on loopback and SQLite in tmp_path;
admins talk to it through messages queued on the fake.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.config.validate import parse_config
from bot.store import Store
from bot.telegram.commands import COMMANDS, HELP
from tests.fakes.feed_server import Entry, FeedServer, rss
from tests.fakes.telegram_api import TEST_TOKEN, FakeTelegramAPI
from tests.faults import running
from tests.helpers import (
    ADMIN,
    GROUP,
    STRANGER,
    ask,
    config_text,
    eventually,
    fast_options,
    make_config,
)

NEWS = "Weather in Paris"


def two_feeds(feed_server: FeedServer, api_url: str) -> str:
    """Two sources, "a" (/a) and "b" (/b), polled every second; the rules.toml text."""
    for path in ("/a", "/b"):
        feed_server.route(path, body=rss([Entry(NEWS, link=f"https://n.example{path}")]))
    return config_text(api_url, {"a": feed_server.url("/a"), "b": feed_server.url("/b")})


async def more_polls(feed_server: FeedServer, path: str, count: int) -> None:
    """Wait until `path` was fetched `count` more times (the other source is the clock)."""
    seen = feed_server.polls(path)
    await eventually(lambda: feed_server.polls(path) >= seen + count, what=f"{count} of {path}")


# ── 29 ──


async def test_recent_clamps_and_an_unknown_command_gets_an_answer(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """`/recent 100` shows the last 30 and says so; `/bogus` from an admin gets "unknown
    command"; from a stranger, or addressed to another bot, nothing."""
    feed_server.route("/feed", body=rss([Entry(NEWS, link="https://n.example/w")]))
    config = make_config(telegram_api.url, {"news": feed_server.url("/feed")})
    async with running(config, tmp_path / "v.db", TEST_TOKEN, fast_options()) as bot:
        await eventually(lambda: feed_server.polls("/feed") >= 1, what="the first poll")
        recent = await ask(telegram_api, "/recent 100")
        telegram_api.push_message(STRANGER, STRANGER, "/bogus")
        telegram_api.push_message(ADMIN, GROUP, "/bogus@some_other_bot", chat_type="supergroup")
        bogus = await ask(telegram_api, "/bogus now")
        in_group = await ask(telegram_api, "/bogus@vedette_test_bot", GROUP, "supergroup")
        assert await bot.stop() == 0
    assert recent.splitlines()[0] == "showing the last 30 (at most 30)"
    assert bogus == "unknown command /bogus, see /help"
    assert in_group == "unknown command /bogus, see /help"
    assert telegram_api.messages_to(STRANGER) == []
    assert len(telegram_api.messages_to(GROUP)) == 1
    assert telegram_api.violations == []


def test_help_and_the_menu_list_the_new_commands() -> None:
    """/help (and the menu, built from the same list) names /sources /pause /resume /retry."""
    names = [name for name, _ in COMMANDS]
    for name in ("sources", "pause", "resume", "retry"):
        assert name in names
        assert f"/{name} — " in HELP


# ── 46: /pause, /resume, /sources ──


async def test_pause_stops_polling_across_restarts_and_resume_restarts_it(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """/pause a: "a" is not polled while "b" is, also after a restart; /sources and /status
    show it; /resume a: polled again. Unknown ids are answered with the list of sources."""
    config = parse_config(two_feeds(feed_server, telegram_api.url), "test.toml")
    db = tmp_path / "v.db"
    async with running(config, db, TEST_TOKEN, fast_options()) as bot:
        await eventually(lambda: feed_server.polls("/a") >= 1, what="the first poll of a")
        unknown = await ask(telegram_api, "/pause nope")
        usage = await ask(telegram_api, "/pause")
        paused = await ask(telegram_api, "/pause a")
        again = await ask(telegram_api, "/pause a")
        after_pause = feed_server.polls("/a")
        await more_polls(feed_server, "/b", 4)
        assert feed_server.polls("/a") <= after_pause + 1  # a poll in flight may finish
        assert await bot.stop() == 0

    async with running(config, db, TEST_TOKEN, fast_options()) as bot:
        before = feed_server.polls("/a")
        await more_polls(feed_server, "/b", 4)
        assert feed_server.polls("/a") == before
        listing = await ask(telegram_api, "/sources")
        status = await ask(telegram_api, "/status")
        resumed = await ask(telegram_api, "/resume a")
        await more_polls(feed_server, "/a", 2)
        not_paused = await ask(telegram_api, "/resume a")
        assert await bot.stop() == 0

    assert unknown == 'unknown source "nope"\nsources: a, b'
    assert usage == "Usage: /pause SOURCE, e.g. /pause a\nsources: a, b"
    assert paused.startswith("paused a: it is not polled until /resume a")
    assert again.startswith("a is paused already")
    assert "⏸ paused since " in listing
    assert "paused: a since " in status
    assert resumed.startswith("resumed a: ")
    assert not_paused == "a was not paused"
    store = Store.open(db)
    try:
        assert store.paused_sources() == {}
    finally:
        store.close()
    assert telegram_api.violations == []


async def test_sources_lists_sources_rules_and_health_in_several_messages(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """/sources: every source (id, kind, interval, URL, health) and every rule with its
    channel; a long list comes in as many messages as needed, each within Telegram's limit."""
    feeds = {f"feed-{n:03d}": feed_server.url(f"/f{n}") for n in range(60)}
    for n in range(60):
        feed_server.route(f"/f{n}", body=rss([Entry(NEWS, link=f"https://n.example/{n}")]))
    config = make_config(telegram_api.url, feeds, every="1h")
    async with running(config, tmp_path / "v.db", TEST_TOKEN, fast_options()) as bot:
        await eventually(lambda: feed_server.polls("/f59") >= 1, timeout=30, what="every feed")
        before = len(telegram_api.messages_to(ADMIN))
        telegram_api.push_message(ADMIN, ADMIN, "/sources")
        await eventually(
            lambda: any(
                "channel" in m.visible_text.splitlines()[-2]
                for m in telegram_api.messages_to(ADMIN)[before:]
                if len(m.visible_text.splitlines()) > 1
            ),
            what="the last message of /sources",
        )
        assert await bot.stop() == 0
    replies = [m.visible_text for m in telegram_api.messages_to(ADMIN)[before:]]
    assert len(replies) >= 2
    assert all(len(text) <= 4096 for text in replies)
    text = "\n".join(replies)
    assert text.startswith("60 sources:\n")
    for n in range(60):
        assert f"feed-{n:03d} (rss, every 1h): {feed_server.url(f'/f{n}')}" in text
    assert "✓ ok " in text
    assert "1 rule:\nwatch → main (-1001234567890): keywords on every news source: " in text
    assert telegram_api.violations == []


# ── 39: vedette sources ──


def test_sources_command_lists_the_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`vedette sources`: sources with kind, interval and URL or airports/callsigns, rules
    with kind and channel; exit 0; no database: health is not shown (and none is created)."""
    rules = tmp_path / "rules.toml"
    rules.write_text(
        "[channels.main]\nchat_id = -1001234567890\n\n"
        '[[sources]]\nid = "pravda"\nkind = "rss"\nurl = "https://example.org/rss.xml"\n'
        'every = "5m"\n\n'
        '[[sources]]\nid = "sky"\nkind = "opensky"\nairports = ["HLLB", "UMMS"]\nevery = "1h"\n\n'
        '[[sources]]\nid = "live"\nkind = "adsb"\napi_url = "https://api.adsb.lol"\n'
        'callsigns = ["BRU8801"]\nevery = "2m"\n\n'
        '[[rules]]\nid = "libya"\nkind = "keywords"\nquery = "haftar"\nchannel = "main"\n\n'
        '[[rules]]\nid = "ben-msq"\nkind = "route"\nfrom = "BEN"\nto = "MSQ"\nwindow = "30d"\n'
        'at_least = 3\nchannel = "main"\n',
        encoding="utf-8",
    )
    db = tmp_path / "none.db"
    assert main(["sources", "--config", str(rules), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:4] == [
        "3 sources:",
        "pravda (rss, every 5m): https://example.org/rss.xml",
        "sky (opensky, every 1h): airports HLLB, UMMS (https://opensky-network.org/api)",
        "live (adsb, every 2m): callsigns BRU8801 (https://api.adsb.lol)",
    ]
    assert "2 rules:" in out
    assert "libya → main (-1001234567890): keywords on every news source: haftar" in out
    assert "ben-msq → main (-1001234567890): route BEN→MSQ, at least 3 in 30d" in out
    assert f"(no database at {db}: health not shown)" in out
    assert not db.exists()


def test_sources_command_shows_health_and_pauses_from_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a database: each source's health and pause; the database is not written."""
    rules = tmp_path / "rules.toml"
    rules.write_text(config_text("http://127.0.0.1:9", {"a": "http://127.0.0.1:9/a"}))
    db = tmp_path / "v.db"
    store = Store.open(db)
    now = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    store.record_failure("a", "rss", now, "HTTP 503 from http://127.0.0.1:9/a")
    store.pause_source("a", ADMIN, now)
    store.close()
    before = db.stat().st_mtime_ns
    assert main(["sources", "--config", str(rules), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "   ⏸ paused since 2026-12-06 09:00 UTC (/resume a)" in out
    assert "   ✗ 1 failure in a row (last " in out
    assert "HTTP 503 from http://127.0.0.1:9/a" in out
    assert db.stat().st_mtime_ns == before


def test_sources_command_with_a_bad_configuration_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken rules.toml: its problems on stderr, exit 2."""
    rules = tmp_path / "rules.toml"
    rules.write_text("[[sources]]\nid = 1\n", encoding="utf-8")
    assert main(["sources", "--config", str(rules)]) == 2
    assert "rules.toml:" in capsys.readouterr().err
