"""The dispatcher's error matrix and pacing, through a scripted sink on a real store."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from bot.dispatcher import Limits, Pacer
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
from bot.store import Store
from bot.store.base import StoreError
from tests.fakes.scripted_sink import ScriptedSink
from tests.helpers import Clock, dispatcher, enqueue, outbox_rows, run_sender_until


async def test_sends_in_order_and_marks_sent(store: Store) -> None:
    """Due rows go out oldest first and are marked sent with the message id."""
    clock = Clock()
    enqueue(store, clock(), "a", "b", "c")
    sink = ScriptedSink(clock)
    assert await dispatcher(store, sink, clock).drain() == 0
    assert [m.plain for m in sink.messages] == ["a", "b", "c"]
    assert [r["message_id"] for r in outbox_rows(store, "sent")] == [1, 2, 3]


async def test_retry_after_pauses_and_does_not_count_an_attempt(store: Store) -> None:
    """A 429 puts the row back, due after retry_after, without counting an attempt."""
    clock = Clock()
    enqueue(store, clock(), "a")
    sink = ScriptedSink(clock, RetryLater(30, "Too Many Requests: retry after 30"))
    sender = dispatcher(store, sink, clock)
    assert await sender.drain(grace=0) == 1
    row = outbox_rows(store, "pending")[0]
    assert row["attempts"] == 0
    assert row["not_before"] >= (clock.now + timedelta(seconds=30)).isoformat(
        timespec="milliseconds"
    )
    clock.advance(29)
    assert await sender.drain(grace=0) == 1
    clock.advance(2)
    assert await sender.drain(grace=0) == 0
    assert len(sink.messages) == 2


async def test_transient_errors_back_off_and_keep_the_row(store: Store) -> None:
    """Timeouts and 5xx retry with growing delays; nothing is dropped."""
    clock = Clock()
    enqueue(store, clock(), "a", "b")
    sink = ScriptedSink(clock, Transient("timed out"), Transient("HTTP 502"), Transient("x"))
    sender = dispatcher(store, sink, clock, backoff_base=2.0, backoff_cap=300.0)
    delays = []
    for _ in range(3):
        await sender.drain(grace=0)
        delays.append(sender.paused_until - clock.now.timestamp())
        clock.advance(delays[-1] + 0.01)
    assert delays[0] < delays[1] < delays[2]
    assert await sender.drain(grace=0) == 0
    assert [m.plain for m in sink.messages] == ["a", "a", "a", "a", "b"]
    assert outbox_rows(store, "sent")[0]["attempts"] == 3


async def test_bad_markup_is_resent_as_plain_text_once(store: Store) -> None:
    """ "can't parse entities" resends the plain text; a second failure fails the row."""
    clock = Clock()
    enqueue(store, clock(), "a", "b")
    sink = ScriptedSink(
        clock,
        BadMarkup("Bad Request: can't parse entities"),
        Sent(5),
        BadMarkup("Bad Request: can't parse entities"),
        BadMarkup("Bad Request: can't parse entities"),
    )
    await dispatcher(store, sink, clock).drain()
    assert [(m.plain, m.as_plain) for m in sink.messages] == [
        ("a", False),
        ("a", True),
        ("b", False),
        ("b", True),
    ]
    assert [r["plain"] for r in outbox_rows(store, "sent")] == ["a"]
    assert [r["plain"] for r in outbox_rows(store, "failed")] == ["b"]


async def test_permanent_error_fails_the_row_and_goes_on(store: Store) -> None:
    """Chat not found fails that row and the next one is still sent."""
    clock = Clock()
    enqueue(store, clock(), "a", chat=-1)
    enqueue(store, clock(), "b", chat=-2)
    sink = ScriptedSink(clock, Permanent("Bad Request: chat not found"))
    await dispatcher(store, sink, clock).drain()
    assert outbox_rows(store, "failed")[0]["last_error"] == "Bad Request: chat not found"
    assert [r["plain"] for r in outbox_rows(store, "sent")] == ["b"]


async def test_migrated_chat_moves_rows_and_resends(store: Store) -> None:
    """A supergroup migration resends to the new id, and later rows follow it."""
    clock = Clock()
    enqueue(store, clock(), "a", "b", chat=-5)
    sink = ScriptedSink(clock, Migrated(-100777, "migrated"))
    await dispatcher(store, sink, clock).drain()
    assert [m.chat_id for m in sink.messages] == [-5, -100777, -100777]
    assert store.outbox_counts().sent == 2


async def test_a_sink_that_raises_loses_nothing(store: Store) -> None:
    """An unexpected exception from a sink is a transient failure, not a lost row."""
    clock = Clock()
    enqueue(store, clock(), "a")

    class Broken(ScriptedSink):
        async def send(self, message: Message) -> SendOutcome:
            raise RuntimeError("bug")

    sender = dispatcher(store, Broken(clock), clock)
    assert await sender.drain(grace=0) == 1
    assert outbox_rows(store, "pending")[0]["last_error"] == "RuntimeError: bug"


async def test_cancel_during_send_puts_the_row_back(store: Store) -> None:
    """Stopping mid-send leaves the row pending, never stuck in 'sending'."""
    clock = Clock()
    enqueue(store, clock(), "a")
    started = asyncio.Event()

    class Slow(ScriptedSink):
        async def send(self, message: Message) -> SendOutcome:
            started.set()
            await asyncio.sleep(60)
            return Sent(1)

    task = asyncio.create_task(dispatcher(store, Slow(clock), clock).drain())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [r["state"] for r in outbox_rows(store)] == ["pending"]


async def test_run_wakes_for_new_rows_and_stops(store: Store) -> None:
    """The long-running loop sends rows enqueued later and ends when stop is set."""
    clock = Clock()
    sink = ScriptedSink(clock)
    sender = dispatcher(store, sink, clock)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    await asyncio.sleep(0.05)
    enqueue(store, clock(), "a")
    sender.wake()
    for _ in range(100):
        if sink.messages:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert [m.plain for m in sink.messages] == ["a"]


def test_pacer_allows_twenty_per_minute_per_chat() -> None:
    """The 21st message to one chat waits for the window; other chats are not held up."""
    pacer = Pacer(Limits(per_chat=20, per_chat_window=60.0, overall_per_second=30))
    for second in range(20):
        assert pacer.ready_at(-1, float(second)) == float(second)
        pacer.record(-1, float(second))
    assert pacer.ready_at(-1, 20.0) == 60.0
    assert pacer.ready_at(-2, 20.0) == 20.0
    assert pacer.ready_at(-1, 60.0) == 60.0


def test_pacer_keeps_a_gap_between_messages_to_one_chat() -> None:
    """Two messages to one chat are at least `per_chat_gap` apart."""
    pacer = Pacer(Limits(per_chat_gap=1.0))
    pacer.record(-1, 10.0)
    assert pacer.ready_at(-1, 10.2) == 11.0
    assert pacer.ready_at(-2, 10.2) == 10.2


class FlakyStore(Store):
    """A store whose first `mark_sent` fails like a full disk."""

    failed = False

    def mark_sent(self, row_id: int, now: datetime, message_id: int | None) -> None:
        if not self.failed:
            self.failed = True
            raise StoreError(f"{self.path}: cannot commit: database or disk is full")
        super().mark_sent(row_id, now, message_id)


async def test_a_database_error_does_not_stop_the_sender(store: Store) -> None:
    """A send whose outcome cannot be written is recorded once the database can be written
    again, before anything else is sent: the loop keeps going and nothing is sent twice."""
    flaky = FlakyStore(store.db, store.path)
    clock = Clock()
    enqueue(flaky, clock(), "a")
    sink = ScriptedSink(clock)
    sender = dispatcher(flaky, sink, clock)
    await run_sender_until(sender, lambda: flaky.outbox_counts().sent > 0, wakes=1000)
    assert flaky.failed
    assert flaky.outbox_counts().sent == 1
    assert [m.plain for m in sink.messages] == ["a"]


def test_pacer_overall_limit() -> None:
    """At most 30 messages a second across all chats."""
    pacer = Pacer(Limits(per_chat=100, per_chat_window=60.0, overall_per_second=30))
    for index in range(30):
        pacer.record(index, 0.5)
    assert pacer.ready_at(99, 0.9) == 1.5


async def test_pacing_spaces_a_burst_to_one_chat(store: Store) -> None:
    """With a limit of 2 per window, the third row waits until the window has passed."""
    clock = Clock()
    enqueue(store, clock(), "a", "b", "c")
    sink = ScriptedSink(clock)
    sender = dispatcher(store, sink, clock, per_chat=2, per_chat_window=60.0)
    assert await sender.drain(grace=0) == 1
    assert len(sink.messages) == 2
    clock.advance(60)
    assert await sender.drain(grace=0) == 0
    assert len(sink.messages) == 3
