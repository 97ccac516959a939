"""Route alerts edited in place: a rule that keeps firing has its alert re-rendered when its
count, flights or coverage change, and its sent message edited (issue 12). A loopback fake
OpenSky through real httpx into SQLite, the rules evaluated on a clock the test moves, the
outbox delivered by the real dispatcher (to the fake Bot API through python-telegram-bot, or
to a scripted sink)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.sinks import Transient
from bot.store import Store
from bot.telegram.sink import TelegramSink
from tests.fakes.opensky_api import FakeOpenSky
from tests.fakes.scripted_sink import ScriptedSink
from tests.fakes.telegram_api import TEST_CHAT_ID, TEST_TOKEN, FakeTelegramAPI
from tests.flights import Flights, at, flight_config
from tests.helpers import Clock, dispatcher, outbox_rows

RULE = """
[[rules]]
id = "ben-msq"
kind = "route"
from = "BEN"
to = "MSQ"
window = "90d"
at_least = 3
channel = "main"
"""


def fly(opensky: FakeOpenSky, departs: datetime) -> None:
    """A BRU8801 flight HLLB→UMMS departing at `departs`, landing four hours later."""
    opensky.add_flight(icao24="510123", first_seen=departs, last_seen=departs + timedelta(hours=4))


def rows(store: Store, kind: str) -> list[dict[str, object]]:
    return [row for row in outbox_rows(store) if row["kind"] == kind]


@pytest.fixture
async def telegram(
    telegram_api: FakeTelegramAPI, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TelegramSink]:
    """The real Telegram sink over python-telegram-bot, talking to the fake Bot API."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    request = HTTPXRequest(
        connect_timeout=2.0, read_timeout=2.0, write_timeout=2.0, pool_timeout=2.0
    )
    bot = Bot(TEST_TOKEN, base_url=telegram_api.base_url, request=request)
    await bot.initialize()
    try:
        yield TelegramSink(bot, secret=TEST_TOKEN)
    finally:
        await bot.shutdown()
    assert telegram_api.violations == []


@pytest.fixture
def opensky(opensky_api: FakeOpenSky) -> FakeOpenSky:
    """The fake OpenSky with credits to spare and three flights in May, June and July."""
    opensky_api.credits = 10**6
    for day in ("2026-05-02", "2026-06-05", "2026-07-01"):
        fly(opensky_api, at(day, 9))
    return opensky_api


async def test_a_failed_day_fetched_later_edits_the_sent_alert(
    store: Store,
    opensky: FakeOpenSky,
    telegram_api: FakeTelegramAPI,
    telegram: TelegramSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The rule fires one flight short while a day failed twice (its first attempt and
    its retry); once the day is fetched, its message is edited to the full count and
    complete coverage, never sent twice."""
    fly(opensky, at("2026-07-04", 23))  # lands on the 5th: only the 4th's departures list it
    clock = Clock(at("2026-07-05"))
    sender = dispatcher(store, telegram, clock)
    async with httpx.AsyncClient() as client:
        bot = Flights(store, flight_config(opensky, RULE, chat_id=TEST_CHAT_ID), clock, client)
        opensky.fail_next("500")  # the first query: HLLB departures of 2026-07-04
        assert await bot.step(at("2026-07-05", 11), failing=True) == 0  # waits for a retry
        opensky.fail_next("500")  # the retry, the next poll's first query
        assert await bot.step(at("2026-07-05", 12), failing=True) == 1
        assert await sender.drain(grace=0) == 0
        (sent,) = telegram_api.messages_to(TEST_CHAT_ID)
        assert sent.visible_text.startswith("✈ BEN→MSQ: 3 flights in the last 90 days")
        assert "incomplete coverage: 1 day failed (2026-07-04)" in sent.visible_text

        with caplog.at_level(logging.INFO, logger="bot.flights.pollers"):
            assert await bot.step(at("2026-07-05", 13)) == 0
        (alert,) = rows(store, "alert")
        (edit,) = rows(store, "edit")
        assert (edit["target_id"], edit["state"]) == (alert["id"], "pending")
        assert await sender.drain(grace=0) == 0

    shown = telegram_api.current_message(TEST_CHAT_ID, sent.message_id)
    assert shown is not None
    assert shown.visible_text.startswith("✈ BEN→MSQ: 4 flights in the last 90 days")
    assert "• 2026-07-04 BRU8801 510123" in shown.visible_text
    assert "at least 3 · complete coverage" in shown.visible_text
    assert "failed" not in shown.visible_text
    assert len(telegram_api.calls_to("sendMessage")) == 1
    assert len(telegram_api.calls_to("editMessageText")) == 1
    assert [row["state"] for row in outbox_rows(store)] == ["sent", "sent"]
    assert "route rule ben-msq: alert updated: 4 flights in 90 days, complete coverage" in (
        caplog.text
    )


async def test_a_growing_count_edits_the_alert_once_with_the_new_flight(
    store: Store, opensky: FakeOpenSky
) -> None:
    """A fourth flight while the rule fires: one edit, whose text lists it."""
    clock = Clock(at("2026-07-05"))
    sink = ScriptedSink(clock)
    sender = dispatcher(store, sink, clock)
    async with httpx.AsyncClient() as client:
        bot = Flights(store, flight_config(opensky, RULE, chat_id=TEST_CHAT_ID), clock, client)
        assert await bot.step(at("2026-07-05")) == 1
        await sender.drain(grace=0)
        fly(opensky, at("2026-07-10", 9))
        assert await bot.step(at("2026-07-12")) == 0
        assert await bot.step(at("2026-07-12", 13)) == 0
        assert len(rows(store, "edit")) == 1
        await sender.drain(grace=0)
    (message,) = sink.messages
    (edit,) = sink.edits
    assert edit.message_id == 1
    assert edit.plain.startswith("✈ BEN→MSQ: 4 flights in the last 90 days")
    assert "• 2026-07-10 BRU8801 510123" in edit.plain
    assert "• 2026-07-10 BRU8801 510123" in edit.html
    assert "• 2026-07-10" not in message.plain
    (alert,) = rows(store, "alert")
    assert alert["plain"] == edit.plain


async def test_nothing_changed_no_edit_even_after_a_restart(
    store: Store, opensky: FakeOpenSky
) -> None:
    """Later evaluations with the same flights and coverage (days fetched again, the
    evaluator started afresh) queue no edit."""
    clock = Clock(at("2026-07-05"))
    sink = ScriptedSink(clock)
    async with httpx.AsyncClient() as client:
        bot = Flights(store, flight_config(opensky, RULE, chat_id=TEST_CHAT_ID), clock, client)
        assert await bot.step(at("2026-07-05")) == 1
        await dispatcher(store, sink, clock).drain(grace=0)
        for when in (at("2026-07-05", 13), at("2026-07-06"), at("2026-07-07")):
            assert await bot.step(when) == 0
        again = Flights(store, flight_config(opensky, RULE, chat_id=TEST_CHAT_ID), clock, client)
        assert await again.step(at("2026-07-07", 13)) == 0
    assert store.route_state("ben-msq").firing is True
    assert rows(store, "edit") == []
    assert len(sink.messages) == 1


async def test_a_pending_alert_is_sent_with_the_new_text_and_no_edit(
    store: Store, opensky: FakeOpenSky
) -> None:
    """Telegram is down when the count changes: the alert's text is replaced, no edit is
    queued, and the eventual send shows the new count."""
    clock = Clock(at("2026-07-05"))
    sink = ScriptedSink(clock, Transient("connection refused"))
    async with httpx.AsyncClient() as client:
        bot = Flights(store, flight_config(opensky, RULE, chat_id=TEST_CHAT_ID), clock, client)
        assert await bot.step(at("2026-07-05")) == 1
        assert await dispatcher(store, sink, clock).drain(grace=0) == 1
        fly(opensky, at("2026-07-10", 9))
        assert await bot.step(at("2026-07-12")) == 0
    assert rows(store, "edit") == []
    assert await dispatcher(store, sink, clock).drain(grace=0) == 0
    first, second = sink.messages
    assert first.plain.startswith("✈ BEN→MSQ: 3 flights")
    assert second.plain.startswith("✈ BEN→MSQ: 4 flights")
    assert "• 2026-07-10 BRU8801 510123" in second.plain
    assert sink.edits == []


async def test_after_rearming_a_new_episode_is_a_new_message(
    store: Store, opensky: FakeOpenSky
) -> None:
    """The rule re-arms (a flight leaves the window) and fires again: a second message; the
    first is never edited."""
    clock = Clock(at("2026-07-05"))
    sink = ScriptedSink(clock)
    async with httpx.AsyncClient() as client:
        bot = Flights(store, flight_config(opensky, RULE, chat_id=TEST_CHAT_ID), clock, client)
        assert await bot.step(at("2026-07-05")) == 1
        await dispatcher(store, sink, clock).drain(grace=0)
        assert await bot.step(at("2026-08-01")) == 0  # 2026-05-02 left the 90 days
        assert store.route_state("ben-msq").firing is False
        fly(opensky, at("2026-08-03", 9))
        assert await bot.step(at("2026-08-05")) == 1
        await dispatcher(store, sink, clock).drain(grace=0)
        assert await bot.step(at("2026-08-05", 13)) == 0
    first, second = sink.messages
    assert "• 2026-05-02" in first.plain
    assert "• 2026-08-03 BRU8801 510123" in second.plain
    assert rows(store, "edit") == []
    assert [row["dedup_key"] for row in rows(store, "alert")] == [
        "route|ben-msq|1",
        "route|ben-msq|2",
    ]
    assert rows(store, "alert")[0]["plain"] == first.plain


async def test_an_alert_held_by_a_mute_is_left_alone(store: Store, opensky: FakeOpenSky) -> None:
    """A muted rule's episode has no outbox row: a later change queues nothing."""
    clock = Clock(at("2026-07-05"))
    store.mute("ben-msq", at("2026-09-01"), None, at("2026-07-01"))
    async with httpx.AsyncClient() as client:
        bot = Flights(store, flight_config(opensky, RULE, chat_id=TEST_CHAT_ID), clock, client)
        assert await bot.step(at("2026-07-05")) == 0
        assert store.route_state("ben-msq").firing is True
        fly(opensky, at("2026-07-10", 9))
        assert await bot.step(at("2026-07-12")) == 0
    assert outbox_rows(store) == []
    assert store.muted_count() == 1


async def test_two_changes_before_the_edit_is_sent_make_one_edit(
    store: Store, opensky: FakeOpenSky
) -> None:
    """Edits are coalesced: two changes before the first edit is sent make one edit row,
    carrying the latest text."""
    clock = Clock(at("2026-07-05"))
    sink = ScriptedSink(clock)
    async with httpx.AsyncClient() as client:
        bot = Flights(store, flight_config(opensky, RULE, chat_id=TEST_CHAT_ID), clock, client)
        assert await bot.step(at("2026-07-05")) == 1
        await dispatcher(store, sink, clock).drain(grace=0)
        fly(opensky, at("2026-07-10", 9))
        assert await bot.step(at("2026-07-12")) == 0
        fly(opensky, at("2026-07-11", 9))
        assert await bot.step(at("2026-07-13")) == 0
        assert len(rows(store, "edit")) == 1
        await dispatcher(store, sink, clock).drain(grace=0)
    (edit,) = sink.edits
    assert edit.plain.startswith("✈ BEN→MSQ: 5 flights")


async def test_a_failed_backfill_day_holds_the_rule_until_its_retry(
    store: Store, opensky: FakeOpenSky
) -> None:
    """One airport-day answers 500 during the backfill: nothing fires (the count would be a
    flight short); the next poll retries that day first, and the first alert has the full
    count and complete coverage."""
    fly(opensky, at("2026-07-04", 23))  # only the 4th's HLLB departures list it
    clock = Clock(at("2026-07-05", 11))
    async with httpx.AsyncClient() as client:
        bot = Flights(store, flight_config(opensky, RULE, chat_id=TEST_CHAT_ID), clock, client)
        opensky.fail_next("500")  # HLLB departures of 2026-07-04, the first query
        assert await bot.step(at("2026-07-05", 11), failing=True) == 0
        assert outbox_rows(store) == []
        (state,) = store.route_states()
        assert "1 failed day to fetch again (2026-07-04)" in state["summary"]
        assert "not evaluated" in state["summary"]
        asked = len(opensky.requests)
        assert await bot.step(at("2026-07-05", 12)) == 1
    retry = opensky.requests[asked]
    assert (retry.path, retry.params["airport"]) == ("/api/flights/departure", "HLLB")
    assert retry.params["begin"] == str(int(at("2026-07-04", 0).timestamp()))
    (alert,) = rows(store, "alert")
    assert str(alert["plain"]).startswith("✈ BEN→MSQ: 4 flights in the last 90 days")
    assert "• 2026-07-04 BRU8801 510123" in str(alert["plain"])
    assert "at least 3 · complete coverage" in str(alert["plain"])


async def test_a_failed_retry_fires_once_with_the_gap(store: Store, opensky: FakeOpenSky) -> None:
    """The retry fails too: the rule fires (bounded wait) with the day reported as a gap,
    and a third failure sends nothing more."""
    fly(opensky, at("2026-07-04", 23))
    clock = Clock(at("2026-07-05", 10))
    async with httpx.AsyncClient() as client:
        bot = Flights(store, flight_config(opensky, RULE, chat_id=TEST_CHAT_ID), clock, client)
        opensky.fail_next("500")
        assert await bot.step(at("2026-07-05", 10), failing=True) == 0
        opensky.fail_next("500")
        assert await bot.step(at("2026-07-05", 11), failing=True) == 1
        opensky.fail_next("500")
        assert await bot.step(at("2026-07-05", 12), failing=True) == 0
    (alert,) = rows(store, "alert")
    assert str(alert["plain"]).startswith("✈ BEN→MSQ: 3 flights in the last 90 days")
    assert "incomplete coverage: 1 day failed (2026-07-04)" in str(alert["plain"])
    assert rows(store, "edit") == []
