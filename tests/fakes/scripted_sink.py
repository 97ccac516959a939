"""A sink that answers each send from a script, for driving `bot.dispatcher` without Telegram."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.sinks import Message, SendOutcome, Sent


class ScriptedSink:
    """Answers each send with the next scripted outcome (then `Sent`), recording messages."""

    name = "scripted"

    def __init__(self, clock: Callable[[], datetime], *outcomes: SendOutcome) -> None:
        self.clock = clock
        self.outcomes = list(outcomes)
        self.messages: list[Message] = []

    async def send(self, message: Message) -> SendOutcome:
        self.messages.append(message)
        return self.outcomes.pop(0) if self.outcomes else Sent(len(self.messages))
