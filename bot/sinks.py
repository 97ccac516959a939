"""Where alerts go: the `Sink` seam, its outcomes, and the console sink.

A sink sends one `Message` and reports what happened as a `SendOutcome`; it never raises
for a delivery failure. The dispatcher (`bot.dispatcher`) decides what each outcome means
for the outbox row (sent, retried later, resent as plain text, failed).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Protocol, TextIO


@dataclass(frozen=True, slots=True)
class Message:
    """One outbox row, ready to send.

    `html` is Telegram HTML (every dynamic string escaped); `plain` is the same text without
    markup, sent when `as_plain` is set (after Telegram could not parse the HTML). `link` is
    the URL to preview, or "" for no preview. With a `photo` (PNG bytes: a route alert's
    chart) the text is the photo's caption (at most 1024 characters after parsing).
    """

    outbox_id: int
    chat_id: int | str
    html: str
    plain: str
    link: str = ""
    as_plain: bool = False
    photo: bytes | None = None


@dataclass(frozen=True, slots=True)
class Sent:
    """Delivered; `message_id` is Telegram's id of the new message (None for the console)."""

    message_id: int | None = None


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Flood control (HTTP 429): wait `seconds` before sending anything again."""

    seconds: float
    error: str


@dataclass(frozen=True, slots=True)
class Transient:
    """Timeout, network error or 5xx: the outcome is unknown; back off and send again."""

    error: str


@dataclass(frozen=True, slots=True)
class BadMarkup:
    """Telegram could not parse the HTML ("can't parse entities"): resend as plain text."""

    error: str


@dataclass(frozen=True, slots=True)
class Permanent:
    """Will never succeed as is (chat not found, bot kicked, other bad request)."""

    error: str


@dataclass(frozen=True, slots=True)
class Migrated:
    """The group became a supergroup: send to `new_chat_id` instead."""

    new_chat_id: int
    error: str


SendOutcome = Sent | RetryLater | Transient | BadMarkup | Permanent | Migrated


@dataclass(frozen=True, slots=True)
class Edit:
    """A message already sent, to change in place (a story gained outlets, a route alert's
    count or coverage changed): one edit row of the outbox, ready to send.

    `message_id` is Telegram's id of the message (None when it is not known: the console
    sink, or an answer Telegram gave without one); `html` and `plain` are its whole new text,
    as in `Message`; `note` is one line saying what changed, for sinks that cannot edit (the
    console prints it: "same story as …"). `caption`: the message is a photo whose caption
    is the text (Telegram's editMessageCaption, not editMessageText).
    """

    outbox_id: int
    chat_id: int | str
    message_id: int | None
    html: str
    plain: str
    note: str
    link: str = ""
    as_plain: bool = False
    caption: bool = False


class Sink(Protocol):
    """Sends one message, or edits one, and says what happened; never raises for a
    delivery failure. An edit whose text is already the message's counts as `Sent`."""

    name: str

    async def send(self, message: Message) -> SendOutcome: ...

    async def edit(self, edit: Edit) -> SendOutcome: ...


class ConsoleSink:
    """Prints each alert as plain text to a stream (stdout by default).

    A terminal cannot change what it printed, so an edit prints its one-line `note` under
    `── edit for {chat_id} ──` ("same story as …") and counts as sent. A photo (a route
    alert's chart) is not drawn: its text ends with `[chart: N bytes PNG]`.
    """

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def send(self, message: Message) -> SendOutcome:
        text = message.plain
        if message.photo is not None:
            text += f"\n[chart: {len(message.photo)} bytes PNG]"
        self._print(f"alert for {message.chat_id}", text)
        return Sent()

    async def edit(self, edit: Edit) -> SendOutcome:
        self._print(f"edit for {edit.chat_id}", edit.note)
        return Sent()

    def _print(self, heading: str, text: str) -> None:
        stream = self._stream or sys.stdout
        stream.write(f"── {heading} ──\n{text}\n\n")
        stream.flush()
