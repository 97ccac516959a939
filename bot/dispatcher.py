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
from datetime import datetime, timedelta
from typing import Any

from bot.config.types import Channel
from bot.sinks import (
    BadMarkup,
    Edit,
    Message,
    Migrated,
    Permanent,
    RetryLater,
    Sent,
    Sink,
    Transient,
)
from bot.store import Store
from bot.store.base import StoreError
from bot.store.records import DueGroup, OutboxRow
from bot.story_text import digest, story_note, with_sources
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


@dataclass(frozen=True, slots=True)
class Batch:
    """What one request sends: an alert, an edit of a message, or a digest of alerts."""

    rows: tuple[OutboxRow, ...]
    kind: str  # "alert", "edit" or "digest"

    @property
    def first(self) -> OutboxRow:
        """The row that names the request in logs (a digest's first alert)."""
        return self.rows[0]


DIGEST_CLAIM = 100  # alerts claimed for one digest message; those that do not fit go back


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
        digest_after: Callable[[], int] | None = None,
    ) -> None:
        """`channels` returns the channels configured now (None: send each row to the chat
        id it was queued with, as tests of the sender alone do); `digest_after` the number of
        news alerts due at once for a channel above which they go out as digests (None:
        never)."""
        self.store = store
        self.digest_after = digest_after
        self.digesting: set[str] = set()  # channels whose backlog goes out as digests
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
        self._unrecorded: tuple[Batch, object] | None = None

    def wake(self) -> None:
        """New rows were enqueued: look at the outbox now."""
        self._wake.set()

    def _now(self) -> float:
        return self.clock().timestamp()

    def _next(self) -> tuple[Batch | None, float | None]:
        """Claim the next sendable batch, or say how long to wait (None: nothing pending)."""
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
                batch = self._claim(group, chat)
                if batch is not None:
                    return batch, None
            else:
                wait = ready - now if wait is None else min(wait, ready - now)
        self._note_unconfigured(stuck, configured)
        if wait is None:
            due = self.store.next_due_at(skip_channels=stuck)
            if due is not None:
                wait = max(0.0, from_iso(due).timestamp() - now)
        return None, wait

    def _claim(self, group: DueGroup, chat: int | str) -> Batch | None:
        """Claim `group`'s next batch: a digest while its channel has a backlog of news
        alerts (more than `digest_after` due at once, until none is due), else its oldest
        row."""
        if self.digest_after is not None:
            due = self.store.due_news(group.channel, group.chat_id, self.clock())
            if due > self.digest_after():
                self.digesting.add(group.channel)
            elif not due:
                self.digesting.discard(group.channel)
            if group.channel in self.digesting:
                rows = self.store.claim_digest(
                    group.channel, group.chat_id, chat, self.clock(), DIGEST_CLAIM
                )
                if rows:
                    return self._fit_digest(rows)
        row = self.store.claim(group.first_id, chat)
        if row is None:
            return None
        return Batch((row,), row.kind)

    def _fit_digest(self, rows: list[OutboxRow]) -> Batch:
        """The claimed rows that fit in one digest message; the others go back in line."""
        _, fits = digest(rows, self.store.story_sources([row.id for row in rows]))
        for row in rows[fits:]:
            self.store.release(row.id, from_iso(row.created_at))
        return Batch(tuple(rows[:fits]), "digest")

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
                batch, wait = self._next()
                if batch is not None:
                    await self._send(batch)
                    continue
            except StoreError as exc:  # disk full, locked: rows stay where they are
                log.error("dispatcher: database: %s; retrying in 5s", exc)
                wait = 5.0
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
            batch, outcome = self._unrecorded
            self._apply(batch, outcome)
            self._unrecorded = None

    async def drain(self, grace: float = 30.0, give_up_after: int = 3) -> int:
        """Send everything due now or within `grace` seconds; return how many stay pending.

        After `give_up_after` network failures in a row (Telegram down), stop trying: the
        rows stay pending for the next run.
        """
        while True:
            batch, wait = self._next()
            if batch is not None:
                await self._send(batch)
                continue
            if wait is None or wait > grace or self.transient_streak >= give_up_after:
                return self.store.outbox_counts().pending
            await asyncio.sleep(max(0.01, wait))

    async def _send(self, batch: Batch) -> None:
        try:
            outcome = await self._deliver(batch)
        except asyncio.CancelledError:
            for row in batch.rows:
                self.store.release(row.id, self.clock())
            raise
        except StoreError:
            for row in batch.rows:  # composing the text failed: the rows wait, unsent
                self.store.release(row.id, self.clock())
            raise
        except Exception as exc:  # a sink bug must not kill the sender or lose the row
            log.exception("outbox #%d: sink %s raised", batch.first.id, self.sink.name)
            outcome = Transient(f"{type(exc).__name__}: {exc}")
        self._unrecorded = (batch, outcome)
        self._record_unrecorded()

    async def _deliver(self, batch: Batch) -> object:
        """Compose the batch's text (a story's sources, a digest) and hand it to the sink."""
        row = batch.first
        if batch.kind == "digest":
            rendered, _ = digest(batch.rows, self.store.story_sources([r.id for r in batch.rows]))
            return await self.sink.send(
                Message(row.id, row.chat_id, rendered.html, rendered.plain, "", row.as_plain)
            )
        if batch.kind == "edit":
            return await self.sink.edit(self._edit(row))
        members = self.store.story_members(row.id)
        html_text, plain = with_sources(row.html, row.plain, members)
        return await self.sink.send(
            Message(row.id, row.chat_id, html_text, plain, row.link, row.as_plain, row.photo)
        )

    def _edit(self, row: OutboxRow) -> Edit:
        """The edit of row's target message: a digest again, or the alert with its story's
        sources (a route alert: its new text)."""
        target = row.target_id
        assert target is not None  # noqa: S101 - edit rows have a target
        in_digest = self.store.digest_rows(target)
        if in_digest:
            rendered, fits = digest(in_digest, self.store.story_sources([r.id for r in in_digest]))
            if fits < len(in_digest):  # the stories' counts would push alerts out: drop them
                rendered, _ = digest(in_digest, {})  # (fits: the digest fitted with counts ≥ 1)
            note = f"digest #{target} updated: {plural(len(in_digest), 'alert')}"
            return Edit(
                row.id,
                row.chat_id,
                row.message_id,
                rendered.html,
                rendered.plain,
                note,
                as_plain=row.as_plain,
            )
        members = self.store.story_members(target)
        html_text, plain = with_sources(row.html, row.plain, members)
        first_line = plain.partition("\n")[0]
        if members:
            note = story_note(row.title or first_line, members)
        else:
            note = f"alert #{target} updated: {first_line}"
        return Edit(
            row.id,
            row.chat_id,
            row.message_id,
            html_text,
            plain,
            note,
            row.link,
            row.as_plain,
            caption=row.photo is not None,
        )

    def _release(self, batch: Batch, not_before: datetime, **changes: Any) -> None:
        for row in batch.rows:
            self.store.release(row.id, not_before, **changes)

    def _apply(self, batch: Batch, outcome: object) -> None:
        now = self.clock()
        row = batch.first
        what = {"alert": "outbox", "edit": "edit", "digest": "digest"}[batch.kind]
        match outcome:
            case Sent(message_id=message_id):
                if batch.kind == "digest":
                    self.store.mark_digest_sent([r.id for r in batch.rows], now, message_id)
                else:
                    self.store.mark_sent(row.id, now, message_id)
                self.pacer.record(row.chat_id, now.timestamp())
                self.transient_streak = 0
                log.info(
                    "%s #%d: delivered to %s (%s)%s",
                    what,
                    row.id,
                    row.channel,
                    row.chat_id,
                    f", {plural(len(batch.rows), 'alert')}" if batch.kind == "digest" else "",
                )
            case RetryLater(seconds=seconds, error=error):
                self.pacer.record(row.chat_id, now.timestamp())
                pause = seconds + self.rng.uniform(0.0, 1.0)
                self.paused_until = now.timestamp() + pause
                self._release(batch, now + timedelta(seconds=pause), error=error)
                log.warning("%s #%d: flood control, pausing %.0fs: %s", what, row.id, pause, error)
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
                self._release(
                    batch, now + timedelta(seconds=delay), error=error, count_attempt=True
                )
                self.transient_streak = streak
                self.paused_until = now.timestamp() + delay
                log.warning("%s #%d: %s; retrying in %.1fs", what, row.id, error, delay)
            case BadMarkup(error=error) if not row.as_plain:
                self._release(batch, now, error=error, count_attempt=True, as_plain=True)
                log.warning("%s #%d: %s; resending as plain text", what, row.id, error)
            case Migrated(new_chat_id=new_chat_id, error=error) if batch.kind == "edit":
                self.store.mark_failed(
                    row.id, f"{error}; a message in the old chat cannot be edited any more"
                )
                log.error("edit #%d: chat became supergroup %s: %s", row.id, new_chat_id, error)
            case BadMarkup(error=error) | Permanent(error=error):
                for failed in batch.rows:
                    self.store.mark_failed(failed.id, error)
                if batch.kind == "edit":
                    log.error(
                        "edit #%d of alert #%s in %s (%s) failed: %s; the alert was sent and is "
                        "not sent again",
                        row.id,
                        row.target_id,
                        row.channel or "?",
                        row.chat_id,
                        error,
                    )
                    return
                log.error(
                    "%s #%d to %s (%s) failed for good: %s; once fixed (e.g. chat_id in "
                    "rules.toml), /retry or `vedette retry-failed` sends it again",
                    what,
                    row.id,
                    row.channel or "?",
                    row.chat_id,
                    error,
                )
            case Migrated(new_chat_id=new_chat_id, error=error):
                self._release(batch, now, error=error)
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
                self._release(batch, now, error=f"unexpected outcome {outcome!r}")


async def stop_dispatcher(task: asyncio.Task[None], grace: float) -> None:
    """Let the dispatcher finish its in-flight send for up to `grace` s, then cancel it."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), grace)
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
