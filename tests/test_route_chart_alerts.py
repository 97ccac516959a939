"""Route alerts with a chart (`chart = true`, issue 13): the alert row carries a PNG of the
route's chart, sent with `sendPhoto` and the alert text as the caption; a text too long for a
caption follows as a second message; a chart that cannot be drawn leaves the text alone. A
loopback fake OpenSky through real httpx into SQLite, the real dispatcher, and the real
Telegram sink over python-telegram-bot talking to the fake Bot API."""

from __future__ import annotations

import io
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from PIL import Image

from bot.chart import ChartError
from bot.config.types import Config, RouteRule
from bot.config.validate import parse_config
from bot.flights.charted import MAX_CAPTION, chart_alert, chart_by
from bot.flights.pollers import OpenSkyPoller, RouteEvaluator
from bot.render import visible_length
from bot.sinks import ConsoleSink, Edit, Message, Permanent, Sent
from bot.store import Store
from bot.telegram.sink import TelegramSink
from tests.fakes.opensky_api import FakeOpenSky
from tests.fakes.telegram_api import TEST_CHAT_ID, FakeTelegramAPI, png_size
from tests.helpers import Clock, dispatcher, new_alert, outbox_rows

NOW = datetime(2026, 7, 5, 12, tzinfo=UTC)


def config(opensky: FakeOpenSky, window: str = "90d") -> Config:
    text = (
        f"[channels.main]\nchat_id = {TEST_CHAT_ID}\n\n"
        '[[sources]]\nid = "sky"\nkind = "opensky"\nairports = ["HLLB", "UMMS"]\n'
        f'lookback = "3d"\napi_url = "{opensky.api_url}"\nauth_url = "{opensky.auth_url}"\n\n'
        '[[rules]]\nid = "ben-msq"\nkind = "route"\nfrom = "BEN"\nto = "MSQ"\n'
        f'window = "{window}"\nat_least = 3\nchart = true\nchannel = "main"\n'
    )
    return parse_config(text, "test.toml")


def fly(opensky: FakeOpenSky, departs: datetime, icao24: str = "510123") -> None:
    opensky.add_flight(icao24=icao24, first_seen=departs, last_seen=departs + timedelta(hours=4))


@pytest.fixture
def opensky(opensky_api: FakeOpenSky) -> FakeOpenSky:
    """The fake OpenSky with credits to spare and three flights in May, June and July."""
    opensky_api.credits = 10**6
    for day in ("2026-05-02", "2026-06-05", "2026-07-01"):
        fly(opensky_api, datetime.fromisoformat(day).replace(hour=9, tzinfo=UTC))
    return opensky_api


@pytest.fixture
def telegram(telegram_sink: TelegramSink, monkeypatch: pytest.MonkeyPatch) -> TelegramSink:
    """The real sink (conftest `telegram_sink`), PTB_TIMEDELTA=1 as the bot runs."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    return telegram_sink


async def fire(store: Store, cfg: Config, clock: Clock, *, polls: int = 1) -> int:
    """Poll the fake OpenSky (at the clock's time) and evaluate the rule; alerts queued."""
    async with httpx.AsyncClient() as client:
        sky = OpenSkyPoller(store, client, cfg.opensky_sources[0], credentials=None, clock=clock)
        routes = RouteEvaluator(
            store, cfg.route_rules, cfg.opensky_sources, cfg.channels, clock=clock
        )
        added = 0
        for _ in range(polls):
            await sky.poll()
            added += routes.evaluate()
        return added


def decodes_as_png(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "PNG"
        assert image.getextrema() != ((255, 255), (255, 255), (255, 255))  # not blank
        return image.size


async def test_a_chart_rule_fires_one_photo_with_the_count_in_its_caption(
    store: Store, opensky: FakeOpenSky, telegram_api: FakeTelegramAPI, telegram: TelegramSink
) -> None:
    clock = Clock(NOW)
    assert await fire(store, config(opensky), clock) == 1
    (row,) = outbox_rows(store)
    assert row["photo"] is not None
    assert await dispatcher(store, telegram, clock).drain(grace=0) == 0
    (photo,) = telegram_api.photos_to(TEST_CHAT_ID)
    assert decodes_as_png(photo.data) == png_size(photo.data)
    assert photo.visible_caption.startswith("✈ BEN→MSQ: 3 flights in the last 90 days")
    assert "• 2026-06-05 BRU8801 510123" in photo.visible_caption
    assert photo.parse_mode == "HTML"
    assert telegram_api.messages_to(TEST_CHAT_ID) == []


async def test_a_long_flight_list_follows_the_photo_as_a_message(
    store: Store, opensky: FakeOpenSky, telegram_api: FakeTelegramAPI, telegram: TelegramSink
) -> None:
    """Forty flights do not fit a caption: the caption is the headline, route, condition and
    coverage; the whole text follows as a second message, queued with the alert."""
    for n in range(37):
        fly(opensky, datetime(2026, 4, 10, 9, tzinfo=UTC) + timedelta(days=2 * n), f"51{n:04d}")
    clock = Clock(NOW)
    assert await fire(store, config(opensky), clock) == 1
    photo_row, list_row = outbox_rows(store)
    assert list_row["dedup_key"] == f"{photo_row['dedup_key']}|list"
    assert list_row["photo"] is None
    assert await dispatcher(store, telegram, clock).drain(grace=0) == 0
    (photo,) = telegram_api.photos_to(TEST_CHAT_ID)
    (following,) = telegram_api.messages_to(TEST_CHAT_ID)
    assert photo.message_id < following.message_id
    caption = photo.visible_caption
    assert visible_length(caption) <= MAX_CAPTION
    assert caption.startswith("✈ BEN→MSQ: 40 flights in the last 90 days")
    assert "Benghazi (HLLB) → Minsk (UMMS)" in caption
    assert "at least 3 · complete coverage" in caption
    assert "the flights follow in the next message" in caption
    assert "•" not in caption
    assert following.visible_text.startswith("✈ BEN→MSQ: 40 flights in the last 90 days")
    assert "• 2026-06-05 BRU8801 510123" in following.visible_text

    # A week later, one more flight and two out of the window: the caption and the list are
    # edited, each once.
    fly(opensky, datetime(2026, 7, 10, 9, tzinfo=UTC), "51ffff")
    clock.now = datetime(2026, 7, 12, 12, tzinfo=UTC)
    assert await fire(store, config(opensky), clock) == 0
    assert await dispatcher(store, telegram, clock).drain(grace=0) == 0
    shown = telegram_api.current_caption(TEST_CHAT_ID, photo.message_id)
    assert shown is not None
    assert shown.visible_caption.startswith("✈ BEN→MSQ: 39 flights in the last 90 days")
    assert "the flights follow in the next message" in shown.visible_caption
    listed = telegram_api.current_message(TEST_CHAT_ID, following.message_id)
    assert listed is not None
    assert listed.visible_text.startswith("✈ BEN→MSQ: 39 flights in the last 90 days")
    assert "• 2026-07-10 BRU8801 51ffff" in listed.visible_text
    assert len(telegram_api.calls_to("editMessageCaption")) == 1
    assert len(telegram_api.calls_to("editMessageText")) == 1
    assert len(telegram_api.photos_to(TEST_CHAT_ID)) == 1


async def test_a_photo_alert_is_edited_by_its_caption(
    store: Store, opensky: FakeOpenSky, telegram_api: FakeTelegramAPI, telegram: TelegramSink
) -> None:
    """The rule keeps firing with one more flight: the photo's caption is edited
    (editMessageCaption), never its text, and no second photo is sent."""
    clock = Clock(NOW)
    assert await fire(store, config(opensky), clock) == 1
    sender = dispatcher(store, telegram, clock)
    await sender.drain(grace=0)
    fly(opensky, datetime(2026, 7, 10, 9, tzinfo=UTC))
    clock.now = datetime(2026, 7, 12, 12, tzinfo=UTC)
    assert await fire(store, config(opensky), clock, polls=2) == 0
    assert await sender.drain(grace=0) == 0
    (photo,) = telegram_api.photos_to(TEST_CHAT_ID)
    shown = telegram_api.current_caption(TEST_CHAT_ID, photo.message_id)
    assert shown is not None
    assert shown.visible_caption.startswith("✈ BEN→MSQ: 4 flights in the last 90 days")
    assert "• 2026-07-10 BRU8801 510123" in shown.visible_caption
    assert len(telegram_api.calls_to("editMessageCaption")) == 1
    assert telegram_api.calls_to("editMessageText") == []


async def test_a_caption_telegram_cannot_parse_is_sent_again_as_plain_text(
    store: Store, opensky: FakeOpenSky, telegram_api: FakeTelegramAPI, telegram: TelegramSink
) -> None:
    clock = Clock(NOW)
    assert await fire(store, config(opensky), clock) == 1
    telegram_api.fail_next("sendPhoto", "parse_entities")
    assert await dispatcher(store, telegram, clock).drain(grace=0) == 0
    (photo,) = telegram_api.photos_to(TEST_CHAT_ID)
    assert photo.parse_mode is None
    assert photo.caption.startswith("✈ BEN→MSQ: 3 flights")
    assert png_size(photo.data) is not None


def test_a_chart_that_cannot_be_drawn_leaves_the_text_alert(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    rule = RouteRule("ben-msq", ("HLLB",), ("UMMS",), "BEN→MSQ", 90 * 86400, "main", at_least=3)
    alert = new_alert("ben-msq#1", "ben-msq", source="routes", dedup_key="route|ben-msq|1")

    def broken(*_: object) -> bytes:
        raise ChartError("the font is missing")

    with caplog.at_level(logging.WARNING, logger="bot.flights.charted"):
        assert chart_alert(store, rule, alert, NOW, draw=broken) == (alert, ())
    (record,) = caplog.records
    assert "route rule ben-msq: no chart (ChartError: the font is missing)" in record.message


def test_charts_are_per_day_up_to_31_days_then_per_week_then_per_month() -> None:
    """As `/route` shows a span of the same length."""
    day = 86400
    assert [chart_by(n * day) for n in (1, 31, 32, 90, 91, 365)] == [
        "day",
        "day",
        "week",
        "week",
        "month",
        "month",
    ]


async def test_the_console_marks_the_chart() -> None:
    stream = io.StringIO()
    message = Message(1, "@main", "<b>✈ alert</b>", "✈ alert", photo=b"\x89PNG" + bytes(96))
    await ConsoleSink(stream).send(message)
    assert stream.getvalue() == "── alert for @main ──\n✈ alert\n[chart: 100 bytes PNG]\n\n"


async def test_a_picture_telegram_refuses_is_sent_as_text(
    telegram_api: FakeTelegramAPI, telegram: TelegramSink, caplog: pytest.LogCaptureFixture
) -> None:
    """IMAGE_PROCESS_FAILED (the bytes are no image): the alert goes out as text."""
    message = Message(7, TEST_CHAT_ID, "<b>✈ alert</b>", "✈ alert", photo=b"not a picture")
    with caplog.at_level(logging.WARNING, logger="bot.telegram.sink"):
        outcome = await telegram.send(message)
    (sent,) = telegram_api.messages_to(TEST_CHAT_ID)
    assert outcome == Sent(sent.message_id)
    assert sent.visible_text == "✈ alert"
    assert telegram_api.photos_to(TEST_CHAT_ID) == []
    assert "outbox #7: Telegram refused the chart" in caplog.text


async def test_a_caption_edit_of_a_text_message_is_refused_like_telegram(
    telegram_api: FakeTelegramAPI, telegram: TelegramSink
) -> None:
    """The fake answers editMessageCaption of a text message, and editMessageText of a
    photo, as Telegram does; the sink calls each a permanent failure."""
    text = await telegram.send(Message(1, TEST_CHAT_ID, "<b>a</b>", "a"))
    png = small_png()
    photo = await telegram.send(Message(2, TEST_CHAT_ID, "<b>b</b>", "b", photo=png))
    assert isinstance(text, Sent)
    assert isinstance(photo, Sent)
    as_caption = Edit(3, TEST_CHAT_ID, text.message_id, "<b>c</b>", "c", "note", caption=True)
    as_text = Edit(4, TEST_CHAT_ID, photo.message_id, "<b>c</b>", "c", "note")
    refused = await telegram.edit(as_caption)
    assert isinstance(refused, Permanent)
    assert "no caption in the message to edit" in refused.error
    refused = await telegram.edit(as_text)
    assert isinstance(refused, Permanent)
    assert "no text in the message to edit" in refused.error
    ok = await telegram.edit(replace(as_text, caption=True))
    assert ok == Sent(photo.message_id)
    shown = telegram_api.current_caption(TEST_CHAT_ID, photo.message_id)
    assert shown is not None
    assert shown.visible_caption == "c"


def small_png() -> bytes:
    """A small real PNG (Pillow)."""
    out = io.BytesIO()
    Image.new("RGB", (120, 80), (59, 110, 165)).save(out, format="PNG")
    return out.getvalue()
