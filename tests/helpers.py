"""Helpers for end-to-end tests: configurations for loopback servers, waiting, running."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from telegram.ext import Application

from bot.config.types import Config
from bot.config.validate import parse_config
from bot.dispatcher import Limits
from bot.runner import Runner, RunOptions, run
from bot.telegram.commands import TelegramTimeouts
from tests.fakes.telegram_api import TEST_CHAT_ID
from watchers.http import FetchLimits

ADMIN = 4242


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
