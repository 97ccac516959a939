"""The Telegram sink: one `sendMessage` through python-telegram-bot, one outcome back.

The `telegram.Bot` is injected (the runner builds it with `base_url=f"{api_url}/bot"` and its
own `HTTPXRequest`); this module only sends and classifies. `classify` is pure and maps PTB's
exceptions to the outcomes of `bot.sinks`. Its order matters: in PTB `BadRequest` is a subclass
of `NetworkError`, so a 400 must be recognised before the "retry on network errors" branch, or a
permanent error would be retried forever.

Every error string is passed through `bot.redact`: PTB copies httpx messages, which may contain
the request URL, and the Bot API puts the token in the URL.
"""

from __future__ import annotations

import datetime as dt
import os
import warnings

from telegram import Bot, LinkPreviewOptions
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from bot.redact import redact_secret
from bot.sinks import (
    BadMarkup,
    Message,
    Migrated,
    Permanent,
    RetryLater,
    SendOutcome,
    Sent,
    Transient,
)

PARSE_ERROR_MARKER = "can't parse entities"

# PTB 22 builds RetryAfter with a deprecation warning unless timedeltas are switched on;
# under strict warning filters that warning would turn a 429 into a generic error.
os.environ.setdefault("PTB_TIMEDELTA", "1")


class TelegramSink:
    """Sends alerts with `Bot.send_message` (HTML, or plain text after a markup failure)."""

    name = "telegram"

    def __init__(self, bot: Bot, *, secret: str | None = None) -> None:
        """`secret` (the bot token) is also redacted literally from every error string."""
        self._bot = bot
        self._secret = secret

    async def send(self, message: Message) -> SendOutcome:
        """Send one message; never raises for a delivery failure (see `classify`)."""
        preview = (
            LinkPreviewOptions(url=message.link, prefer_small_media=True)
            if message.link
            else LinkPreviewOptions(is_disabled=True)
        )
        try:
            if message.as_plain:
                sent = await self._bot.send_message(
                    message.chat_id,
                    text=message.plain,
                    parse_mode=None,
                    link_preview_options=preview,
                )
            else:
                sent = await self._bot.send_message(
                    message.chat_id,
                    text=message.html,
                    parse_mode="HTML",
                    link_preview_options=preview,
                )
        except Exception as exc:  # every failure becomes an outcome
            return classify(exc, secret=self._secret)
        return Sent(sent.message_id)


def classify(exc: Exception, *, secret: str | None = None) -> SendOutcome:
    """What a failed `send_message` means for the outbox row (pure).

    Error strings are redacted: token-shaped text, and `secret` literally when given.
    """
    detail = redact_secret(f"{type(exc).__name__}: {str(exc) or repr(exc)}", secret)
    if isinstance(exc, RetryAfter):
        return RetryLater(seconds=_retry_after_seconds(exc), error=detail)
    if isinstance(exc, ChatMigrated):
        return Migrated(new_chat_id=int(exc.new_chat_id), error=detail)
    if isinstance(exc, InvalidToken):  # fix the token and restart: keep the rows
        return Transient(f"the bot token was rejected by Telegram ({detail})")
    if isinstance(exc, BadRequest):  # before NetworkError: BadRequest subclasses it
        if PARSE_ERROR_MARKER in exc.message.lower():
            return BadMarkup(detail)
        return Permanent(detail)
    if isinstance(exc, Forbidden):
        return Permanent(detail)
    if isinstance(exc, TimedOut):
        return Transient(f"timed out, the message may or may not have been delivered ({detail})")
    if isinstance(exc, NetworkError | TelegramError):
        return Transient(detail)
    return Transient(f"unexpected error while sending: {detail}")


def _retry_after_seconds(exc: RetryAfter) -> float:
    """`retry_after` is an int, or a timedelta with PTB_TIMEDELTA=1; reading it as an int
    warns (PTB 22.2 deprecation), which says nothing useful here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)
