"""Log lines: one per event, and never a secret."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from bot.config.types import AdsbSource, OpenSkySource
from bot.flights.pollers import AdsbPoller, OpenSkyPoller
from bot.logs import setup_logging
from bot.news import NewsPoller
from bot.store import Store
from tests.fakes.adsb_api import FakeAdsbApi
from tests.fakes.feed_server import FeedServer
from tests.fakes.opensky_api import FakeOpenSky
from tests.helpers import make_config
from watchers.http import FetchLimits
from watchers.rss import FeedReader

TOKEN = "123456:ABCdef_ghi-JKLmnopqrstuvwxyz0123456"
NOW = datetime(2026, 7, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """Route logging to a string for the test, then restore the root logger."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_token_is_redacted_from_messages_and_tracebacks(output: io.StringIO, level: str) -> None:
    """The token, in a URL or bare, is replaced in messages, arguments and tracebacks."""
    setup_logging(level, secrets=[TOKEN], stream=output)
    log = logging.getLogger("vedette.test")
    log.warning("GET https://api.telegram.org/bot%s/getMe", TOKEN)
    log.warning("token is %s", TOKEN.split(":")[1])
    try:
        raise RuntimeError(f"failed at https://api.telegram.org/bot{TOKEN}/sendMessage")
    except RuntimeError:
        log.exception("send failed")
    text = output.getvalue()
    assert TOKEN not in text
    assert TOKEN.split(":")[1] not in text
    assert "bot<redacted>/getMe" in text
    assert "RuntimeError" in text


def test_one_line_per_event_at_info(output: io.StringIO) -> None:
    """At INFO an exception or a multi-line message stays on its record's line."""
    setup_logging("INFO", stream=output)
    log = logging.getLogger("vedette.test")
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        log.exception("first\nline")
    log.info("second")
    lines = output.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("first line [ValueError: bad thing]")


def test_httpx_request_log_is_silenced(output: io.StringIO) -> None:
    """httpx's per-request INFO lines (with the Bot API URL) are not emitted."""
    setup_logging("DEBUG", secrets=[TOKEN], stream=output)
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot%s/x", TOKEN)
    assert output.getvalue() == ""


def lines_naming(caplog: pytest.LogCaptureFixture, source_id: str) -> list[str]:
    """The captured log lines of the bot that mention `source_id`."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("bot") and source_id in r.getMessage()
    ]


@pytest.mark.parametrize("fault", ["hang", "404"])
async def test_a_failing_feed_is_named_once_per_log_line(
    feed_server: FeedServer, store: Store, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    """`source h-hang failed: read timeout …`, not `… failed: h-hang: read timeout …`; the
    stored error (shown under the source in /status) still names it."""
    if fault == "hang":
        feed_server.route("/feed.xml", hang=True)
    else:
        feed_server.route("/feed.xml", status=404)
    config = make_config("http://127.0.0.1:9", {"h-hang": feed_server.url("/feed.xml")})
    limits = FetchLimits(read_timeout=0.2, deadline=10.0)
    caplog.set_level(logging.INFO, logger="bot")
    async with httpx.AsyncClient() as client:
        poller = NewsPoller(
            store,
            FeedReader(client),
            config.keyword_rules,
            config.channels,
            clock=lambda: NOW,
            limits=limits,
        )
        outcome = await poller.poll(config.news_sources[0])
    assert outcome.error is not None
    assert outcome.error.startswith("h-hang: ")
    [line] = lines_naming(caplog, "h-hang")
    assert line.startswith("source h-hang failed: ")
    assert line.count("h-hang") == 1, line
    assert "read timeout" in line if fault == "hang" else "HTTP 404 Not Found" in line


async def test_a_failing_flight_source_is_named_once_per_log_line(
    store: Store,
    opensky_api: FakeOpenSky,
    adsb_api: FakeAdsbApi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The OpenSky and ADS-B pollers' failure lines name their source once too."""
    opensky_api.rate_limit(600)
    adsb_api.fail_next("500")
    sky = OpenSkySource(
        "sky-src", ("UMMS",), 3600.0, 2, api_url=opensky_api.api_url, history_days=2
    )
    live = AdsbSource("live-src", adsb_api.api_url, ("BRU8801",), (), 60.0)
    caplog.set_level(logging.INFO, logger="bot")
    async with httpx.AsyncClient() as client:
        sky_outcome = await OpenSkyPoller(
            store, client, sky, credentials=None, clock=lambda: NOW
        ).poll()
        live_outcome = await AdsbPoller(store, client, live, clock=lambda: NOW).poll()
    assert sky_outcome.error is not None
    assert sky_outcome.error.startswith("sky-src: OpenSky credits exhausted")
    assert live_outcome.error is not None
    assert live_outcome.error.startswith("live-src: ADS-B API answered HTTP 500")
    sky_lines = lines_naming(caplog, "sky-src")
    assert "source sky-src: OpenSky credits exhausted or rate limited (HTTP 429" in "\n".join(
        sky_lines
    )
    assert [line.count("sky-src") for line in sky_lines] == [1] * len(sky_lines), sky_lines
    [live_line] = lines_naming(caplog, "live-src")
    assert live_line.startswith("source live-src: ADS-B API answered HTTP 500")
    assert live_line.count("live-src") == 1, live_line
