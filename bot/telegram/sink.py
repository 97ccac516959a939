"""The Telegram sink: one `sendMessage` (or `editMessageText`) through python-telegram-bot,
one outcome back. A message with a photo (a route alert's chart) is one `sendPhoto` with the
text as its caption, and its edits are `editMessageCaption`; a picture Telegram refuses
(IMAGE_PROCESS_FAILED, PHOTO_INVALID_DIMENSIONS) is sent again as the text alone.

The `telegram.Bot` is injected (the runner builds it with `base_url=f"{api_url}/bot"` and its
own `HTTPXRequest`); this module only sends and classifies. `classify` is pure and maps PTB's
exceptions to the outcomes of `bot.sinks`. Its order matters: in PTB `BadRequest` is a subclass
of `NetworkError`, so a 400 must be recognised before the "retry on network errors" branch, or a
permanent error would be retried forever.

Every error string is passed through `bot.redact`: PTB copies httpx messages, which may contain
the request URL, and the Bot API puts the token in the URL.

Two delivery rules live here because only the sink sees them:

- **A slow API.** A send that times out may have been delivered, and its retry posts a copy.
  After a timeout the next send waits twice as long for the answer (the bot's read timeout,
  15 s by default, then 30 s, then 60 s: at most 4 × the read timeout); any answer from
  Telegram resets it. So a Telegram that accepts messages but answers within 60 s posts at
  most 3 copies of one alert (2 if it answers within 30 s); one that answers later than the
  cap every time posts one copy per attempt until it answers in time.
- **An answer PTB cannot read.** `{"ok": true, "result": …}` with a result that is not a
  message (`"yes"`, `true`, `{}`): Telegram accepted the request, so the alert counts as
  delivered without a message id (a warning is logged); retrying could only post a copy.
  Only an exception raised while PTB reads the result into a Message (`de_json`) counts:
  PTB wraps every transport failure, every non-2xx answer and unreadable JSON in a
  `TelegramError`, and any other exception (a bug before the request) is retried as before.

Edits (`TelegramSink.edit`) share all of this: the read timeout and its growth (a timed-out
edit may have been applied; resending the same text is harmless: see below), the redaction
and `classify`, through `classify_edit`, which adds what only an edit can hear:

- Telegram's 400 "message is not modified" (PTB drops the "Bad Request: " prefix) means the
  message already reads so: `Sent(message_id)`.
- "message can't be edited" (too old, not the bot's) and "message to edit not found"
  (deleted) are `Permanent`, as every other 400; so is an edit whose message id was never
  recorded, without a request.
- An ok answer that is `True` (inline messages) or not a message is `Sent(message_id)`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from telegram import Bot, LinkPreviewOptions
from telegram import Message as TelegramMessage
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
    Edit,
    Message,
    Migrated,
    Permanent,
    RetryLater,
    SendOutcome,
    Sent,
    Transient,
)

log = logging.getLogger(__name__)

PARSE_ERROR_MARKER = "can't parse entities"
NOT_MODIFIED_MARKER = "message is not modified"  # PTB drops "Bad Request: ", capitalises
# Telegram's 400s about the picture itself (PTB capitalises them: "Image_process_failed")
PICTURE_REFUSED = ("image_process_failed", "photo_invalid_dimensions", "photo_ext_invalid")
DEFAULT_READ_TIMEOUT = 15.0
READ_TIMEOUT_GROWTH = 4  # the cap, as a multiple of the read timeout


class TelegramSink:
    """Sends alerts with `Bot.send_message` (`Bot.send_photo` with a photo) and edits them
    with `Bot.edit_message_text` (`Bot.edit_message_caption`) (HTML, or plain text after a
    markup failure)."""

    name = "telegram"

    def __init__(
        self,
        bot: Bot,
        *,
        secret: str | None = None,
        read_timeout: float | None = None,
        read_timeout_cap: float | None = None,
    ) -> None:
        """`secret` (the bot token) is also redacted literally from every error string.

        `read_timeout` is how long a send or edit waits for Telegram's answer (default: the
        bot's request's read timeout); after a timeout the next one waits twice as long, up to
        `read_timeout_cap` (default 4 × `read_timeout`).
        """
        self._bot = bot
        self._secret = secret
        base = read_timeout if read_timeout is not None else bot.request.read_timeout
        self.base_read_timeout = float(base if base is not None else DEFAULT_READ_TIMEOUT)
        self.read_timeout_cap = (
            read_timeout_cap
            if read_timeout_cap is not None
            else READ_TIMEOUT_GROWTH * self.base_read_timeout
        )
        self.read_timeout = self.base_read_timeout

    async def send(self, message: Message) -> SendOutcome:
        """Send one message; never raises for a delivery failure (see `classify`)."""
        try:
            text = message.plain if message.as_plain else message.html
            parse_mode = None if message.as_plain else "HTML"
        except Exception as exc:  # a bug before any request: retried, never "delivered"
            return classify(exc, secret=self._secret)
        photo = message.photo
        if photo is not None:
            answer = await self._request(
                "the message may or may not have been delivered",
                lambda read_timeout: self._bot.send_photo(
                    message.chat_id,
                    photo=photo,
                    caption=text,
                    parse_mode=parse_mode,
                    read_timeout=read_timeout,
                ),
                lambda exc: classify(exc, secret=self._secret),
            )
            if isinstance(answer, Permanent) and _picture_refused(answer.error):
                log.warning(
                    "outbox #%d: Telegram refused the chart (%s); sending the text alone",
                    message.outbox_id,
                    answer.error[:200],
                )
                return await self.send(replace(message, photo=None))
        else:
            answer = await self._request(
                "the message may or may not have been delivered",
                lambda read_timeout: self._bot.send_message(
                    message.chat_id,
                    text=text,
                    parse_mode=parse_mode,
                    link_preview_options=_preview(message.link),
                    read_timeout=read_timeout,
                ),
                lambda exc: classify(exc, secret=self._secret),
            )
        if not isinstance(answer, _Accepted):
            return answer
        if answer.unreadable or not isinstance(answer.result, TelegramMessage):
            why = answer.unreadable or f"the result is {type(answer.result).__name__}"
            log.warning(
                "outbox #%d: Telegram accepted the message but its answer is not a message "
                "(%s); counted as delivered, without a message id, and not sent again",
                message.outbox_id,
                redact_secret(why, self._secret)[:200],
            )
            return Sent(None)
        return Sent(answer.result.message_id)

    async def edit(self, edit: Edit) -> SendOutcome:
        """Replace the text of a message sent before; never raises for a delivery failure
        (see `classify_edit`). Without a message id there is nothing to edit: `Permanent`,
        and no request is made."""
        message_id = edit.message_id
        if message_id is None:
            return Permanent(
                f"cannot edit the message of outbox #{edit.outbox_id} in chat {edit.chat_id}: "
                "no message id was recorded for it when it was sent"
            )
        text = edit.plain if edit.as_plain else edit.html
        parse_mode = None if edit.as_plain else "HTML"
        if edit.caption:
            answer = await self._request(
                "the edit may or may not have been applied",
                lambda read_timeout: self._bot.edit_message_caption(
                    chat_id=edit.chat_id,
                    message_id=message_id,
                    caption=text,
                    parse_mode=parse_mode,
                    read_timeout=read_timeout,
                ),
                lambda exc: classify_edit(exc, message_id, secret=self._secret),
            )
        else:
            answer = await self._request(
                "the edit may or may not have been applied",
                lambda read_timeout: self._bot.edit_message_text(
                    text=text,
                    chat_id=edit.chat_id,
                    message_id=message_id,
                    parse_mode=parse_mode,
                    link_preview_options=_preview(edit.link),
                    read_timeout=read_timeout,
                ),
                lambda exc: classify_edit(exc, message_id, secret=self._secret),
            )
        # Telegram said ok: the message now reads as asked, whatever PTB made of the answer
        # (an edit of an inline message answers True)
        return Sent(message_id) if isinstance(answer, _Accepted) else answer

    async def _request(
        self,
        unknown: str,
        call: Callable[[float], Awaitable[object]],
        failed: Callable[[Exception], SendOutcome],
    ) -> _Accepted | SendOutcome:
        """Make one request with the current read timeout (doubled after a timeout, reset by
        any answer from Telegram); `failed` classifies an error, `unknown` says what a
        timeout leaves unknown ("the message may or may not have been delivered")."""
        waited = self.read_timeout
        try:
            result = await call(waited)
        except TimedOut as exc:
            self.read_timeout = min(waited * 2, self.read_timeout_cap)
            detail = redact_secret(f"{type(exc).__name__}: {exc}", self._secret)
            return Transient(
                f"timed out, {unknown} ({detail}); "
                f"no answer within {waited:g}s, the next attempt waits {self.read_timeout:g}s"
            )
        except TelegramError as exc:  # Telegram answered, or was unreachable
            if not _unanswered(exc):
                self.read_timeout = self.base_read_timeout
            return failed(exc)
        except Exception as exc:
            if not _raised_reading_the_answer(exc):  # a bug before or without an answer
                return failed(exc)
            self.read_timeout = self.base_read_timeout  # an ok:true answer PTB cannot read
            return _Accepted(None, unreadable=f"{type(exc).__name__}: {exc}")
        self.read_timeout = self.base_read_timeout
        return _Accepted(result)


@dataclass(frozen=True, slots=True)
class _Accepted:
    """Telegram answered ok: `result` is what PTB made of it, or None with `unreadable`
    saying why PTB could not read it."""

    result: object
    unreadable: str = ""


def _picture_refused(error: str) -> bool:
    """True for Telegram's 400s about the picture itself (not the chat, not the caption)."""
    return any(marker in error.lower() for marker in PICTURE_REFUSED)


def _preview(link: str) -> LinkPreviewOptions:
    """A small preview of `link`, or no preview at all when there is no link."""
    if link:
        return LinkPreviewOptions(url=link, prefer_small_media=True)
    return LinkPreviewOptions(is_disabled=True)


def _raised_reading_the_answer(exc: BaseException) -> bool:
    """True when `exc` comes from PTB turning Telegram's `ok: true` result into a Message
    (a `de_json` frame of the telegram package is on its traceback): the request was
    accepted. Any other exception (a bug of ours, before any answer) is not a delivery."""
    frame = exc.__traceback__
    while frame is not None:
        code = frame.tb_frame.f_code
        if code.co_name == "de_json" and f"{os.sep}telegram{os.sep}" in code.co_filename:
            return True
        frame = frame.tb_next
    return False


def _unanswered(exc: Exception) -> bool:
    """True for a bare `NetworkError`: a transport failure (refused, reset) or a 5xx, after
    which the longer wait stays; Telegram's own answers (400, 403, 429, …) reset it."""
    return type(exc) is NetworkError


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


def classify_edit(exc: Exception, message_id: int, *, secret: str | None = None) -> SendOutcome:
    """What a failed `edit_message_text` means (pure): as `classify`, except that Telegram's
    "message is not modified" is `Sent(message_id)` (the message already reads so); "message
    can't be edited" and "message to edit not found" are `Permanent`, as every other 400."""
    if isinstance(exc, BadRequest) and NOT_MODIFIED_MARKER in exc.message.lower():
        return Sent(message_id)
    return classify(exc, secret=secret)


def _retry_after_seconds(exc: RetryAfter) -> float:
    """`retry_after` is an int, or a timedelta with PTB_TIMEDELTA=1 (which the runner sets:
    `bot.telegram.app.use_timedeltas`); reading it as an int warns (PTB 22.2 deprecation),
    which says nothing useful here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)
