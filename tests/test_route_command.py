"""`/route FROM TO [SPAN] [OPERATOR]`: the real python-telegram-bot application against the fake
Bot API, flights in a real SQLite store, the real chart (or an injected failing one)."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from PIL import Image
from telegram.ext import Application

from bot.chart import ChartError
from bot.flights.evidence import RouteReport, route_report
from bot.store import Store
from bot.telegram.commands import COMMANDS, build_application, route_chart
from bot.telegram.replies import (
    MAX_CAPTION,
    ROUTE_MESSAGES,
    USAGE_ROUTE,
    RouteQuery,
    route_query,
    route_reply,
)
from tests.fakes.telegram_api import (
    MAX_MESSAGE_LENGTH,
    TEST_TOKEN,
    FakeTelegramAPI,
    SentMessage,
    SentPhoto,
    parse_html,
    utf16_len,
)
from tests.helpers import ADMIN, STRANGER, eventually, make_config, serving
from watchers.flights import Flight

NOW = datetime(2026, 8, 20, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def belavia(store: Store) -> None:
    """Belavia Benghazi → Minsk: 2 flights in June, 5 in July, 4 in August 2026; and one
    Afriqiyah flight on the same route in July."""
    days = {6: (3, 17), 7: (1, 8, 15, 22, 29), 8: (5, 10, 15, 19)}
    flights = [
        Flight(
            f"5101{month:x}{day:02x}",
            f"BRU{8800 + day}",
            "BRU",
            "HLLB",
            "UMMS",
            datetime(2026, month, day, 9, 30, tzinfo=UTC),
            None,
            "sky",
        )
        for month, dates in days.items()
        for day in dates
    ]
    flights.append(
        Flight(
            "0180aa", "AAW101", "AAW", "HLLB", "UMMS", datetime(2026, 7, 2, tzinfo=UTC), None, "sky"
        )
    )
    store.record_flights(flights, NOW)


def busy_route(store: Store, count: int = 200) -> None:
    """`count` flights Benghazi → Minsk, two a day back from yesterday."""
    flights = [
        Flight(
            f"52{n:04x}",
            f"BRU{n:04d}",
            "BRU",
            "HLLB",
            "UMMS",
            NOW - timedelta(days=1 + n // 2, hours=n % 2 * 5),
            None,
            "sky",
        )
        for n in range(count)
    ]
    store.record_flights(flights, NOW)


def failing_chart(report: RouteReport) -> bytes:
    raise ChartError("no font")


def application(
    telegram_api: FakeTelegramAPI,
    store: Store,
    chart: Callable[[RouteReport], bytes] = route_chart,
) -> Application:  # type: ignore[type-arg]
    """The commands' Application on the fake, at NOW, with this chart renderer."""
    config = make_config(telegram_api.url, {"news": "http://127.0.0.1:9/feed"})
    return build_application(
        TEST_TOKEN,
        telegram_api.url,
        [ADMIN],
        store,
        clock=lambda: NOW,
        config=lambda: config,
        chart=chart,
    )


async def answer(
    telegram_api: FakeTelegramAPI, text: str, user: int = ADMIN
) -> tuple[list[SentPhoto], list[SentMessage]]:
    """Send `text` as `user` in their private chat, then /help as the admin: PTB handles one
    update after the other, so once /help is answered the first command's reply is complete.
    The photos and messages sent to `user` in reply (the /help answer left out)."""
    photos, messages = len(telegram_api.photos_to(user)), len(telegram_api.messages_to(user))
    helps = len(telegram_api.messages_to(ADMIN))
    telegram_api.push_message(user, user, text)
    telegram_api.push_message(ADMIN, ADMIN, "/help")

    def helped() -> bool:
        sent = telegram_api.messages_to(ADMIN)[helps:]
        return any(m.visible_text.startswith("vedette commands:") for m in sent)

    await eventually(helped, what=f"the reply to {text}")
    replies = [
        m
        for m in telegram_api.messages_to(user)[messages:]
        if not m.visible_text.startswith("vedette commands:")
    ]
    return telegram_api.photos_to(user)[photos:], replies


def decoded(photo: SentPhoto) -> Image.Image:
    image = Image.open(io.BytesIO(photo.data))
    image.load()
    return image


# ── end to end ──


async def test_route_answers_with_one_photo_holding_the_counts(
    store: Store, telegram_api: FakeTelegramAPI
) -> None:
    """/route BEN MSQ BRU: one photo, a PNG chart, whose caption is the table with the counts;
    the flights (too many for the 1024 characters of a caption) follow in one message."""
    belavia(store)
    async with serving(application(telegram_api, store)):
        photos, messages = await answer(telegram_api, "/route BEN MSQ BRU")
    [photo] = photos
    image = decoded(photo)
    assert image.format == "PNG"
    assert image.width > 100
    assert image.height > 100
    darkest, lightest = image.convert("L").getextrema()
    assert isinstance(darkest, int)
    assert isinstance(lightest, int)
    assert lightest - darkest > 100  # not blank
    caption = photo.visible_caption
    assert photo.parse_mode == "HTML"
    assert [e["type"] for e in photo.caption_entities] == ["pre"]
    assert utf16_len(caption) <= MAX_CAPTION
    assert caption.startswith("Benghazi (HLLB) → Minsk (UMMS) · operator BRU\n")
    rows = {line.split()[0]: line.split()[1] for line in caption.splitlines() if line[:4] == "2026"}
    assert {k: v for k, v in rows.items() if len(k) == 7} == {
        "2026-02": "0",
        "2026-03": "0",
        "2026-04": "0",
        "2026-05": "0",
        "2026-06": "2",
        "2026-07": "5",
        "2026-08": "4",
    }
    assert caption.splitlines()[-1].split()[:2] == ["total", "11"]
    [flights] = messages
    assert flights.visible_text.startswith("11 flights (UTC):\n2026-06-03 09:30  BRU8803  ")
    assert len(flights.visible_text.splitlines()) == 12
    assert "AAW101" not in flights.visible_text
    assert telegram_api.violations == []


async def test_a_long_flight_list_follows_the_photo(
    store: Store, telegram_api: FakeTelegramAPI
) -> None:
    """When the report does not fit a caption, the table is the caption and every flight
    follows in messages of at most 4096 characters."""
    busy_route(store)
    async with serving(application(telegram_api, store)):
        photos, messages = await answer(telegram_api, "/route HLLB UMMS")
    [photo] = photos
    assert decoded(photo).format == "PNG"
    assert utf16_len(photo.visible_caption) <= MAX_CAPTION
    assert photo.visible_caption.splitlines()[-1].split()[:2] == ["total", "200"]
    assert "BRU0000" not in photo.visible_caption
    assert len(messages) >= 3
    assert all(utf16_len(m.visible_text) <= MAX_MESSAGE_LENGTH for m in messages)
    assert all(m.parse_mode == "HTML" for m in messages)
    listed = "\n".join(m.visible_text for m in messages)
    assert listed.startswith("200 flights (UTC):")
    assert all(f"BRU{n:04d}" in listed for n in range(200))
    assert telegram_api.violations == []


async def test_a_table_too_long_for_a_caption_follows_too(
    store: Store, telegram_api: FakeTelegramAPI
) -> None:
    """30 days per day do not fit a caption: it is the title and the total, the table and
    the flights follow."""
    busy_route(store, 20)
    async with serving(application(telegram_api, store)):
        photos, messages = await answer(telegram_api, "/route BEN MSQ 30d")
    [photo] = photos
    assert photo.visible_caption.splitlines()[2:] == [
        "total: 20 flights, live only (no daily flight lists)",
        "(the table follows)",
    ]
    [table] = messages
    assert table.visible_text.startswith("period")
    assert TODAY.isoformat() in table.visible_text
    assert "20 flights (UTC):" in table.visible_text
    assert telegram_api.violations == []


@pytest.mark.parametrize(
    "chart",
    [failing_chart, lambda report: b"not a picture"],
    ids=["chart error", "picture refused"],
)
async def test_without_a_chart_the_text_goes_alone(
    store: Store, telegram_api: FakeTelegramAPI, chart: Callable[[RouteReport], bytes]
) -> None:
    """A chart that fails to draw, or that Telegram refuses: the report as text, no photo."""
    belavia(store)
    async with serving(application(telegram_api, store, chart)):
        photos, messages = await answer(telegram_api, "/route BEN MSQ")
    assert photos == []
    [message] = messages
    assert message.visible_text.startswith("Benghazi (HLLB) → Minsk (UMMS)\n")
    assert "12 flights (UTC):" in message.visible_text
    assert "AAW101" in message.visible_text
    assert telegram_api.violations == []


async def test_bad_arguments_get_the_usage(store: Store, telegram_api: FakeTelegramAPI) -> None:
    """An unknown airport is named, with the usage; so is a bad span; no photo is sent."""
    async with serving(application(telegram_api, store)):
        _, [unknown] = await answer(telegram_api, "/route XQZ MSQ")
        _, [span] = await answer(telegram_api, "/route BEN MSQ 6m")
        _, [bare] = await answer(telegram_api, "/route BEN")
    assert unknown.visible_text == f'unknown airport code "XQZ" {HINT}\n{USAGE_ROUTE}'
    assert span.visible_text.startswith('"6m" is neither a span like 90d nor an operator')
    assert bare.visible_text == USAGE_ROUTE
    assert telegram_api.photos == []
    assert telegram_api.violations == []


HINT = "(use an IATA code like BEN or an ICAO code like HLLB)"


async def test_a_stranger_gets_no_route(store: Store, telegram_api: FakeTelegramAPI) -> None:
    """/route from a non-admin is ignored like every command; /help lists /route."""
    belavia(store)
    async with serving(application(telegram_api, store)):
        photos, messages = await answer(telegram_api, "/route BEN MSQ", user=STRANGER)
        helps = [m.visible_text for m in telegram_api.messages_to(ADMIN)]
    assert photos == []
    assert messages == []
    assert telegram_api.photos == []
    assert "/route — flights on a route per period, with a chart: /route FROM TO" in helps[-1]
    assert "route" in [name for name, _ in COMMANDS]
    assert telegram_api.violations == []


# ── the arguments and the reply, pure ──


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["BEN", "MSQ"], RouteQuery(("HLLB",), ("UMMS",), None, "month", date(2026, 2, 21), TODAY)),
        (
            ["ben,mji", "UMMS", "bru", "90d"],
            RouteQuery(("HLLB", "HLLM"), ("UMMS",), "BRU", "week", date(2026, 5, 22), TODAY),
        ),
        (
            ["BEN", "MSQ", "31d"],
            RouteQuery(("HLLB",), ("UMMS",), None, "day", date(2026, 7, 20), TODAY),
        ),
        (
            ["BEN", "MSQ", "91d"],
            RouteQuery(("HLLB",), ("UMMS",), None, "month", date(2026, 5, 21), TODAY),
        ),
        (
            ["BEN", "MSQ", "1d"],
            RouteQuery(("HLLB",), ("UMMS",), None, "day", date(2026, 8, 19), TODAY),
        ),
    ],
)
def test_route_query_reads_codes_span_and_operator(args: list[str], expected: RouteQuery) -> None:
    """Codes resolve like rules; SPAN in days picks day, week or month; OPERATOR is optional."""
    assert route_query(args, TODAY) == expected


@pytest.mark.parametrize(
    ("args", "starts"),
    [
        (["BEN"], "Usage: /route"),
        (["BEN", "MSQ", "90d", "BRU", "x"], "Usage: /route"),
        (["BEN", "MSQ", "90d", "30d"], "Usage: /route"),
        (["BEN", "MSQ", "BRU", "AFL"], "Usage: /route"),
        (["BEN", "MSQ", "0d"], 'span "0d" must be 1d to 730d'),
        (["BEN", "MSQ", "731d"], 'span "731d" must be 1d to 730d'),
        (["BEN", "ZZZZ"], 'unknown airport code "ZZZZ"'),
        (["BEN,XQZ", "MSQ"], 'unknown airport code "XQZ"'),
        ([",", "MSQ"], 'unknown airport code ","'),
    ],
)
def test_route_query_refuses_bad_arguments(args: list[str], starts: str) -> None:
    reply = route_query(args, TODAY)
    assert isinstance(reply, str)
    assert reply.startswith(starts)
    assert reply.endswith(USAGE_ROUTE)


def test_the_reply_is_valid_html_with_every_line_once(store: Store) -> None:
    """Caption and messages parse as Telegram HTML; together they hold the report's text, and
    the text alone holds all of it too."""
    busy_route(store, 120)
    report = route_report(
        store, ["HLLB"], ["UMMS"], operator=None, by="week", start=date(2026, 5, 1), end=TODAY
    )
    reply = route_reply(report)
    caption = parse_html(reply.caption).text
    follow = [parse_html(text).text for text in reply.follow]
    alone = [parse_html(text).text for text in reply.text]
    assert utf16_len(caption) <= MAX_CAPTION
    assert all(utf16_len(text) <= MAX_MESSAGE_LENGTH for text in follow + alone)
    summary = ["total: 120 flights, live only (no daily flight lists)", "(the table follows)"]
    assert caption.splitlines()[2:] == summary  # the table (per week) does not fit
    lines = [line for line in "\n".join([caption, *follow]).splitlines() if line not in summary]
    lines = [line for line in lines if line]
    assert lines == [line for line in "\n".join(alone).splitlines() if line]
    assert sum(1 for line in lines if " HLLB→UMMS " in line) == 120


def test_a_very_long_list_is_cut_after_a_few_messages(store: Store) -> None:
    """Two years of daily flights do not flood the chat: at most ROUTE_MESSAGES messages, the
    last saying how many lines were left out."""
    busy_route(store, 1400)
    report = route_report(
        store, ["HLLB"], ["UMMS"], operator=None, by="month", start=date(2024, 8, 21), end=TODAY
    )
    reply = route_reply(report)
    for messages in (reply.follow, reply.text):
        assert len(messages) == ROUTE_MESSAGES
        texts = [parse_html(text).text for text in messages]
        assert all(utf16_len(text) <= MAX_MESSAGE_LENGTH for text in texts)
        shown = sum(1 for text in texts for line in text.splitlines() if " HLLB→UMMS " in line)
        note = texts[-1].splitlines()[-1]
        assert note == f"… and {1400 - shown} more lines: `vedette route` lists them all"
