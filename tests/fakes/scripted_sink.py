"""A sink that answers each send from a script, for driving `bot.dispatcher` without Telegram."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.sinks import Edit, Message, SendOutcome, Sent


class ScriptedSink:
    """Answers each send or edit with the next scripted outcome (then `Sent`: a new message
    id for a send, the edited message's id for an edit), recording messages and edits."""

    name = "scripted"

    def __init__(self, clock: Callable[[], datetime], *outcomes: SendOutcome) -> None:
        self.clock = clock
        self.outcomes = list(outcomes)
        self.messages: list[Message] = []
        self.edits: list[Edit] = []

    async def send(self, message: Message) -> SendOutcome:
        self.messages.append(message)
        return self.outcomes.pop(0) if self.outcomes else Sent(len(self.messages))

    async def edit(self, edit: Edit) -> SendOutcome:
        self.edits.append(edit)
        return self.outcomes.pop(0) if self.outcomes else Sent(edit.message_id)
