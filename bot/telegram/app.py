"""The Telegram side of `vedette run`: python-telegram-bot's Application from start to stop.

The runner creates one `TelegramApp` (with a token, and not for a dry run), gives its `sink`
to the dispatcher, and then either `serve`s the admin commands until the run halts or, with
`--once`, `connect`s, lets the dispatcher drain and `close`s. PTB's `run_polling` is not
used: polling runs next to our own tasks, so this module keeps PTB's manual order:

- start: `initialize` (getMe; retried, waiting twice as long each time up to 5 minutes, while
  Telegram cannot be reached; a rejected token is `fatal`), the channel check
  (`bot.telegram.replies.check_channels`), the command menu (setMyCommands; a failure is
  only logged), `updater.start_polling`, then `start`;
- stop: `updater.stop`, then `stop`, and `shutdown` only once the dispatcher has stopped
  sending: the bot's HTTP client is the sink's too, and closing it under an in-flight send
  would turn a delivered message into a failed one (and a duplicate at the next start).

`use_timedeltas` is the one process-wide PTB setting; the runner calls it once at start,
before any PTB object is built.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping

from telegram.error import InvalidToken, TelegramError

from bot.config.types import Channel
from bot.redact import redact
from bot.stopping import sleep_or_stop
from bot.telegram.commands import (
    Commands,
    TelegramTimeouts,
    application,
    register,
    register_commands,
)
from bot.telegram.replies import check_channels
from bot.telegram.sink import TelegramSink
from watchers.schedule import backoff

log = logging.getLogger(__name__)

FIRST_RETRY = 2.0  # seconds before getMe is tried again; doubled each time, up to:
LAST_RETRY = 300.0


def use_timedeltas() -> None:
    """Have PTB give durations as `timedelta`s in this process (`PTB_TIMEDELTA=1`, unless
    the environment says otherwise). Call it once at start, before any PTB object exists.

    PTB 22 reads the variable each time it builds a `RetryAfter` (a 429) and, without it,
    warns of a deprecation; under strict warning filters that warning would turn a 429 into
    a generic error. `bot.telegram.sink` reads `retry_after` either way.
    """
    os.environ.setdefault("PTB_TIMEDELTA", "1")


class TelegramApp:
    """The bot's PTB Application over one run, and the sink that sends through its bot.

    `fatal` says why the run must end (Telegram rejected the token), or is None.
    """

    def __init__(
        self, token: str, api_url: str, commands: Commands, timeouts: TelegramTimeouts
    ) -> None:
        self._token = token
        self._poll_timeout = timeouts.poll
        self.app = application(token, api_url, timeouts)
        register(self.app, commands)
        self.sink = TelegramSink(self.app.bot, secret=token, read_timeout_cap=timeouts.read_cap)
        self.fatal: str | None = None

    async def connect(self, channels: Mapping[str, Channel]) -> bool:
        """getMe once, then check `channels` (one log line each); False on a network
        failure. A rejected token sets `fatal`."""
        try:
            await self.app.initialize()
        except InvalidToken:
            self.fatal = "Telegram rejected the bot token: check TELEGRAM_BOT_TOKEN"
            return False
        except TelegramError as exc:
            log.warning("telegram: cannot reach the Bot API yet: %s", redact(str(exc)))
            return False
        await check_channels(self.app.bot, channels, self._token)  # logs each
        return True

    async def close(self) -> None:
        """Close the bot's HTTP client (after `--once` has sent what it could)."""
        await self.app.bot.shutdown()

    async def serve(
        self,
        halt: asyncio.Event,
        sender_stopped: asyncio.Event,
        channels: Callable[[], Mapping[str, Channel]],
    ) -> None:
        """Answer admin commands until `halt`; retries getMe while Telegram is down, and
        sets `halt` when the token is rejected.

        The bot's HTTP client is shared with the dispatcher, so it is shut down only after
        `sender_stopped`: closing it under an in-flight send would turn a delivered message
        into a failed one (and a duplicate at the next start).
        """
        app = self.app
        attempt = 1
        while not await self.connect(channels()):
            if self.fatal:
                halt.set()
            if self.fatal or await sleep_or_stop(halt, backoff(attempt, FIRST_RETRY, LAST_RETRY)):
                await sender_stopped.wait()
                await app.bot.shutdown()
                return
            attempt += 1
        try:
            await _quietly(register_commands(app), "setMyCommands")
            assert app.updater is not None  # noqa: S101
            await app.updater.start_polling(
                poll_interval=0.0,
                timeout=int(self._poll_timeout),
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
