"""Telegram commands (`/status`, `/help`) through python-telegram-bot, for admins only.

Only user ids listed in `[telegram] admins` get an answer, in a private chat or a group;
everyone else is ignored (no reply at all). An empty list means nobody.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import BotCommand, Update
from telegram.ext import Application, CommandHandler, ContextTypes, filters
from telegram.request import HTTPXRequest

from bot.status import gather, render_status
from bot.store import Store
from bot.timeutil import Clock

log = logging.getLogger(__name__)

COMMANDS = (
    ("status", "health of sources and the outbox"),
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


def build_application(
    token: str,
    api_url: str,
    admins: Sequence[int],
    store: Store,
    *,
    clock: Clock,
    configured_sources: Sequence[str] = (),
    timeouts: TelegramTimeouts | None = None,
) -> Application:  # type: ignore[type-arg]
    """A PTB Application talking to `{api_url}/bot{token}/…`, with the admin commands."""
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
    only_admins = filters.User(user_id=list(admins))

    async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reply with the status report."""
        report = gather(store, configured_sources)
        if update.effective_message is not None:
            await update.effective_message.reply_text(render_status(report, clock()))

    async def help_(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reply with the list of commands."""
        if update.effective_message is not None:
            await update.effective_message.reply_text(HELP)

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log errors from handlers and polling, one line each."""
        log.warning("telegram: %s: %s", type(context.error).__name__, context.error)

    app.add_handler(CommandHandler("status", status, filters=only_admins))
    app.add_handler(CommandHandler(["help", "start"], help_, filters=only_admins))
    app.add_error_handler(on_error)
    return app


async def register_commands(app: Application) -> None:  # type: ignore[type-arg]
    """Tell Telegram which commands exist (shown in the client's menu)."""
    await app.bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])
