"""`vedette run`: wires the watchers, the store, the dispatcher and the Telegram commands.

One asyncio task per source (its own interval, jitter, backoff), one dispatcher task, a
heartbeat, and the Telegram application (`bot.telegram.app`: its start, polling for
commands and stop), all stopped cleanly when `stop` is set (SIGTERM/SIGINT in the CLI). With
`once`, every source is polled once, what is due is delivered, and the run ends. Without a
token, or with `dry_run`, alerts go to the console sink (`bot.sinks`) and nothing talks to
Telegram. The runner imports nothing from python-telegram-bot itself.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial

import httpx

from bot import __version__
from bot.aircraft import read_database
from bot.config.types import Config, ConfigError
from bot.config.validate import load_config
from bot.dispatcher import Dispatcher, Limits, stop_dispatcher
from bot.flights.pollers import AdsbPoller, OpenSkyPoller, RouteEvaluator
from bot.news import NewsPoller, grouping_for
from bot.polling import observe, scheduler_for
from bot.sinks import ConsoleSink, Sink
from bot.stopping import sleep_or_stop, unless_stopped
from bot.store import Store
from bot.store.base import DatabaseLock, StoreError
from bot.store.records import PollOutcome
from bot.store.sources import PAUSED_RECHECK
from bot.telegram.app import TelegramApp, use_timedeltas
from bot.telegram.commands import Commands, TelegramTimeouts
from bot.timeutil import ago, iso
from bot.words import plural
from watchers.adaptive import Scheduler
from watchers.clock import Clock, utcnow
from watchers.http import FetchLimits, make_client
from watchers.opensky_auth import OpenSkyCredentials
from watchers.pacing import Pacing
from watchers.rss import HOST_GAP, FeedReader
from watchers.schedule import first_delay, next_delay

log = logging.getLogger(__name__)

# Exit codes of `vedette run` (2, a bad configuration, is the CLI's). With `--once`, 4 wins
# over 3 when both apply.
EXIT_OK, EXIT_FATAL, EXIT_SOURCE_FAILED, EXIT_PENDING = 0, 1, 3, 4


@dataclass(frozen=True)
class RunOptions:
    """How to run, plus the seams tests inject (transport, clock, timeouts, limits, the gap
    between two requests to one feed host)."""

    once: bool = False
    dry_run: bool = False
    clock: Clock = utcnow
    feed_transport: httpx.AsyncBaseTransport | None = None
    fetch_limits: FetchLimits = field(default_factory=FetchLimits)
    telegram_timeouts: TelegramTimeouts = field(default_factory=TelegramTimeouts)
    dispatch_limits: Limits = field(default_factory=Limits)
    heartbeat_every: float = 30.0
    route_every: float = 900.0
    stop_grace: float = 5.0
    host_gap: float = HOST_GAP
    console: Sink | None = None
    rng: random.Random = field(default_factory=random.Random)


@dataclass(frozen=True)
class Fetching:
    """What the polls of one run share, made by `Runner.run` and closed with it: the HTTP
    client, the feed reader (its limit on polls in flight and its parser thread), and the
    ADS-B providers' request slots."""

    client: httpx.AsyncClient
    feeds: FeedReader
    adsb_pacing: Pacing


@dataclass(frozen=True)
class Job:
    """One source's polling: its id and kind, its configured interval, its poll, and whether
    it brings flights (else it is a feed, scheduled by `Runner.scheduler`)."""

    id: str
    kind: str
    every: float
    poll: Callable[[], Awaitable[PollOutcome]]
    flights: bool = False


class Runner:
    """One run of the bot over one database."""

    def __init__(
        self,
        config: Config,
        store: Store,
        token: str | None,
        options: RunOptions,
        opensky: OpenSkyCredentials | None = None,
    ) -> None:
        self.config = config
        self.opensky = opensky
        self.store = store
        self.options = options
        self.clock = options.clock
        # Read once, at start; filled into stored flights recorded before it was there.
        self.aircraft = read_database(config.aircraft.database)
        if len(self.aircraft):
            filled = store.fill_aircraft(self.aircraft.get)
            if filled:
                log.info("aircraft database: filled %s", plural(filled, "stored flight"))
        self._reloaded = asyncio.Event()
        self._background: set[asyncio.Future[str]] = set()
        self.telegram: TelegramApp | None = None
        self.sink: Sink
        if token and not options.dry_run:
            use_timedeltas()  # once, before any python-telegram-bot object is built
            commands = Commands(
                store,
                self.clock,
                secret=token,
                config=lambda: self.config,  # in force at each command: follows reloads
                reload=self.reload,
                wake=lambda: self.dispatcher.wake(),
            )
            self.telegram = TelegramApp(
                token, config.telegram.api_url, commands, options.telegram_timeouts
            )
            self.sink = self.telegram.sink
        else:
            self.sink = options.console or ConsoleSink()
        limits = options.dispatch_limits
        if self.telegram is None:  # the console is not Telegram: no flood limits for stdout
            limits = replace(limits, per_chat=10**9, per_chat_gap=0.0, overall_per_second=10**9)
        self.dispatcher = Dispatcher(
            store,
            self.sink,
            clock=self.clock,
            limits=limits,
            rng=options.rng,
            channels=lambda: self.config.channels,  # resolved at send time: follows reloads
            digest_after=lambda: self.config.delivery.digest_after,
        )
        self.routes = RouteEvaluator(
            store,
            config.route_rules,
            config.opensky_sources,
            config.channels,
            clock=self.clock,
        )
        # The feeds' adaptive schedule, read from the store when the run starts polling for
        # good (`_forever`) and at each reload; `--once` needs none.
        self.scheduler = Scheduler([])

    async def run(self, stop: asyncio.Event) -> int:
        """Run until `stop` is set (or once); returns the exit code."""
        recovered = self.store.recover_inflight()
        if recovered:
            log.info(
                "%s mid-send at the last stop; sending them again",
                plural(recovered, "alert was", "alerts were"),
            )
        storage = self.config.storage
        self.store.set_meta(
            {
                "started_at": iso(self.clock()),
                "version": __version__,
                "retention": ago(storage.retention),
                "prune_every": ago(storage.prune_every),
            }
        )
        self._heartbeat()
        if self.telegram is None:
            why = "--dry-run" if self.options.dry_run else "no TELEGRAM_BOT_TOKEN is set"
            log.warning("console sink: %s, alerts are printed to stdout", why)
        log.info("%s", self.summary())
        code = EXIT_OK
        async with make_client(
            self.options.fetch_limits, transport=self.options.feed_transport
        ) as client:
            feeds = FeedReader(client, host_gap=self.options.host_gap)
            fetching = Fetching(client, feeds, Pacing())
            try:
                if self.options.once:
                    code = await self._once(self._jobs(fetching), stop)
                else:
                    await self._forever(fetching, stop)
            finally:
                fetching.feeds.close()
                self.store.set_meta({"stopped_at": iso(self.clock())})
        if self.fatal:
            log.error("%s", self.fatal)
            return EXIT_FATAL
        return code

    @property
    def fatal(self) -> str | None:
        """Why the run must end with EXIT_FATAL (Telegram rejected the token), or None."""
        return self.telegram.fatal if self.telegram is not None else None

    def summary(self) -> str:
        """The start-up line: what is watched, and when the first alerts can come."""
        config = self.config
        news, flights = len(config.news_sources), len(config.sources) - len(config.news_sources)
        line = (
            f"{plural(len(config.sources), 'source')} ({news} news, {flights} flight), "
            f"{plural(len(config.rules), 'rule')}, {plural(len(config.channels), 'channel')}"
        )
        line = f"polling {line} once" if self.options.once else f"watching {line}"
        silent = [
            source.id
            for source in config.news_sources
            if not source.alert_existing and not self.store.source_state(source.id).seeded
        ]
        if silent:
            line += (
                f"; the first poll of {plural(len(silent), 'new source')} records what is "
                "there without alerting (alert_existing = true alerts on it)"
            )
        if self.options.once:
            return line
        if config.sources:
            fastest = min(source.every for source in config.sources)
            slowest = max(source.every for source in config.sources)
            span = ago(fastest) if fastest == slowest else f"{ago(fastest)}-{ago(slowest)}"
            line += f"; first polls within 10s, then every {span}"
            if any(source.adaptive for source in config.news_sources):
                line += " (feeds: on average, adaptive)"
        return line

    def _jobs(self, fetching: Fetching) -> list[Job]:
        config, store, clock, client = self.config, self.store, self.clock, fetching.client
        news = NewsPoller(
            store,
            fetching.feeds,
            config.keyword_rules,
            config.channels,
            clock=clock,
            limits=self.options.fetch_limits,
            grouping=grouping_for(config),
        )
        jobs = [Job(s.id, s.kind, s.every, partial(news.poll, s)) for s in config.news_sources]
        for sky in config.opensky_sources:
            poller = OpenSkyPoller(
                store, client, sky, credentials=self.opensky, clock=clock, aircraft=self.aircraft
            )
            jobs.append(Job(sky.id, sky.kind, sky.every, poller.poll, flights=True))
        for adsb in config.adsb_sources:
            live = AdsbPoller(
                store,
                client,
                adsb,
                clock=clock,
                pacing=fetching.adsb_pacing,
                aircraft=self.aircraft,
            )
            jobs.append(Job(adsb.id, adsb.kind, adsb.every, live.poll, flights=True))
        return jobs

    def _evaluate_routes(self) -> None:
        try:
            if self.routes.evaluate():
                self.dispatcher.wake()
        except StoreError as exc:
            log.error("route rules: database: %s", exc)

    def _heartbeat(self) -> None:
        self.store.set_meta({"heartbeat_at": iso(self.clock())})

    async def _once(self, jobs: list[Job], stop: asyncio.Event) -> int:
        """Poll every source once and deliver what is due; SIGTERM/SIGINT (`stop`) cancels
        the polls and the sending at once: what was recorded stays, what is unsent stays
        pending. Returns EXIT_PENDING, EXIT_SOURCE_FAILED or EXIT_OK."""
        jobs = [job for job in jobs if not self.store.is_paused(job.id)]  # /pause
        polls = asyncio.gather(*(job.poll() for job in jobs), return_exceptions=True)
        results = await unless_stopped(polls, stop)
        if results is None:
            log.info("stopping before every source was polled")
            return EXIT_OK
        failed = []
        for job, result in zip(jobs, results, strict=True):
            if isinstance(result, BaseException):
                log.error("source %s: unexpected error: %r", job.id, result)
                failed.append(job.id)
            elif result.error is not None:
                failed.append(job.id)
        self._evaluate_routes()
        left, telegram = 0, self.telegram
        try:
            if telegram is not None:
                await unless_stopped(telegram.connect(self.config.channels), stop)
            if self.fatal is None and not stop.is_set():
                drained = await unless_stopped(self.dispatcher.drain(), stop)
                left = self.store.outbox_counts().pending if drained is None else drained
        finally:
            if telegram is not None:
                await telegram.close()
        if stop.is_set():
            log.info("stopping")
            return EXIT_OK
        if left:
            log.warning("%s pending for the next run", plural(left, "alert stays", "alerts stay"))
        if failed:
            log.warning(
                "%s of %s failed: %s",
                len(failed),
                plural(len(jobs), "source"),
                ", ".join(failed),
            )
        if self.options.dry_run:
            # A preview: what it found is what it printed; its exit status says only that
            # vedette itself works (configuration, database), e.g. in an offline image test.
            return EXIT_OK
        return EXIT_PENDING if left else EXIT_SOURCE_FAILED if failed else EXIT_OK

    async def _forever(self, fetching: Fetching, stop: asyncio.Event) -> None:
        self.scheduler = scheduler_for(self.config.news_sources, self.store, self.clock())
        halt = asyncio.Event()

        async def watch_stop() -> None:
            await stop.wait()
            halt.set()

        tasks: list[asyncio.Task[None]] = [asyncio.create_task(watch_stop())]
        tasks.append(asyncio.create_task(self._heartbeat_loop(halt)))
        tasks.append(asyncio.create_task(self._prune_loop(halt)))
        sending = asyncio.create_task(self.dispatcher.run(halt), name="dispatcher")
        sender_stopped = asyncio.Event()
        commands = asyncio.create_task(self._commands(halt, sender_stopped), name="telegram")
        while not halt.is_set():
            await self._watch(fetching, halt)
        log.info("stopping")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await stop_dispatcher(sending, self.options.stop_grace)
        sender_stopped.set()
        await commands

    async def _watch(self, fetching: Fetching, halt: asyncio.Event) -> None:
        """Poll the current configuration's sources until `halt` or a reload."""
        self._reloaded.clear()
        jobs = [
            asyncio.create_task(self._source_loop(job, halt), name=f"source {job.id}")
            for job in self._jobs(fetching)
        ]
        if self.config.route_rules:
            jobs.append(asyncio.create_task(self._route_loop(halt)))
        waiters = [asyncio.ensure_future(halt.wait()), asyncio.ensure_future(self._reloaded.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [*waiters, *jobs]:
                task.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)

    async def reload(self) -> str:
        """Re-read the configuration file: use it if valid, else keep the old one and say why."""
        path = self.config.path
        try:
            config = await asyncio.to_thread(load_config, path)
        except ConfigError as exc:
            problems = [str(problem) for problem in exc.problems]
            log.error(
                "reload: keeping the old configuration, %s has %s: %s",
                path,
                plural(len(problems), "problem"),
                "; ".join(problems),
            )
            shown = "\n".join(problems[:10])
            more = f"\n… and {len(problems) - 10} more" if len(problems) > 10 else ""
            return (
                f"kept the old configuration: {path} has {plural(len(problems), 'problem')}:"
                f"\n{shown}{more}"
            )
        if config.telegram.api_url != self.config.telegram.api_url:
            log.warning("reload: telegram.api_url changes take effect after a restart")
        if config.aircraft != self.config.aircraft:
            log.warning("reload: aircraft.database changes take effect after a restart")
        self.config = config
        self.scheduler = scheduler_for(config.news_sources, self.store, self.clock())
        self.routes = RouteEvaluator(
            self.store,
            config.route_rules,
            config.opensky_sources,
            config.channels,
            clock=self.clock,
        )
        self._reloaded.set()
        self.dispatcher.wake()  # rows waiting for a channel the new file names again
        summary = (
            f"reloaded {path}: {plural(len(config.sources), 'source')}, "
            f"{plural(len(config.rules), 'rule')}, {plural(len(config.channels), 'channel')}"
        )
        log.info("%s", summary)
        return summary

    def request_reload(self) -> None:
        """Reload in the background (for SIGHUP); the outcome is logged."""
        task = asyncio.ensure_future(self.reload())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _source_loop(self, job: Job, halt: asyncio.Event) -> None:
        delay = first_delay(job.every, self.options.rng)
        failures = 0
        while not await sleep_or_stop(halt, delay):
            if self.store.is_paused(job.id):  # /pause SOURCE; looked at again soon
                delay = min(job.every, PAUSED_RECHECK)
                continue
            retry_after = None
            outcome: PollOutcome | None = None
            try:
                outcome = await job.poll()
                failures, retry_after = outcome.failures, outcome.retry_after
                if outcome.alerts:
                    self.dispatcher.wake()
                if job.flights:
                    self._evaluate_routes()
            except StoreError as exc:
                failures += 1
                log.error("source %s: database: %s", job.id, exc)
            except Exception:  # a bug must not silently end this source's polling
                failures += 1
                log.exception("source %s: unexpected error", job.id)
            every = job.every if failures else self._interval(job, outcome)
            delay = next_delay(every, failures, retry_after=retry_after, rng=self.options.rng)

    def _interval(self, job: Job, outcome: PollOutcome | None) -> float:
        """The interval after a successful poll: the configured one for a flight source, the
        adaptive scheduler's for a feed; recorded for `/status` with the feed's rate."""
        rate, adaptive, every = None, False, job.every
        if not job.flights:
            now, scheduler = self.clock(), self.scheduler
            try:
                if outcome is not None:
                    observe(scheduler, self.store, (job.id, job.kind), now, outcome)
                if job.id in scheduler.sources:
                    every = scheduler.interval(job.id, now.timestamp())
                    rate = scheduler.rate(job.id, now.timestamp())
                    adaptive = scheduler.sources[job.id].adaptive
            except Exception:  # a bug in the schedule must not end the source's polling
                every = job.every
                log.exception(
                    "source %s: adaptive schedule failed, next poll in %s", job.id, ago(every)
                )
        try:
            self.store.record_schedule(
                job.id, job.kind, interval=every, rate=rate, adaptive=adaptive
            )
        except StoreError as exc:
            log.error("source %s: database: %s", job.id, exc)
        return every

    async def _route_loop(self, halt: asyncio.Event) -> None:
        """Windows slide with time: evaluate route rules at start and then regularly."""
        self._evaluate_routes()
        while not await sleep_or_stop(halt, self.options.route_every):
            self._evaluate_routes()

    async def _prune_loop(self, halt: asyncio.Event) -> None:
        """Prune old history a minute after start, then every `prune_every`."""
        delay = min(60.0, self.config.storage.prune_every)
        while not await sleep_or_stop(halt, delay):
            self.prune()
            delay = self.config.storage.prune_every

    def prune(self) -> None:
        """One pruning pass; its outcome is logged and kept for `/status`."""
        storage, now = self.config.storage, self.clock()
        history = max((rule.history_days for rule in self.config.route_rules), default=0)
        try:
            report = self.store.prune(
                now, timedelta(seconds=storage.retention), timedelta(days=history)
            )
            self.store.checkpoint()
            self.store.set_meta({"pruned_at": iso(now), "pruned": report.describe()})
        except (StoreError, sqlite3.Error) as exc:
            log.error("pruning: database: %s", exc)
            return
        log.info("pruned %s", report.describe())

    async def _heartbeat_loop(self, halt: asyncio.Event) -> None:
        while not await sleep_or_stop(halt, self.options.heartbeat_every):
            try:
                self._heartbeat()
            except StoreError as exc:
                log.error("heartbeat: %s", exc)

    async def _commands(self, halt: asyncio.Event, sender_stopped: asyncio.Event) -> None:
        """The Telegram application's life until `halt` (`TelegramApp.serve`), if any."""
        if self.telegram is not None:
            await self.telegram.serve(halt, sender_stopped, lambda: self.config.channels)


async def run(
    config: Config,
    db_path: str,
    token: str | None,
    options: RunOptions,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Runner], None] | None = None,
    opensky: OpenSkyCredentials | None = None,
) -> int:
    """Open the store and run; returns the exit code.

    The database is locked for the run (one `vedette run` per database, `DatabaseInUse`
    otherwise). A dry run works on an in-memory copy instead: it takes no lock, and the
    database is never written.
    """
    if options.dry_run:
        store = Store.open_copy(db_path)
        log.info("dry run: working on a copy of %s; nothing is written to it", db_path)
        lock = None
    else:
        lock = DatabaseLock.acquire(db_path) if db_path != ":memory:" else None
        try:
            store = Store.open(db_path)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
    try:
        runner = Runner(config, store, token, options, opensky)
        if on_ready is not None:
            on_ready(runner)
        return await runner.run(stop or asyncio.Event())
    finally:
        store.close()
        if lock is not None:
            lock.release()
