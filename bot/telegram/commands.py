"""Telegram admin commands through python-telegram-bot: `/status`, `/recent`, `/mute`, ….

`Commands` holds what the handlers need (the store, the clock, the configuration in force, the
reload and wake callbacks) and has one handler per command, a bound method; `register` adds
them all to an Application, in one place; `application` builds the bare Application (its
lifecycle is `bot.telegram.app`'s). The replies themselves are `bot.telegram.replies`'s.

Only user ids listed in `[telegram] admins` get an answer, in a private chat or a group;
everyone else is ignored (no reply at all). An empty list means nobody. An admin's command
the bot does not have gets "unknown command …, see /help". Commands read the current
configuration (`config()`) each time, so rules and channels follow a `/reload`.
Replies are plain text (no parse mode), except `/route`'s report (HTML `<pre>` blocks): a
photo of its bar chart with the report as caption, or the text alone when the chart cannot be
drawn (`Commands.chart` draws it; tests inject a failing one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from telegram import BotCommand, LinkPreviewOptions, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters
from telegram.request import HTTPXRequest

from bot.config.types import Config
from bot.flights.evidence import RouteReport, chart_bars, chart_subtitle, route_report
from bot.redact import redact_secret
from bot.render import split_messages
from bot.sources_report import render_sources, stored_state
from bot.status import gather, status_messages
from bot.store import Store
from bot.store.base import StoreError
from bot.telegram.replies import (
    RouteReply,
    channel_test_reply,
    mute_reply,
    pause_reply,
    recent_reply,
    resume_reply,
    retry_reply,
    route_query,
    route_reply,
    unknown_command_reply,
    unmute_reply,
)
from watchers.clock import Clock

log = logging.getLogger(__name__)

COMMANDS = (
    ("status", "health of sources and the outbox"),
    ("sources", "every source with its health, every rule with its channel"),
    ("recent", "the last alerts sent, with links: /recent [N]"),
    (
        "route",
        "flights on a route per period, with a chart: /route FROM TO [SPAN] [OPERATOR], "
        "e.g. /route BEN MSQ 90d BRU (default: the last 180 days, per month)",
    ),
    ("mute", "hold a rule's alerts for a while: /mute RULE DURATION"),
    ("unmute", "end a mute: /unmute RULE"),
    ("pause", "stop polling a source until /resume: /pause SOURCE"),
    ("resume", "poll a paused source again: /resume SOURCE"),
    ("retry", "send alerts that failed for good again: /retry [RULE]"),
    ("test", "send a test message to every channel"),
    ("reload", "re-read rules.toml (keeps the old one if invalid)"),
    ("help", "list the commands"),
)
HELP = "vedette commands:\n" + "\n".join(f"/{name} — {text}" for name, text in COMMANDS)


def route_chart(report: RouteReport) -> bytes:
    """`/route`'s bar chart as PNG bytes (`bot.chart`, imported only when a chart is drawn).
    Raises `bot.chart.ChartError` when it cannot be drawn."""
    from bot.chart import bar_chart

    return bar_chart(report.title, chart_bars(report), subtitle=chart_subtitle(report))


@dataclass(frozen=True, slots=True)
class TelegramTimeouts:
    """HTTP timeouts for Bot API calls, in seconds (`poll` is the getUpdates long-poll)."""

    connect: float = 10.0
    read: float = 15.0
    write: float = 15.0
    poll: float = 20.0
    read_cap: float | None = None  # a send after a timeout waits longer, up to this (4 × read)


class AdminFilter(filters.MessageFilter):
    """Messages from a user id in the admin list in force (it may change on reload)."""

    def __init__(self, admins: Callable[[], Sequence[int]]) -> None:
        super().__init__(name="AdminFilter")
        self._admins = admins

    def filter(self, message: Message) -> bool:
        user = message.from_user
        return user is not None and user.id in self._admins()


@dataclass(frozen=True, slots=True)
class Commands:
    """What the admin commands need, and one handler (a bound method) per command.

    `config` returns the configuration in force (read at each command: admins, rule ids
    for `/mute`, channels for `/test`, sources for `/status`); without it, `admins` and
    `configured_sources` are used. `reload` re-reads it and returns what to tell the admin
    (without it, `/reload` says reloading is not available); `wake` tells the dispatcher
    that `/retry` queued rows. `secret` (the bot token) is redacted from replies and logs.
    `chart` draws `/route`'s chart (PNG bytes); whatever it raises, the report goes out as
    text alone.
    """

    store: Store
    clock: Clock
    secret: str | None = None
    admins: Sequence[int] = ()
    configured_sources: Sequence[str] = ()
    config: Callable[[], Config] | None = None
    reload: Callable[[], Awaitable[str]] | None = None
    wake: Callable[[], None] | None = None
    chart: Callable[[RouteReport], bytes] = route_chart

    def admin_ids(self) -> Sequence[int]:
        """The user ids answered now (the configuration's, so they follow a `/reload`)."""
        return self.config().telegram.admins if self.config is not None else tuple(self.admins)

    def _current(self) -> Config | None:
        return self.config() if self.config is not None else None

    def _rule_ids(self) -> list[str]:
        conf = self._current()
        return [rule.id for rule in conf.rules] if conf is not None else []

    def _source_ids(self) -> list[str]:
        conf = self._current()
        return [s.id for s in conf.sources] if conf is not None else list(self.configured_sources)

    async def status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reply with the whole status report: the summary first, in as many messages as
        needed (failing sources before healthy ones; nothing is cut)."""
        conf = self._current()
        sources = [s.id for s in conf.sources] if conf is not None else self.configured_sources
        for text in status_messages(gather(self.store, sources), self.clock()):
            await _reply(update, text)

    async def sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reply with every source and rule, in as many messages as needed."""
        conf = self._current()
        if conf is None:
            await _reply(update, "the configuration is not available in this run")
            return
        lines = render_sources(conf, self.clock(), stored_state(self.store))
        for text in split_messages(lines):
            await _reply(update, text)

    async def recent(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reply with the last alerts sent."""
        await _reply(update, recent_reply(self.store, context.args or []))

    async def route(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reply with a route's flights per period: one photo (the chart, the report as
        caption, the rest in messages after it), or the text alone when no chart can be sent."""
        now = self.clock()
        query = route_query(context.args or [], now.date())
        if isinstance(query, str):
            await _reply(update, query)
            return
        try:
            report = route_report(
                self.store,
                query.origins,
                query.destinations,
                operator=query.operator,
                by=query.by,
                start=query.start,
                end=query.end,
                now=now,
            )
        except StoreError as exc:
            log.error("/route: %s", exc)
            await _reply(update, f"could not read the flights: {exc}")
            return
        reply = route_reply(report)
        if not await self._route_photo(update, report, reply):
            for text in reply.text:
                await _reply(update, text, ParseMode.HTML)

    async def _route_photo(self, update: Update, report: RouteReport, reply: RouteReply) -> bool:
        """Send the chart with its caption and the messages that follow; False when there is
        no chart to send (it failed to draw, or Telegram refused the picture)."""
        message = update.effective_message
        if message is None:
            return True
        try:
            png = await asyncio.to_thread(self.chart, report)
        except Exception as exc:  # whatever goes wrong drawing, the text still goes out
            why = redact_secret(f"{type(exc).__name__}: {exc}", self.secret)
            log.warning("/route: no chart (%s); sending the text alone", why)
            return False
        try:
            await message.reply_photo(png, caption=reply.caption, parse_mode=ParseMode.HTML)
        except BadRequest as exc:
            why = redact_secret(str(exc), self.secret)
            log.warning("/route: Telegram refused the chart (%s); sending the text alone", why)
            return False
        for text in reply.follow:
            await _reply(update, text, ParseMode.HTML)
        return True

    async def mute(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Mute a rule for a while."""
        args, rule_ids = context.args or [], self._rule_ids()
        text = mute_reply(self.store, args, rule_ids, _sender(update), self.clock())
        await _reply(update, text)

    async def unmute(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """End a rule's mute."""
        text = unmute_reply(self.store, context.args or [], self._rule_ids(), self.clock())
        await _reply(update, text)

    async def pause(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stop polling a source until /resume."""
        args, source_ids = context.args or [], self._source_ids()
        text = pause_reply(self.store, args, source_ids, _sender(update), self.clock())
        await _reply(update, text)

    async def resume(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Poll a paused source again."""
        await _reply(update, resume_reply(self.store, context.args or [], self._source_ids()))

    async def retry(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Requeue alerts that failed for good."""
        text = retry_reply(self.store, context.args or [], self.clock())
        if self.wake is not None:
            self.wake()
        await _reply(update, text)

    async def test(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Send a test message to every configured channel and report each outcome."""
        conf = self._current()
        channels = conf.channels if conf else {}
        await _reply(update, await channel_test_reply(context.bot, channels, self.secret))

    async def reload_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Re-read the configuration through `reload` and say how it went."""
        if self.reload is None:
            await _reply(update, "reloading is not available in this run")
            return
        try:
            text = await self.reload()
        except Exception as exc:  # the admin must hear about it, not only the log
            log.exception("/reload failed")
            text = redact_secret(f"reload failed: {type(exc).__name__}: {exc}", self.secret)
        await _reply(update, text)

    async def help_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reply with the list of commands."""
        await _reply(update, HELP)

    async def unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An admin's command that does not exist (one addressed to another bot is ignored)."""
        message = update.effective_message
        if message is None or not message.text:
            return
        command = message.text.split()[0]
        addressed = command.partition("@")[2]
        if addressed and addressed.lower() != (context.bot.username or "").lower():
            return
        await _reply(update, unknown_command_reply(command.partition("@")[0]))

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log errors from handlers and polling, one line each."""
        log.warning(
            "telegram: %s: %s",
            type(context.error).__name__,
            redact_secret(str(context.error), self.secret),
        )


async def _reply(update: Update, text: str, parse_mode: str | None = None) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(
            text, parse_mode=parse_mode, link_preview_options=LinkPreviewOptions(is_disabled=True)
        )


def _sender(update: Update) -> int | None:
    return update.effective_user.id if update.effective_user is not None else None


def register(app: Application, commands: Commands) -> None:  # type: ignore[type-arg]
    """Add every command's handler to `app`, answering admins only; the one place where
    handlers are registered. `/help` (and `/start`) list `COMMANDS`; any other command of
    an admin gets "unknown command" (its handler comes last: PTB tries them in order)."""
    admins = AdminFilter(commands.admin_ids)
    handlers = {
        "status": commands.status,
        "sources": commands.sources,
        "recent": commands.recent,
        "route": commands.route,
        "mute": commands.mute,
        "unmute": commands.unmute,
        "pause": commands.pause,
        "resume": commands.resume,
        "retry": commands.retry,
        "test": commands.test,
        "reload": commands.reload_command,
    }
    for name, callback in handlers.items():
        app.add_handler(CommandHandler(name, callback, filters=admins))
    app.add_handler(CommandHandler(["help", "start"], commands.help_command, filters=admins))
    app.add_handler(MessageHandler(filters.COMMAND & admins, commands.unknown))
    app.add_error_handler(commands.on_error)


def application(token: str, api_url: str, timeouts: TelegramTimeouts | None = None) -> Application:  # type: ignore[type-arg]
    """A bare PTB Application talking to `{api_url}/bot{token}/…` (no handlers, no job
    queue): one HTTP client for Bot API calls, another for the getUpdates long poll."""
    timeouts = timeouts or TelegramTimeouts()
    request = HTTPXRequest(
        connect_timeout=timeouts.connect,
        read_timeout=timeouts.read,
        write_timeout=timeouts.write,
        pool_timeout=timeouts.connect,
    )
    updates_request = HTTPXRequest(
        connect_timeout=timeouts.connect,
        read_timeout=timeouts.poll + timeouts.read,
        write_timeout=timeouts.write,
        pool_timeout=timeouts.connect,
    )
    return (
        Application.builder()
        .token(token)
        .base_url(f"{api_url.rstrip('/')}/bot")
        .request(request)
        .get_updates_request(updates_request)
        .job_queue(None)
        .build()
    )


def build_application(
    token: str,
    api_url: str,
    admins: Sequence[int],
    store: Store,
    *,
    clock: Clock,
    configured_sources: Sequence[str] = (),
    timeouts: TelegramTimeouts | None = None,
    config: Callable[[], Config] | None = None,
    reload: Callable[[], Awaitable[str]] | None = None,
    wake: Callable[[], None] | None = None,
    chart: Callable[[RouteReport], bytes] = route_chart,
) -> Application:  # type: ignore[type-arg]
    """`application` with the admin commands registered (see `Commands` for the callbacks)."""
    app = application(token, api_url, timeouts)
    commands = Commands(
        store,
        clock,
        secret=token,
        admins=tuple(admins),
        configured_sources=tuple(configured_sources),
        config=config,
        reload=reload,
        wake=wake,
        chart=chart,
    )
    register(app, commands)
    return app


async def register_commands(app: Application) -> None:  # type: ignore[type-arg]
    """Tell Telegram which commands exist (shown in the client's menu)."""
    await app.bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])
