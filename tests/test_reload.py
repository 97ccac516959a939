"""Reloading rules.toml while running: SIGHUP and Runner.reload."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from bot.config.validate import load_config
from tests.fakes.feed_server import Entry, FeedServer, rss
from tests.fakes.telegram_api import TEST_TOKEN, FakeTelegramAPI
from tests.helpers import ADMIN, config_text, eventually, fast_options, start
from tests.process import vedette, wait_for


def write(path: Path, text: str) -> None:
    """Write a configuration file."""
    path.write_text(text, encoding="utf-8")


def sources(
    rules: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI, *names: str, **kw: Any
) -> None:
    """Write `rules` with one source per name, served at /name with one old story."""
    for name in names:
        feed_server.route(f"/{name}", body=rss([Entry("Old", link=f"https://n.example/{name}")]))
    feeds = {name: feed_server.url(f"/{name}") for name in names}
    write(rules, config_text(telegram_api.url, feeds, **kw))


async def test_reload_swaps_in_a_valid_config_and_keeps_the_old_one_when_invalid(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """A valid file takes effect (a new source is polled); an invalid one is refused with why."""
    rules = tmp_path / "rules.toml"
    sources(rules, feed_server, telegram_api, "a")
    bot = start(load_config(rules), tmp_path / "v.db", TEST_TOKEN, fast_options())
    await eventually(lambda: bool(bot.runners) and feed_server.polls("/a") >= 1, what="/a")
    runner = bot.runners[0]

    sources(rules, feed_server, telegram_api, "a", "b")
    assert await runner.reload() == f"reloaded {rules}: 2 sources, 1 rule, 1 channel"
    await eventually(lambda: feed_server.polls("/b") >= 1, what="the new source /b")

    write(rules, "[[rules]]\nid = 'x'\nkind = 'keywords'\n")
    answer = await runner.reload()
    assert answer.startswith(f"kept the old configuration: {rules} has ")
    assert f"{rules}:1: rules.x.query: query is missing" in answer
    seen = feed_server.polls("/b")
    await eventually(lambda: feed_server.polls("/b") > seen, what="/b still polled")
    assert await bot.stop() == 0


def test_sighup_reloads_the_configuration(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """SIGHUP re-reads rules.toml; an invalid file is logged and the bot keeps running."""
    rules = tmp_path / "rules.toml"
    sources(rules, feed_server, telegram_api, "a")
    proc = vedette(tmp_path, "run")
    try:
        wait_for(lambda: feed_server.polls("/a") >= 1, "the first source")
        sources(rules, feed_server, telegram_api, "a", "b")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: feed_server.polls("/b") >= 1, "the source added by the reload")
        write(rules, "this is not toml")
        proc.send_signal(signal.SIGHUP)
        seen = feed_server.polls("/b")
        wait_for(lambda: feed_server.polls("/b") > seen + 1, "polling after a bad reload")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "reloaded rules.toml: 2 sources, 1 rule, 1 channel" in err
    assert (
        "reload: keeping the old configuration, rules.toml has 1 problem: rules.toml:1: toml:"
        in err
    )


async def test_reload_command_applies_new_admins_and_reports_bad_files(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """/reload from an admin swaps the config (a new admin is answered) or says why not."""
    rules = tmp_path / "rules.toml"
    sources(rules, feed_server, telegram_api, "a")
    bot = start(load_config(rules), tmp_path / "v.db", TEST_TOKEN, fast_options())
    await eventually(lambda: bool(telegram_api.calls_to("getUpdates")), what="command polling")
    telegram_api.push_message(777, 777, "/status")
    sources(rules, feed_server, telegram_api, "a", admins=(ADMIN, 777))
    telegram_api.push_message(ADMIN, ADMIN, "/reload")
    await eventually(lambda: bool(telegram_api.messages_to(ADMIN)), what="the reload reply")
    assert telegram_api.messages_to(777) == []
    telegram_api.push_message(777, 777, "/status")
    await eventually(lambda: bool(telegram_api.messages_to(777)), what="the new admin's reply")
    write(rules, "[telegram]\nadmins = 'everyone'\n")
    telegram_api.push_message(ADMIN, ADMIN, "/reload")
    await eventually(lambda: len(telegram_api.messages_to(ADMIN)) == 2, what="the refusal")
    assert await bot.stop() == 0
    first, second = (m.visible_text for m in telegram_api.messages_to(ADMIN))
    assert first == f"reloaded {rules}: 1 source, 1 rule, 1 channel"
    assert second.startswith(f"kept the old configuration: {rules} has 1 problem:")
    assert "telegram.admins: must be a list of user ids" in second
    assert telegram_api.violations == []
