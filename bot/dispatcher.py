"""The one sender: drains due outbox rows to a sink, paced, applying the error matrix.

Outcome → what happens to the row (DESIGN §6 "Delivery"):

- `Sent`: marked sent with Telegram's message id.
- `RetryLater` (429): every send pauses for the given seconds; the row is due again then and
  the attempt does not count.
- `Transient` (timeout, network error, 5xx): every send pauses with exponential backoff and
  jitter (an outage affects all chats); the row keeps its place in line. Never given up.
- `BadMarkup` ("can't parse entities"): sent again at once as plain text; if plain text
  also fails that way, the row is failed.
- `Permanent` (chat not found, bot kicked, …): the row is failed and shown in `/status`.
- `Migrated`: the chat's unsent rows move to the new chat id, and the migration is remembered
  (rules.toml may still name the old id); sent again at once.

A row's channel is resolved to a chat id when it is sent, not when it was queued: the
`channels` provider returns the configuration in force (it follows reloads), then Telegram's
group → supergroup migrations are followed. Rows of a channel that is no longer configured
stay pending (never dropped, never sent to the chat id they were queued with), with one log
line per channel, until the channel is configured again.

A row is 'sending' only while its request is in flight. If the process dies then, the row
is sent again at the next start (`Store.recover_inflight`): delivery is at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from bot.config.types import Channel
from bot.sinks import BadMarkup, Message, Migrated, Permanent, RetryLater, Sent, Sink, Transient
from bot.store import Store
from bot.store.base import StoreError
from bot.store.records import DueGroup, OutboxRow
from bot.timeutil import from_iso
from bot.words import plural
from watchers.clock import Clock, utcnow
from watchers.schedule import backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limits:
    """Telegram's flood limits: per chat (a window and a gap between two messages), overall
    per second; and the backoff after network failures (`watchers.schedule.backoff`)."""

    per_chat: int = 20
    per_chat_window: float = 60.0
    per_chat_gap: float = 1.0
    overall_per_second: int = 30
    backoff_base: float = 2.0
    backoff_cap: float = 300.0
    backoff_jitter: float = 0.2


@dataclass
class Pacer:
    """Sliding-window rate limits; times are seconds on any monotonic scale."""

    limits: Limits = field(default_factory=Limits)
    _chats: dict[int | str, deque[float]] = field(default_factory=dict)
    _overall: deque[float] = field(default_factory=deque)

    def ready_at(self, chat: int | str, now: float) -> float:
        """The earliest time a message to `chat` respects both limits."""
        ready = now
        sent = self._chats.get(chat)
        if sent is not None:
            while sent and sent[0] <= now - self.limits.per_chat_window:
                sent.popleft()
            if len(sent) >= self.limits.per_chat:
                ready = max(ready, sent[-self.limits.per_chat] + self.limits.per_chat_window)
            if sent:
                ready = max(ready, sent[-1] + self.limits.per_chat_gap)
        while self._overall and self._overall[0] <= now - 1.0:
            self._overall.popleft()
        if len(self._overall) >= self.limits.overall_per_second:
            ready = max(ready, self._overall[-self.limits.overall_per_second] + 1.0)
        return ready

    def record(self, chat: int | str, now: float) -> None:
        """Count one message sent to `chat` at `now`."""
        self._chats.setdefault(chat, deque()).append(now)
        self._overall.append(now)


class Dispatcher:
    """Sends due outbox rows through one sink, one at a time."""

    def __init__(
        self,
        store: Store,
        sink: Sink,
        *,
        clock: Clock = utcnow,
        limits: Limits | None = None,
        rng: random.Random | None = None,
        channels: Callable[[], Mapping[str, Channel]] | None = None,
    ) -> None:
        """`channels` returns the channels configured now (None: send each row to the chat
        id it was queued with, as tests of the sender alone do)."""
        self.store = store
        self.sink = sink
        self.channels = channels
        self.unconfigured: dict[str, int] = {}  # channel → unsent rows, when last noticed
        self._migrations: dict[int | str, int | str] | None = None
        self.clock = clock
        self.limits = limits or Limits()
        self.pacer = Pacer(self.limits)
        self.rng = rng or random.Random()
        self.paused_until = 0.0
        self.transient_streak = 0
        self._wake = asyncio.Event()
        self._unrecorded: tuple[OutboxRow, object] | None = None

    def wake(self) -> None:
        """New rows were enqueued: look at the outbox now."""
        self._wake.set()

    def _now(self) -> float:
        return self.clock().timestamp()

    def _next(self) -> tuple[OutboxRow | None, float | None]:
        """Claim the next sendable row, or say how long to wait (None: nothing pending)."""
        now = self._now()
        if now < self.paused_until:
            return None, self.paused_until - now
        wait: float | None = None
        configured = self.channels() if self.channels is not None else None
        stuck: set[str] = set()
        for group in self.store.due_groups(self.clock()):
            chat = self._resolve(group, configured)
            if chat is None:
                stuck.add(group.channel)
                continue
            ready = self.pacer.ready_at(chat, now)
            if ready <= now:
                row = self.store.claim(group.first_id, chat)
                if row is not None:
                    return row, None
            else:
                wait = ready - now if wait is None else min(wait, ready - now)
        self._note_unconfigured(stuck, configured)
        if wait is None:
            due = self.store.next_due_at(skip_channels=stuck)
            if due is not None:
                wait = max(0.0, from_iso(due).timestamp() - now)
        return None, wait

    def _resolve(
        self, group: DueGroup, configured: Mapping[str, Channel] | None
    ) -> int | str | None:
        """Where `group`'s rows go now: the channel's configured chat id (None when the
        channel is not configured), after Telegram's chat migrations."""
        if configured is None:
            chat = group.chat_id
        else:
            channel = configured.get(group.channel)
            if channel is None:
                return None
            chat = channel.chat_id
        if self._migrations is None:
            self._migrations = self.store.chat_migrations()
        seen: set[int | str] = set()
        while chat in self._migrations and chat not in seen:
            seen.add(chat)
            chat = self._migrations[chat]
        return chat

    def _note_unconfigured(self, stuck: set[str], configured: Mapping[str, Channel] | None) -> None:
        """Log once per channel that its rows wait for it to be configured again."""
        if configured is not None:
            for channel in [c for c in self.unconfigured if c in configured]:
                del self.unconfigured[channel]
                log.info("outbox: channel %s is configured again; sending its alerts", channel)
        new = stuck - self.unconfigured.keys()
        if not new:
            return
        pending = self.store.pending_by_channel()
        for channel in sorted(new):
            count = pending.get(channel, 0)
            self.unconfigured[channel] = count
            log.warning(
                "outbox: channel %s is not in the configuration any more; %s to it stay "
                "pending until a [channels.%s] table is back in rules.toml",
                channel,
                plural(count, "alert"),
                channel,
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Send rows as they become due until `stop` is set."""
        while not stop.is_set():
            try:
                self._record_unrecorded()
                row, wait = self._next()
                if row is not None:
                    await self._send(row)
                    continue
            except StoreError as exc:  # disk full, locked: rows stay where they are
                log.error("dispatcher: database: %s; retrying in 5s", exc)
                row, wait = None, 5.0
            self._wake.clear()
            timeout = 30.0 if wait is None else max(0.01, min(wait, 30.0))
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        if self._unrecorded is not None:
            try:
                self._record_unrecorded()
            except StoreError as exc:
                log.error("dispatcher: database: %s; the last send stays unrecorded", exc)

    def _record_unrecorded(self) -> None:
        """Record the last send's outcome, if a database error kept it from being recorded.

        Until then nothing else is claimed, so a delivered message is marked sent once the
        database can be written again (not sent twice), and a failed one is released (not
        left 'sending' until the next start).
        """
        if self._unrecorded is not None:
            row, outcome = self._unrecorded
            self._apply(row, outcome)
            self._unrecorded = None

    async def drain(self, grace: float = 30.0, give_up_after: int = 3) -> int:
        """Send everything due now or within `grace` seconds; return how many stay pending.

        After `give_up_after` network failures in a row (Telegram down), stop trying: the
        rows stay pending for the next run.
        """
        while True:
            row, wait = self._next()
            if row is not None:
                await self._send(row)
                continue
            if wait is None or wait > grace or self.transient_streak >= give_up_after:
                return self.store.outbox_counts().pending
            await asyncio.sleep(max(0.01, wait))

    async def _send(self, row: OutboxRow) -> None:
        message = Message(row.id, row.chat_id, row.html, row.plain, row.link, row.as_plain)
        try:
            outcome = await self.sink.send(message)
        except asyncio.CancelledError:
            self.store.release(row.id, self.clock())
            raise
        except Exception as exc:  # a sink bug must not kill the sender or lose the row
            log.exception("outbox #%d: sink %s raised", row.id, self.sink.name)
            outcome = Transient(f"{type(exc).__name__}: {exc}")
        self._unrecorded = (row, outcome)
        self._record_unrecorded()

    def _apply(self, row: OutboxRow, outcome: object) -> None:
        now = self.clock()
        match outcome:
            case Sent(message_id=message_id):
                self.store.mark_sent(row.id, now, message_id)
                self.pacer.record(row.chat_id, now.timestamp())
                self.transient_streak = 0
                log.info("outbox #%d: delivered to %s (%s)", row.id, row.channel, row.chat_id)
            case RetryLater(seconds=seconds, error=error):
                self.pacer.record(row.chat_id, now.timestamp())
                pause = seconds + self.rng.uniform(0.0, 1.0)
                self.paused_until = now.timestamp() + pause
                self.store.release(row.id, now + timedelta(seconds=pause), error=error)
                log.warning("outbox #%d: flood control, pausing %.0fs: %s", row.id, pause, error)
            case Transient(error=error):
                streak = self.transient_streak + 1
                limits = self.limits
                delay = backoff(
                    streak,
                    limits.backoff_base,
                    limits.backoff_cap,
                    jitter=limits.backoff_jitter,
                    rng=self.rng,
                )
                self.store.release(
                    row.id, now + timedelta(seconds=delay), error=error, count_attempt=True
                )
                self.transient_streak = streak
                self.paused_until = now.timestamp() + delay
                log.warning("outbox #%d: %s; retrying in %.1fs", row.id, error, delay)
            case BadMarkup(error=error) if not row.as_plain:
                self.store.release(row.id, now, error=error, count_attempt=True, as_plain=True)
                log.warning("outbox #%d: %s; resending as plain text", row.id, error)
            case BadMarkup(error=error) | Permanent(error=error):
                self.store.mark_failed(row.id, error)
                log.error(
                    "outbox #%d to %s (%s) failed for good: %s; once fixed (e.g. chat_id in "
                    "rules.toml), /retry or `vedette retry-failed` sends it again",
                    row.id,
                    row.channel or "?",
                    row.chat_id,
                    error,
                )
            case Migrated(new_chat_id=new_chat_id, error=error):
                self.store.release(row.id, now, error=error)
                moved = self.store.migrate_chat(row.chat_id, new_chat_id, now)
                self._migrations = None  # read again, with this one
                log.warning(
                    "chat %s of channel %s became supergroup %s; %s moved there "
                    "(set chat_id = %s in rules.toml)",
                    row.chat_id,
                    row.channel or "?",
                    new_chat_id,
                    plural(moved, "unsent alert"),
                    new_chat_id,
                )
            case _:
                self.store.release(row.id, now, error=f"unexpected outcome {outcome!r}")


async def stop_dispatcher(task: asyncio.Task[None], grace: float) -> None:
    """Let the dispatcher finish its in-flight send for up to `grace` s, then cancel it."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), grace)
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
