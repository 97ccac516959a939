"""`vedette run`: wires the watchers, the store, the dispatcher and the Telegram commands.

One asyncio task per source (its own interval, jitter, backoff), one dispatcher task, a
heartbeat, and python-telegram-bot's polling for commands, all stopped cleanly when `stop`
is set (SIGTERM/SIGINT in the CLI). With `once`, every source is polled once, what is due
is delivered, and the run ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application

from bot import __version__
from bot.commands import TelegramTimeouts, build_application, register_commands
from bot.config import Config, RssSource
from bot.dispatcher import Dispatcher, Limits, stop_dispatcher
from bot.news import NewsPoller
from bot.redact import redact
from bot.sinks import ConsoleSink, Sink
from bot.store import Store, StoreError
from bot.telegram_sink import TelegramSink
from bot.timeutil import Clock, iso, utcnow
from watchers.http import FetchLimits, make_client
from watchers.schedule import first_delay, next_delay

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """How to run, plus the seams tests inject (transport, clock, timeouts, limits)."""

    once: bool = False
    dry_run: bool = False
    clock: Clock = utcnow
    feed_transport: httpx.AsyncBaseTransport | None = None
    fetch_limits: FetchLimits = field(default_factory=FetchLimits)
    telegram_timeouts: TelegramTimeouts = field(default_factory=TelegramTimeouts)
    dispatch_limits: Limits = field(default_factory=Limits)
    heartbeat_every: float = 30.0
    stop_grace: float = 5.0
    console: Sink | None = None
    rng: random.Random = field(default_factory=random.Random)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` unless `stop` is set first; True when stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))
    return stop.is_set()


class Runner:
    """One run of the bot over one database."""

    def __init__(
        self, config: Config, store: Store, token: str | None, options: RunOptions
    ) -> None:
        self.config = config
        self.store = store
        self.token = token
        self.options = options
        self.clock = options.clock
        self.fatal: str | None = None
        self.app: Application | None = None  # type: ignore[type-arg]
        self.sink: Sink
        if token and not options.dry_run:
            self.app = build_application(
                token,
                config.telegram.api_url,
                config.telegram.admins,
                store,
                clock=self.clock,
                configured_sources=[s.id for s in config.sources],
                timeouts=options.telegram_timeouts,
            )
            self.sink = TelegramSink(self.app.bot, secret=token)
        else:
            self.sink = options.console or ConsoleSink()
        self.dispatcher = Dispatcher(
            store, self.sink, clock=self.clock, limits=options.dispatch_limits, rng=options.rng
        )

    async def run(self, stop: asyncio.Event) -> int:
        """Run until `stop` is set (or once); returns the exit code."""
        recovered = self.store.recover_inflight()
        if recovered:
            log.info("%d alerts were mid-send at the last stop; sending them again", recovered)
        self.store.set_meta({"started_at": iso(self.clock()), "version": __version__})
        self._heartbeat()
        if self.app is None:
            why = "--dry-run" if self.options.dry_run else "no TELEGRAM_BOT_TOKEN is set"
            log.warning("console sink: %s, alerts are printed to stdout", why)
        async with make_client(
            self.options.fetch_limits, transport=self.options.feed_transport
        ) as client:
            poller = NewsPoller(
                self.store,
                client,
                self.config.rules,
                self.config.channels,
                clock=self.clock,
                limits=self.options.fetch_limits,
            )
            try:
                if self.options.once:
                    await self._once(poller)
                else:
                    await self._forever(poller, stop)
            finally:
                self.store.set_meta({"stopped_at": iso(self.clock())})
        if self.fatal:
            log.error("%s", self.fatal)
            return 1
        return 0

    def _heartbeat(self) -> None:
        self.store.set_meta({"heartbeat_at": iso(self.clock())})

    async def _once(self, poller: NewsPoller) -> None:
        results = await asyncio.gather(
            *(poller.poll(source) for source in self.config.sources), return_exceptions=True
        )
        for source, result in zip(self.config.sources, results, strict=True):
            if isinstance(result, Exception):
                log.error("source %s: unexpected error: %r", source.id, result)
        if self.app is not None:
            await self._initialize_bot()
        try:
            if self.fatal is None:
                left = await self.dispatcher.drain()
                if left:
                    log.warning("%d alerts stay pending for the next run", left)
        finally:
            if self.app is not None:
                await self.app.bot.shutdown()

    async def _forever(self, poller: NewsPoller, stop: asyncio.Event) -> None:
        halt = asyncio.Event()

        async def watch_stop() -> None:
            await stop.wait()
            halt.set()

        tasks: list[asyncio.Task[None]] = [asyncio.create_task(watch_stop())]
        tasks += [
            asyncio.create_task(self._source_loop(poller, source, halt), name=f"source {source.id}")
            for source in self.config.sources
        ]
        tasks.append(asyncio.create_task(self._heartbeat_loop(halt)))
        sending = asyncio.create_task(self.dispatcher.run(halt), name="dispatcher")
        sender_stopped = asyncio.Event()
        commands = asyncio.create_task(self._commands(halt, sender_stopped), name="telegram")
        await halt.wait()
        log.info("stopping")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await stop_dispatcher(sending, self.options.stop_grace)
        sender_stopped.set()
        await commands

    async def _source_loop(
        self, poller: NewsPoller, source: RssSource, halt: asyncio.Event
    ) -> None:
        delay = first_delay(source.every, self.options.rng)
        failures = 0
        while not await _sleep_or_stop(halt, delay):
            retry_after = None
            try:
                outcome = await poller.poll(source)
                failures, retry_after = outcome.failures, outcome.retry_after
                if outcome.alerts:
                    self.dispatcher.wake()
            except StoreError as exc:
                failures += 1
                log.error("source %s: database: %s", source.id, exc)
            except Exception:  # a bug must not silently end this source's polling
                failures += 1
                log.exception("source %s: unexpected error", source.id)
            delay = next_delay(
                source.every, failures, retry_after=retry_after, rng=self.options.rng
            )

    async def _heartbeat_loop(self, halt: asyncio.Event) -> None:
        while not await _sleep_or_stop(halt, self.options.heartbeat_every):
            try:
                self._heartbeat()
            except StoreError as exc:
                log.error("heartbeat: %s", exc)

    async def _initialize_bot(self) -> bool:
        """getMe once; False on a network failure. A rejected token is fatal."""
        assert self.app is not None  # noqa: S101
        try:
            await self.app.initialize()
        except InvalidToken:
            self.fatal = "Telegram rejected the bot token: check TELEGRAM_BOT_TOKEN"
            return False
        except TelegramError as exc:
            log.warning("telegram: cannot reach the Bot API yet: %s", redact(str(exc)))
            return False
        return True

    async def _commands(self, halt: asyncio.Event, sender_stopped: asyncio.Event) -> None:
        """Answer admin commands until `halt`; retries getMe while Telegram is down.

        The bot's HTTP client is shared with the dispatcher, so it is shut down only after
        `sender_stopped`: closing it under an in-flight send would turn a delivered message
        into a failed one (and a duplicate at the next start).
        """
        if self.app is None:
            return
        app = self.app
        delay = 2.0
        while not await self._initialize_bot():
            if self.fatal:
                halt.set()
            if self.fatal or await _sleep_or_stop(halt, delay):
                await sender_stopped.wait()
                await app.bot.shutdown()
                return
            delay = min(delay * 2, 300.0)
        try:
            await _quietly(register_commands(app), "setMyCommands")
            assert app.updater is not None  # noqa: S101
            await app.updater.start_polling(
                poll_interval=0.0,
                timeout=int(self.options.telegram_timeouts.poll),
                allowed_updates=["message"],
                drop_pending_updates=True,
            )
            await app.start()
            await halt.wait()
        finally:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await sender_stopped.wait()
            await app.shutdown()


async def _quietly(call: Awaitable[object], what: str) -> None:
    try:
        await call
    except TelegramError as exc:
        log.warning("telegram: %s failed: %s", what, redact(str(exc)))


async def run(
    config: Config,
    db_path: str,
    token: str | None,
    options: RunOptions,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Runner], None] | None = None,
) -> int:
    """Open the store and run; returns the exit code."""
    store = Store.open(db_path)
    try:
        runner = Runner(config, store, token, options)
        if on_ready is not None:
            on_ready(runner)
        return await runner.run(stop or asyncio.Event())
    finally:
        store.close()
