"""Shared test helpers: a settable clock, alert builders, configurations for loopback
servers, waiting for and running the bot."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot
from telegram.ext import Application
from telegram.request import HTTPXRequest

from bot.config.types import Config, RssSource
from bot.config.validate import interval_bounds, parse_config
from bot.dispatcher import Dispatcher, Limits
from bot.runner import Runner, RunOptions, run
from bot.sinks import Sink
from bot.store import Store
from bot.store.records import NewAlert, StoredItem
from bot.telegram.commands import TelegramTimeouts
from tests.fakes.telegram_api import TEST_CHAT_ID, TEST_TOKEN, FakeTelegramAPI
from watchers.http import FetchLimits, Validators

ADMIN = 4242
STRANGER = 666  # a user who is not an admin
GROUP = -100777  # a group the admin talks to the bot in
CLOCK_START = datetime(2026, 6, 5, 8, 0, tzinfo=UTC)


class Clock:
    """A clock that moves only when the test sets `now` or calls `advance`.

    Calling it gives the time, an aware UTC datetime, as production's `Clock` does.
    """

    def __init__(self, now: datetime = CLOCK_START) -> None:
        if now.utcoffset() != timedelta(0):
            raise ValueError(f"Clock needs an aware UTC datetime, got {now!r}")
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock `seconds` forward."""
        self.now += timedelta(seconds=seconds)


def new_alert(
    key: str,
    *rules: str,
    source: str = "src",
    channel: str = "main",
    chat: int | str = -100,
    plain: str | None = None,
    link: str = "",
    dedup_key: str | None = None,
) -> NewAlert:
    """The alert of `rules` (default r1) for item `key` of `source`.

    Its dedup key is `news|<rules joined by +>|<key>` unless given; its text is `key` (bold
    in the HTML) unless `plain` is given.
    """
    rules = rules or ("r1",)
    text = key if plain is None else plain
    return NewAlert(
        dedup_key or f"news|{'+'.join(rules)}|{key}",
        rules,
        source,
        key,
        channel,
        chat,
        f"<b>{key}</b>",
        text,
        link,
    )


def record_alerts(store: Store, now: datetime, *alerts: NewAlert, source: str = "src") -> int:
    """Record a successful poll of `source` with these alerts; the number of outbox rows added."""
    return store.record_success(source, "rss", now, validators=Validators(), alerts=alerts)


def enqueue(
    store: Store, now: datetime, *keys: str, channel: str = "main", chat: int | str = -100
) -> None:
    """Queue one alert of rule r per key (dedup key `k|<key>`, text `key`) for `channel`."""
    record_alerts(
        store,
        now,
        *(new_alert(k, "r", channel=channel, chat=chat, dedup_key=f"k|{k}") for k in keys),
    )


def dispatcher(
    store: Store, sink: Sink, clock: Callable[[], datetime], **limits: Any
) -> Dispatcher:
    """A dispatcher with a seeded rng and the given limits (no gap between messages)."""
    limits.setdefault("per_chat_gap", 0.0)
    return Dispatcher(store, sink, clock=clock, limits=Limits(**limits), rng=random.Random(1))


async def run_sender_until(sender: Dispatcher, done: Callable[[], bool], *, wakes: int) -> None:
    """Run `sender`'s loop, waking it every 10 ms, until `done()` or `wakes` wakes; stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    for _ in range(wakes):
        if done():
            break
        sender.wake()
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 10)


def fail_all(store: Store) -> None:
    """Claim and fail every pending row, as a "chat not found" would."""
    for row in outbox_rows(store, "pending"):
        claimed = store.claim(row["id"])
        assert claimed is not None
        store.mark_failed(claimed.id, "BadRequest: Chat not found")


def config_text(
    api_url: str,
    feeds: Mapping[str, str],
    *,
    query: str = "haftar OR хафтар* OR belavia",
    every: str = "1s",
    admins: Sequence[int] = (ADMIN,),
    chat_id: int | str = TEST_CHAT_ID,
    alert_existing: bool = False,
) -> str:
    """A rules.toml for the given Bot API URL and feeds (id → URL), one keyword rule."""
    sources = "".join(
        f'[[sources]]\nid = "{ident}"\nkind = "rss"\nurl = "{url}"\nevery = "{every}"\n'
        f"alert_existing = {'true' if alert_existing else 'false'}\n\n"
        for ident, url in feeds.items()
    )
    chat = f'"{chat_id}"' if isinstance(chat_id, str) else str(chat_id)
    return (
        f'[telegram]\napi_url = "{api_url}"\nadmins = {list(admins)}\n\n'
        f"[channels.main]\nchat_id = {chat}\n\n{sources}"
        f'[[rules]]\nid = "watch"\nkind = "keywords"\nquery = \'{query}\'\nchannel = "main"\n'
    )


def rss_source(ident: str, url: str, every: float, **fields: Any) -> RssSource:
    """An `RssSource` built as the validator would: `min_every` and `max_every` default as
    in `rules.toml` (`interval_bounds`); any field can be given."""
    shortest, longest = interval_bounds(url, every)
    fields = {"min_every": shortest, "max_every": longest} | fields
    return RssSource(ident, url, every, **fields)


def make_config(*args: object, **kwargs: object) -> Config:
    """`config_text`, parsed."""
    return parse_config(config_text(*args, **kwargs), "test.toml")  # type: ignore[arg-type]


def fast_options(**overrides: object) -> RunOptions:
    """Run options with short timeouts and backoff, so faults resolve in seconds."""
    values: dict[str, object] = {
        "fetch_limits": FetchLimits(
            max_bytes=1024 * 1024, deadline=3.0, connect_timeout=1.0, read_timeout=1.0
        ),
        "telegram_timeouts": TelegramTimeouts(connect=1.0, read=2.0, write=2.0, poll=1.0),
        "dispatch_limits": Limits(
            per_chat=1000, per_chat_gap=0.0, overall_per_second=1000, backoff_base=0.3
        ),
        "heartbeat_every": 0.5,
        "stop_grace": 2.0,
        "rng": random.Random(7),
    }
    values.update(overrides)
    return RunOptions(**values)  # type: ignore[arg-type]


async def eventually(check: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Wait until `check()` holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what or check}")
        await asyncio.sleep(0.05)


async def ask(
    telegram_api: FakeTelegramAPI, text: str, chat: int = ADMIN, chat_type: str = "private"
) -> str:
    """Send `text` as the admin in `chat` and return the bot's reply there."""
    before = len(telegram_api.messages_to(chat))
    telegram_api.push_message(ADMIN, chat, text, chat_type=chat_type)
    await eventually(
        lambda: len(telegram_api.messages_to(chat)) > before, what=f"the reply to {text}"
    )
    return telegram_api.messages_to(chat)[before].visible_text


@dataclass
class Running:
    """A bot running in this process until `stop()`."""

    task: asyncio.Task[int]
    stop_event: asyncio.Event
    runners: list[Runner] = field(default_factory=list)

    async def stop(self) -> int:
        """Stop the bot and return its exit code."""
        self.stop_event.set()
        return await asyncio.wait_for(self.task, 15)

    async def finish(self, timeout: float = 60) -> int:
        """Wait for a `--once` run to end by itself (`stop()` would cut it short)."""
        return await asyncio.wait_for(self.task, timeout)


def start(config: Config, db: Path, token: str | None, options: RunOptions) -> Running:
    """Start `vedette run` in this event loop."""
    stop = asyncio.Event()
    runners: list[Runner] = []
    task = asyncio.create_task(run(config, str(db), token, options, stop, runners.append))
    return Running(task, stop, runners)


@asynccontextmanager
async def serving(app: Application) -> AsyncIterator[None]:  # type: ignore[type-arg]
    """Run a bare Application's polling against the fake (no runner)."""
    await app.initialize()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1, drop_pending_updates=True)
    await app.start()
    try:
        yield
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


def outbox_rows(store: Store, state: str | None = None) -> list[dict[str, Any]]:
    """The outbox rows as dicts, oldest first (all of them, or those in `state`)."""
    where = "state = ?" if state else None
    return list(store.db.table("outbox").rows_where(where, [state] if state else [], order_by="id"))


# Lines a test wants shown at the end of the run (its figures): `pytest_terminal_summary` in
# conftest.py prints them, whatever the verbosity.
REPORT_LINES = pytest.StashKey[list[str]]()


def stored_items(store: Store, since: datetime) -> list[StoredItem]:
    """Every seen item with its stored text, first seen at or after `since`, oldest first."""
    rows = store.stored_rows([rowid for rowid, _ in store.stored_texts(since)])
    return sorted(rows.values(), key=lambda item: item.first_seen_at)


def fake_bot(server: FakeTelegramAPI, *, read_timeout: float = 2.0) -> Bot:
    """A real PTB `Bot` talking to the fake Bot API `server` (not initialised)."""
    request = HTTPXRequest(
        connect_timeout=2.0, read_timeout=read_timeout, write_timeout=2.0, pool_timeout=2.0
    )
    return Bot(TEST_TOKEN, base_url=server.base_url, request=request)
