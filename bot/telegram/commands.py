"""Telegram admin commands through python-telegram-bot: `/status`, `/recent`, `/mute`, ….

Only user ids listed in `[telegram] admins` get an answer, in a private chat or a group;
everyone else is ignored (no reply at all). An empty list means nobody. An admin's command
the bot does not have gets "unknown command …, see /help". Commands read the current
configuration (`config()`) each time, so rules and channels follow a `/reload`.
Replies are plain text (no parse mode).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from telegram import BotCommand, LinkPreviewOptions, Message, Update
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters
from telegram.request import HTTPXRequest

from bot.config.types import Config
from bot.redact import redact_secret
from bot.render import split_messages
from bot.sources_report import render_sources, stored_state
from bot.status import gather, status_messages
from bot.store import Store
from bot.telegram.replies import (
    channel_test_reply,
    mute_reply,
    pause_reply,
    recent_reply,
    resume_reply,
    retry_reply,
    unknown_command_reply,
    unmute_reply,
)
from bot.timeutil import Clock

log = logging.getLogger(__name__)

COMMANDS = (
    ("status", "health of sources and the outbox"),
    ("sources", "every source with its health, every rule with its channel"),
    ("recent", "the last alerts sent, with links: /recent [N]"),
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
) -> Application:  # type: ignore[type-arg]
    """A PTB Application talking to `{api_url}/bot{token}/…`, with the admin commands.

    `config` returns the configuration in force (read at each command: rule ids for
    `/mute`, channels for `/test`, sources for `/status`); `reload` re-reads it and returns
    what to tell the admin (without it, `/reload` says reloading is not available); `wake`
    tells the dispatcher that `/retry` queued rows.
    """
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
    app = (
        Application.builder()
        .token(token)
        .base_url(f"{api_url.rstrip('/')}/bot")
        .request(request)
        .get_updates_request(updates_request)
        .job_queue(None)
        .build()
    )
    only_admins = AdminFilter(
        (lambda: config().telegram.admins) if config is not None else (lambda: tuple(admins))
    )

    def current() -> Config | None:
        return config() if config is not None else None

    def rule_ids() -> list[str]:
        conf = current()
        return [rule.id for rule in conf.rules] if conf is not None else []

    def source_ids() -> list[str]:
        conf = current()
        return [s.id for s in conf.sources] if conf is not None else list(configured_sources)

    async def reply(update: Update, text: str) -> None:
        if update.effective_message is not None:
            await update.effective_message.reply_text(
                text, link_preview_options=LinkPreviewOptions(is_disabled=True)
            )

    def sender(update: Update) -> int | None:
        return update.effective_user.id if update.effective_user is not None else None

    async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reply with the whole status report: the summary first, in as many messages as
        needed (failing sources before healthy ones; nothing is cut)."""
        conf = current()
        sources = [s.id for s in conf.sources] if conf is not None else configured_sources
        for text in status_messages(gather(store, sources), clock()):
            await reply(update, text)

    async def recent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reply with the last alerts sent."""
        await reply(update, recent_reply(store, context.args or []))

    async def mute(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Mute a rule for a while."""
        text = mute_reply(store, context.args or [], rule_ids(), sender(update), clock())
        await reply(update, text)

    async def unmute(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """End a rule's mute."""
        await reply(update, unmute_reply(store, context.args or [], rule_ids(), clock()))

    async def test(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Send a test message to every configured channel and report each outcome."""
        conf = current()
        await reply(
            update, await channel_test_reply(context.bot, conf.channels if conf else {}, token)
        )

    async def reload_(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Re-read the configuration through `reload` and say how it went."""
        if reload is None:
            await reply(update, "reloading is not available in this run")
            return
        try:
            text = await reload()
        except Exception as exc:  # the admin must hear about it, not only the log
            log.exception("/reload failed")
            text = redact_secret(f"reload failed: {type(exc).__name__}: {exc}", token)
        await reply(update, text)

    async def help_(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reply with the list of commands."""
        await reply(update, HELP)

    async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reply with every source and rule, in as many messages as needed."""
        conf = current()
        if conf is None:
            await reply(update, "the configuration is not available in this run")
            return
        lines = render_sources(conf, clock(), stored_state(store))
        for text in split_messages(lines):
            await reply(update, text)

    async def pause(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stop polling a source until /resume."""
        text = pause_reply(store, context.args or [], source_ids(), sender(update), clock())
        await reply(update, text)

    async def resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Poll a paused source again."""
        await reply(update, resume_reply(store, context.args or [], source_ids()))

    async def retry(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Requeue alerts that failed for good."""
        text = retry_reply(store, context.args or [], clock())
        if wake is not None:
            wake()
        await reply(update, text)

    async def unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An admin's command that does not exist (one addressed to another bot is ignored)."""
        message = update.effective_message
        if message is None or not message.text:
            return
        command = message.text.split()[0]
        addressed = command.partition("@")[2]
        if addressed and addressed.lower() != (context.bot.username or "").lower():
            return
        await reply(update, unknown_command_reply(command.partition("@")[0]))

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log errors from handlers and polling, one line each."""
        log.warning(
            "telegram: %s: %s",
            type(context.error).__name__,
            redact_secret(str(context.error), token),
        )

    handlers = {
        "status": status,
        "recent": recent,
        "mute": mute,
        "unmute": unmute,
        "test": test,
        "reload": reload_,
        "sources": sources,
        "pause": pause,
        "resume": resume,
        "retry": retry,
    }
    for name, callback in handlers.items():
        app.add_handler(CommandHandler(name, callback, filters=only_admins))
    app.add_handler(CommandHandler(["help", "start"], help_, filters=only_admins))
    app.add_handler(MessageHandler(filters.COMMAND & only_admins, unknown))  # after the others
    app.add_error_handler(on_error)
    return app


async def register_commands(app: Application) -> None:  # type: ignore[type-arg]
    """Tell Telegram which commands exist (shown in the client's menu)."""
    await app.bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])
