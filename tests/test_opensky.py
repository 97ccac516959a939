"""OpenSky flight lists: real httpx against a loopback fake (tests/fakes/opensky_api.py),
and `parse_flights` / `decode_flights` as pure functions."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fakes.opensky_api import TEST_CLIENT_ID, TEST_CLIENT_SECRET, FakeOpenSky
from tests.helpers import Clock
from watchers.errors import FetchError, ParseError, RateLimited, WatcherError
from watchers.flights import Flight
from watchers.http import FetchLimits, make_client
from watchers.opensky import (
    CREDITS_PER_DAY_QUERY,
    DayResult,
    OpenSkyClient,
    day_window,
    decode_flights,
    parse_flights,
)
from watchers.opensky_auth import OpenSkyCredentials, TokenProvider

SOURCE = "opensky-test"
DAY = date(2026, 3, 10)
NOW = datetime(2026, 3, 12, 4, 0, tzinfo=UTC)
CREDENTIALS = OpenSkyCredentials(TEST_CLIENT_ID, TEST_CLIENT_SECRET)
FAST = FetchLimits(connect_timeout=2.0, read_timeout=5.0)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """An aware UTC datetime on `day`."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def epoch(when: datetime) -> int:
    """Unix seconds of an aware datetime."""
    return int(when.timestamp())


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The house HTTP client, closed after the test."""
    async with make_client(FAST) as client:
        yield client


def make(
    http: httpx.AsyncClient,
    server: FakeOpenSky,
    *,
    credentials: OpenSkyCredentials | None = None,
    clock: Clock | None = None,
    **kwargs: Any,
) -> OpenSkyClient:
    """An OpenSkyClient pointed at the fake."""
    return OpenSkyClient(
        http,
        SOURCE,
        server.api_url,
        credentials=credentials,
        auth_url=server.auth_url,
        clock=clock or Clock(NOW),
        **kwargs,
    )


async def day_error(client: OpenSkyClient, kind: str = "departure") -> WatcherError:
    """The error a day query raises; every error names the source and OpenSky."""
    with pytest.raises(WatcherError) as caught:
        await client.day(kind, "HLLB", DAY)  # type: ignore[arg-type]
    text = str(caught.value)
    assert text.startswith(f"{SOURCE}: ")
    assert "OpenSky" in text
    return caught.value


def record(**overrides: Any) -> dict[str, Any]:
    """One flight object as documented (flight-data.md §1.2), with `overrides` applied."""
    base: dict[str, Any] = {
        "icao24": "510b2c",
        "firstSeen": 1773133200,  # 2026-03-10 09:00:00 UTC
        "estDepartureAirport": "HLLB",
        "lastSeen": 1773147600,  # 2026-03-10 13:00:00 UTC
        "estArrivalAirport": "UMMS",
        "callsign": "BRU8801 ",
        "estDepartureAirportHorizDistance": 1840,
        "estDepartureAirportVertDistance": 61,
        "estArrivalAirportHorizDistance": 950,
        "estArrivalAirportVertDistance": 23,
        "departureAirportCandidatesCount": 0,
        "arrivalAirportCandidatesCount": 2,
    }
    base.update(overrides)
    return base


# ───────────────────────────── through HTTP ─────────────────────────────


async def test_departures_of_a_day_become_normalised_flights(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """A day of departures: icao24 lower-case, callsign trimmed, operator, null airports kept."""
    opensky_api.add_flight(
        icao24="510B2C",
        callsign="BRU8801 ",
        dep="HLLB",
        arr="UMMS",
        first_seen=at(DAY, 9),
        last_seen=at(DAY, 13, 5),
        candidates=0,
        horiz=1840,
        vert=61,
    )
    opensky_api.add_flight(
        icao24="510a01",
        callsign="BRU8803 ",
        dep="HLLB",
        arr=None,
        first_seen=at(DAY, 23, 59),
        last_seen=at(DAY + timedelta(days=1), 2),
        candidates=107,
        horiz=None,
        vert=None,
    )
    opensky_api.add_flight(icao24="4ca1b2", first_seen=at(DAY + timedelta(days=1), 0, 0),
                           last_seen=at(DAY + timedelta(days=1), 4))  # fmt: skip
    opensky_api.add_flight(icao24="4ca1b3", dep="HLLM", first_seen=at(DAY, 10),
                           last_seen=at(DAY, 14))  # fmt: skip

    result = await make(http, opensky_api).day("departure", "hllb", DAY)

    assert result.flights == (
        Flight(
            icao24="510b2c",
            callsign="BRU8801",
            operator="BRU",
            departure_airport="HLLB",
            arrival_airport="UMMS",
            departure=at(DAY, 9),
            arrival=at(DAY, 13, 5),
            source=SOURCE,
            quality=(
                ("dep_horiz_distance_m", 1840),
                ("dep_vert_distance_m", 61),
                ("arr_horiz_distance_m", 1840),
                ("arr_vert_distance_m", 61),
                ("dep_candidates", 0),
                ("arr_candidates", 0),
            ),
        ),
        Flight(
            icao24="510a01",
            callsign="BRU8803",
            operator="BRU",
            departure_airport="HLLB",
            arrival_airport=None,
            departure=at(DAY, 23, 59),
            arrival=at(DAY + timedelta(days=1), 2),
            source=SOURCE,
            quality=(
                ("dep_horiz_distance_m", None),
                ("dep_vert_distance_m", None),
                ("arr_horiz_distance_m", None),
                ("arr_vert_distance_m", None),
                ("dep_candidates", 107),
                ("arr_candidates", 107),
            ),
        ),
    )
    assert all(f.departure.tzinfo is UTC for f in result.flights)


async def test_arrivals_are_keyed_on_last_seen(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """An overnight flight is an arrival of the day it landed, not of the day it left."""
    opensky_api.add_flight(
        icao24="510b2c", first_seen=at(DAY - timedelta(days=1), 22), last_seen=at(DAY, 2)
    )
    client = make(http, opensky_api)
    assert [f.icao24 for f in (await client.day("arrival", "UMMS", DAY)).flights] == ["510b2c"]
    assert (await client.day("arrival", "UMMS", DAY - timedelta(days=1))).flights == ()


async def test_each_call_asks_exactly_one_utc_day(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """begin is the day's 00:00:00 UTC and end its 23:59:59: one day, under the 2-day cap."""
    client = make(http, opensky_api)
    await client.day("departure", "HLLB", DAY)
    await client.day("arrival", "UMMS", DAY)
    begin = epoch(at(DAY, 0))
    assert [(r.path, r.params) for r in opensky_api.requests] == [
        ("/api/flights/departure", {"airport": "HLLB", "begin": str(begin), "end": str(begin + 86399)}),
        ("/api/flights/arrival", {"airport": "UMMS", "begin": str(begin), "end": str(begin + 86399)}),
    ]  # fmt: skip
    assert day_window(DAY) == (begin, begin + 86399)


async def test_anonymous_access_sends_no_authorization(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """Without credentials no token is fetched and no Authorization header is sent."""
    await make(http, opensky_api).day("departure", "HLLB", DAY)
    assert [r.has_auth for r in opensky_api.requests] == [False]
    assert opensky_api.tokens_issued == 0


async def test_token_is_fetched_once_and_cached(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """With credentials one token serves several calls, sent as a Bearer header."""
    client = make(http, opensky_api, credentials=CREDENTIALS)
    for offset in range(3):
        await client.day("departure", "HLLB", DAY - timedelta(days=offset))
    assert opensky_api.tokens_issued == 1
    assert [r.authorization for r in opensky_api.requests] == ["Bearer tok-1"] * 3
    assert opensky_api.token_requests == [
        {
            "grant_type": "client_credentials",
            "client_id": TEST_CLIENT_ID,
            "client_secret": TEST_CLIENT_SECRET,
        }
    ]


async def test_concurrent_calls_share_one_token_fetch(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """Two calls at once wait for the same token instead of fetching two."""
    client = make(http, opensky_api, credentials=CREDENTIALS)
    await asyncio.gather(client.day("departure", "HLLB", DAY), client.day("arrival", "UMMS", DAY))
    assert opensky_api.tokens_issued == 1


async def test_token_is_refreshed_60s_before_expiry(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """A token is used until expires_in minus 60 s, then replaced (the clock is injected)."""
    opensky_api.token_lifetime = 300
    clock = Clock(NOW)
    client = make(http, opensky_api, credentials=CREDENTIALS, clock=clock)
    await client.day("departure", "HLLB", DAY)
    clock.advance(239)
    await client.day("departure", "HLLB", DAY)
    assert opensky_api.tokens_issued == 1
    clock.advance(1)
    await client.day("departure", "HLLB", DAY)
    assert opensky_api.tokens_issued == 2
    assert [r.authorization for r in opensky_api.requests][-1] == "Bearer tok-2"


async def test_401_refreshes_the_token_once_and_retries(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """A token the server no longer accepts is replaced once and the call succeeds."""
    opensky_api.add_flight(icao24="510b2c", first_seen=at(DAY, 9), last_seen=at(DAY, 13))
    client = make(http, opensky_api, credentials=CREDENTIALS)
    await client.day("departure", "HLLB", DAY)
    opensky_api.expire_tokens()
    result = await client.day("departure", "HLLB", DAY)
    assert [f.icao24 for f in result.flights] == ["510b2c"]
    assert opensky_api.tokens_issued == 2
    assert [r.authorization for r in opensky_api.requests] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]


async def test_a_second_401_is_an_error_without_more_retries(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """A fresh token refused again is a FetchError after exactly one retry."""
    opensky_api.fail_next("401", times=2)
    error = await day_error(make(http, opensky_api, credentials=CREDENTIALS))
    assert type(error) is FetchError
    assert "HTTP 401" in str(error)
    assert len(opensky_api.requests) == 2
    assert opensky_api.tokens_issued == 2
    assert "tok-" not in str(error)


async def test_anonymous_401_asks_for_credentials(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """A server that requires auth tells an anonymous client which settings to set."""
    opensky_api.require_auth = True
    error = await day_error(make(http, opensky_api))
    assert "OPENSKY_CLIENT_ID" in str(error)
    assert len(opensky_api.requests) == 1


async def test_wrong_credentials_are_a_clear_error_without_the_secret(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """invalid_client names the settings, the source and the token URL, never the secret."""
    wrong = OpenSkyCredentials(TEST_CLIENT_ID, "wrong-secret-Xy77")
    error = await day_error(make(http, opensky_api, credentials=wrong))
    text = str(error)
    assert type(error) is FetchError
    assert (
        "OpenSky rejected the client credentials (OPENSKY_CLIENT_ID / OPENSKY_CLIENT_SECRET)"
        in text
    )
    assert "invalid_client" in text
    assert error.url == opensky_api.auth_url
    assert opensky_api.auth_url in text
    assert "wrong-secret-Xy77" not in text
    assert opensky_api.requests == []


async def test_token_endpoint_failures_name_the_auth_url(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """A 500 or an HTML page from the token endpoint is a FetchError naming the token URL."""
    client = make(http, opensky_api, credentials=CREDENTIALS)
    opensky_api.fail_next("auth_500")
    error = await day_error(client)
    assert type(error) is FetchError
    assert "HTTP 500" in str(error)
    assert error.url == opensky_api.auth_url
    opensky_api.fail_next("auth_html")
    error = await day_error(client)
    assert "not JSON" in str(error)
    assert TEST_CLIENT_SECRET not in str(error)


async def test_secrets_and_tokens_stay_out_of_reprs_and_errors(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """No repr and no API error message shows the client secret or the bearer token."""
    client = make(http, opensky_api, credentials=CREDENTIALS)
    provider = TokenProvider(http, SOURCE, CREDENTIALS, auth_url=opensky_api.auth_url)
    token = await provider.token(NOW)
    opensky_api.fail_next("500")
    error = await day_error(client)
    for text in (repr(CREDENTIALS), repr(provider), repr(client), str(error)):
        assert TEST_CLIENT_SECRET not in text
        assert token not in text
    assert TEST_CLIENT_ID in repr(CREDENTIALS)


async def test_404_is_an_empty_day(http: httpx.AsyncClient, opensky_api: FakeOpenSky) -> None:
    """OpenSky's 404 for "no flights" is an empty day with the credit balance, not an error."""
    result = await make(http, opensky_api).day("arrival", "UMMS", DAY)
    assert result == DayResult(flights=(), credits_left=4000 - CREDITS_PER_DAY_QUERY)


async def test_credits_left_come_from_the_header(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """X-Rate-Limit-Remaining is read on every answer: 30 credits per day query."""
    opensky_api.add_flight(icao24="510b2c", first_seen=at(DAY, 9), last_seen=at(DAY, 13))
    client = make(http, opensky_api)
    first = await client.day("departure", "HLLB", DAY)
    second = await client.day("departure", "HLLB", DAY - timedelta(days=1))
    assert (first.credits_left, second.credits_left) == (3970, 3940)


async def test_429_is_rate_limited_with_retry_after(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """A 429 raises RateLimited with X-Rate-Limit-Retry-After-Seconds, never an empty day."""
    opensky_api.rate_limit(120)
    error = await day_error(make(http, opensky_api))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 120
    assert "retry after 120 s" in str(error)


@pytest.mark.parametrize(("header", "expected"), [("Retry-After", 45.0), (None, None)])
async def test_429_falls_back_to_retry_after(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky, header: str | None, expected: float | None
) -> None:
    """Without OpenSky's header, Retry-After is used; without either, retry_after is None."""
    opensky_api.rate_limit(45, header=header)
    error = await day_error(make(http, opensky_api))
    assert isinstance(error, RateLimited)
    assert error.retry_after == expected
    opensky_api.lift_rate_limit()
    assert (await make(http, opensky_api).day("departure", "HLLB", DAY)).flights == ()


async def test_exhausted_credits_are_rate_limited(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """When the balance runs out the next call is RateLimited for the refill time."""
    opensky_api.credits = 30
    client = make(http, opensky_api)
    assert (await client.day("departure", "HLLB", DAY)).credits_left == 0
    error = await day_error(client)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 22688


@pytest.mark.parametrize(
    ("fault", "error_type", "words"),
    [
        ("html", ParseError, "HTML page instead of JSON"),
        ("truncated", ParseError, "invalid JSON"),
        ("garbage", ParseError, "invalid JSON"),
        ("object", ParseError, "JSON object, not a list"),
        ("empty", ParseError, "empty body"),
        ("huge", ParseError, "larger than 20 MiB"),
        ("500", FetchError, "HTTP 500 Internal Server Error: Internal Server Error: database"),
        ("400", FetchError, "HTTP 400 Bad Request: Bad Request: time too old"),
    ],
)
async def test_bad_answers_are_errors_naming_the_source(
    http: httpx.AsyncClient,
    opensky_api: FakeOpenSky,
    fault: str,
    error_type: type[WatcherError],
    words: str,
) -> None:
    """HTML, cut or garbage JSON, a non-list, an oversized body and 5xx/4xx are clear errors."""
    opensky_api.fail_next(fault)
    error = await day_error(make(http, opensky_api))
    assert type(error) is error_type
    assert words in str(error)
    assert error.url is not None
    assert error.url.startswith(f"{opensky_api.api_url}/flights/departure?airport=HLLB&begin=")


async def test_body_cap_is_configurable(http: httpx.AsyncClient, opensky_api: FakeOpenSky) -> None:
    """A body over `max_bytes` is refused even when it is valid JSON."""
    for hour in range(10):
        opensky_api.add_flight(icao24=f"510b{hour:02d}", first_seen=at(DAY, hour),
                               last_seen=at(DAY, hour + 4))  # fmt: skip
    error = await day_error(make(http, opensky_api, max_bytes=1024))
    assert type(error) is ParseError
    assert "larger than" in str(error)


async def test_transport_errors_are_fetch_errors(http: httpx.AsyncClient) -> None:
    """A refused connection is a FetchError that keeps the httpx exception as its cause."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = OpenSkyClient(
        http, SOURCE, f"http://127.0.0.1:{port}/api", credentials=None, clock=Clock(NOW)
    )
    error = await day_error(client)
    assert type(error) is FetchError
    assert "connection refused" in str(error)
    assert isinstance(error.__cause__, httpx.ConnectError)


async def test_a_malformed_record_is_skipped(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """Records without an icao24 or with a non-integer firstSeen drop out; the rest stay."""
    good = opensky_api.add_flight(icao24="510b2c", first_seen=at(DAY, 9), last_seen=at(DAY, 13))
    opensky_api.add_record({k: v for k, v in good.items() if k != "icao24"})
    opensky_api.add_record({**good, "icao24": "510b2d", "firstSeen": "1773133200"})
    opensky_api.add_record({**good, "icao24": 5})
    result = await make(http, opensky_api).day("departure", "HLLB", DAY)
    assert [f.icao24 for f in result.flights] == ["510b2c"]


async def test_days_from_today_on_are_refused(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """Only days before today (UTC) are in the nightly batch; asking for today is a bug."""
    client = make(http, opensky_api)
    with pytest.raises(ValueError, match="nightly batch"):
        await client.day("departure", "HLLB", NOW.date())
    assert (await client.day("departure", "HLLB", NOW.date() - timedelta(days=1))).flights == ()
    assert len(opensky_api.requests) == 1


async def test_bad_kind_or_airport_is_a_value_error(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """A kind other than departure/arrival or a non-ICAO code never reaches the server."""
    client = make(http, opensky_api)
    with pytest.raises(ValueError, match="kind"):
        await client.day("overflight", "HLLB", DAY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ICAO"):
        await client.day("departure", "BEN", DAY)
    assert opensky_api.requests == []


# ───────────────────────────── the fake itself ─────────────────────────────


async def test_fake_refuses_windows_over_two_days(
    http: httpx.AsyncClient, opensky_api: FakeOpenSky
) -> None:
    """The fake answers 400 like OpenSky for a window over 2 days or a missing parameter."""
    begin = epoch(at(DAY, 0))
    url = f"{opensky_api.api_url}/flights/departure"

    async def status(**params: str | int) -> int:
        return (await http.get(url, params=params)).status_code

    assert await status(airport="HLLB", begin=begin, end=begin + 2 * 86400 + 1) == 400
    assert await status(airport="HLLB", begin=begin, end=begin) == 400
    assert await status(airport="HLLB") == 400
    assert await status(begin=begin, end=begin + 60) == 400
    answer = await http.get(
        url, params={"airport": "HLLB", "begin": begin, "end": begin + 2 * 86400}
    )
    assert answer.status_code == 404
    assert answer.content == b""


# ───────────────────────────── pure parsing ─────────────────────────────


def test_parse_flights_golden_record() -> None:
    """A documented record maps field by field onto Flight, quality in a fixed order."""
    [flight] = parse_flights(SOURCE, [record()])
    assert flight == Flight(
        icao24="510b2c",
        callsign="BRU8801",
        operator="BRU",
        departure_airport="HLLB",
        arrival_airport="UMMS",
        departure=datetime(2026, 3, 10, 9, 0, tzinfo=UTC),
        arrival=datetime(2026, 3, 10, 13, 0, tzinfo=UTC),
        source=SOURCE,
        quality=(
            ("dep_horiz_distance_m", 1840),
            ("dep_vert_distance_m", 61),
            ("arr_horiz_distance_m", 950),
            ("arr_vert_distance_m", 23),
            ("dep_candidates", 0),
            ("arr_candidates", 2),
        ),
    )


def test_parse_flights_keeps_nulls_and_unknowns() -> None:
    """Null airports, distances and callsign stay None; no operator without a callsign."""
    [flight] = parse_flights(
        SOURCE,
        [
            record(
                icao24="~0A1B2C",
                callsign=None,
                estDepartureAirport=None,
                estArrivalAirport=None,
                estDepartureAirportHorizDistance=None,
                estDepartureAirportVertDistance=None,
                estArrivalAirportHorizDistance=None,
                estArrivalAirportVertDistance=None,
                departureAirportCandidatesCount=107,
                lastSeen=None,
            )
        ],
    )
    assert flight.icao24 == "~0a1b2c"
    assert (flight.callsign, flight.operator) == (None, None)
    assert (flight.departure_airport, flight.arrival_airport, flight.arrival) == (None, None, None)
    assert dict(flight.quality) == {
        "dep_horiz_distance_m": None,
        "dep_vert_distance_m": None,
        "arr_horiz_distance_m": None,
        "arr_vert_distance_m": None,
        "dep_candidates": 107,
        "arr_candidates": 2,
    }


@pytest.mark.parametrize(
    ("callsign", "expected", "operator"),
    [
        ("BRU8801 ", "BRU8801", "BRU"),
        ("  b2881  ", "B2881", None),
        ("        ", None, None),
        ("N123AB  ", "N123AB", None),
        ("\ud800BRU", None, None),
        ("X" * 40, None, None),
        (8801, None, None),
    ],
)
def test_parse_flights_normalises_callsigns(
    callsign: object, expected: str | None, operator: str | None
) -> None:
    """Callsigns are trimmed and upper-cased; blanks, lone surrogates and junk become None."""
    [flight] = parse_flights(SOURCE, [record(callsign=callsign)])
    assert (flight.callsign, flight.operator) == (expected, operator)


def without(key: str) -> dict[str, Any]:
    """The golden record without `key`."""
    return {k: v for k, v in record().items() if k != key}


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "510b2c",
        [],
        without("icao24"),
        without("firstSeen"),
        record(icao24="zzzzzz"),
        record(icao24=5),
        record(firstSeen="1773133200"),
        record(firstSeen=1773133200.5),
        record(firstSeen=True),
        record(firstSeen=None),
        record(firstSeen=10**20),
        record(firstSeen=-5),
        record(lastSeen="late"),
        record(lastSeen=10**20),
    ],
)
def test_parse_flights_skips_malformed_records(bad: object) -> None:
    """A record that is not an object or lacks a usable icao24 or time is skipped."""
    payload = [record(icao24="aaaaaa"), bad, record(icao24="cccccc")]
    assert [f.icao24 for f in parse_flights(SOURCE, payload)] == ["aaaaaa", "cccccc"]


def test_parse_flights_cleans_odd_numbers() -> None:
    """NaN, infinity, booleans and absurd sizes in quality fields become None."""
    [flight] = parse_flights(
        SOURCE,
        [
            record(
                estDepartureAirportHorizDistance=float("nan"),
                estDepartureAirportVertDistance=float("inf"),
                estArrivalAirportHorizDistance=True,
                estArrivalAirportVertDistance=10**30,
                departureAirportCandidatesCount="3",
                arrivalAirportCandidatesCount=2.0,
            )
        ],
    )
    assert [value for _, value in flight.quality] == [None, None, None, None, None, 2.0]


def test_parse_flights_refuses_a_non_list() -> None:
    """A JSON object or scalar where the list should be is a ParseError naming OpenSky."""
    payloads: list[object] = [{"flights": []}, "x", None, 3]
    for payload in payloads:
        with pytest.raises(ParseError, match="OpenSky sent a JSON") as caught:
            parse_flights(SOURCE, payload)
        assert caught.value.source_id == SOURCE


def test_parse_flights_of_an_empty_list_is_empty() -> None:
    """`[]` is a valid, empty day."""
    assert parse_flights(SOURCE, []) == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"[" + b"9" * 5000 + b"]", "invalid JSON"),
        (b'[{"icao24": "510b2c", "firstSe', "invalid JSON"),
        (b"\xff\xfe\x00garbage", "invalid JSON"),
        (b"   ", "empty body"),
        (b"  <html><body>Maintenance</body></html>", "HTML page"),
    ],
)
def test_decode_flights_guards(body: bytes, words: str) -> None:
    """Deep nesting, huge integers, cut JSON, garbage, blanks and HTML are ParseErrors."""
    with pytest.raises(ParseError, match=words) as caught:
        decode_flights(SOURCE, body)
    assert str(caught.value).startswith(f"{SOURCE}: OpenSky ")


def test_decode_flights_takes_duplicate_keys_last_wins() -> None:
    """Duplicate keys resolve like json does (the last wins); the record is still parsed."""
    body = b'[{"icao24": "zzzzzz", "icao24": "510B2C", "firstSeen": 1773133200}]'
    [flight] = decode_flights(SOURCE, body)
    assert flight.icao24 == "510b2c"
    assert flight.arrival is None


def test_credentials_refuse_blanks() -> None:
    """Empty client id or secret is refused at construction, without echoing the secret."""
    with pytest.raises(ValueError, match="must not be empty") as caught:
        OpenSkyCredentials("  ", "s3cret")
    assert "s3cret" not in str(caught.value)
