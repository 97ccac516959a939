"""The Telegram application's wiring: every command registered in one place, and PTB's
process-wide timedelta switch set by the run, not by an import."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from telegram.error import RetryAfter
from telegram.ext import CommandHandler, MessageHandler

from bot.store import Store
from bot.telegram.app import use_timedeltas
from bot.telegram.commands import COMMANDS, Commands, application, register
from tests.fakes.feed_server import Entry, FeedServer, rss
from tests.fakes.telegram_api import TEST_CHAT_ID, TEST_TOKEN, FakeTelegramAPI
from tests.helpers import fast_options, make_config, outbox_rows, start
from watchers.clock import utcnow


def test_register_adds_one_admin_only_handler_per_listed_command(store: Store) -> None:
    """Every command of COMMANDS (and /start) has a handler behind the admin filter, the
    catch-all for unknown commands comes last, and errors have a handler."""
    app = application(TEST_TOKEN, "http://127.0.0.1:9")
    register(app, Commands(store, utcnow, secret=TEST_TOKEN, admins=(1,)))
    handlers = app.handlers[0]
    commands = [h for h in handlers if isinstance(h, CommandHandler)]
    names = {name for handler in commands for name in handler.commands}
    assert names == {name for name, _ in COMMANDS} | {"start"}
    assert all("AdminFilter" in repr(handler.filters) for handler in commands)
    assert isinstance(handlers[-1], MessageHandler)
    assert "AdminFilter" in repr(handlers[-1].filters)
    assert len(app.error_handlers) == 1


def test_use_timedeltas_switches_ptb_to_timedeltas_and_keeps_a_set_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unset, PTB_TIMEDELTA becomes 1 (a RetryAfter then gives a timedelta, without the
    deprecation warning that strict filters turn into an error); a value set is kept."""
    monkeypatch.delenv("PTB_TIMEDELTA", raising=False)
    use_timedeltas()
    assert os.environ["PTB_TIMEDELTA"] == "1"
    assert RetryAfter(3).retry_after == dt.timedelta(seconds=3)
    monkeypatch.setenv("PTB_TIMEDELTA", "false")
    use_timedeltas()
    assert os.environ["PTB_TIMEDELTA"] == "false"


async def test_a_run_switches_timedeltas_on_before_telegram_answers_429(
    tmp_path: Path,
    feed_server: FeedServer,
    telegram_api: FakeTelegramAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With PTB_TIMEDELTA unset (importing the sink no longer sets it), a run with a token
    sets it at start: a 429 is read as flood control and the alert is sent once after it."""
    monkeypatch.delenv("PTB_TIMEDELTA", raising=False)
    feed_server.route("/feed", body=rss([Entry("Haftar in Minsk", link="https://n.example/1")]))
    config = make_config(telegram_api.url, {"news": feed_server.url("/feed")}, alert_existing=True)
    telegram_api.fail_next("sendMessage", "429", retry_after=1)
    db = tmp_path / "v.db"
    assert await start(config, db, TEST_TOKEN, fast_options(once=True)).finish() == 0
    assert os.environ.get("PTB_TIMEDELTA") == "1"
    assert len(telegram_api.messages_to(TEST_CHAT_ID)) == 1
    store = Store.open(db)
    try:
        [row] = outbox_rows(store)
    finally:
        store.close()
    assert row["state"] == "sent"
    assert "Flood control exceeded. Retry in 0:00:01" in (row["last_error"] or "")
