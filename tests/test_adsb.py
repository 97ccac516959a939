"""The ADS-B watcher: tolerant parsing of v2 envelopes and the client against a fake API."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fakes.adsb_api import FakeAdsbApi
from watchers.adsb import AdsbClient, RouteHint, parse_aircraft, parse_routeset
from watchers.errors import FetchError, ParseError, RateLimited
from watchers.flights import Sighting
from watchers.http import make_client
from watchers.pacing import Pacing

NOW = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
SOURCE = "adsb-test"


BRU8801: dict[str, Any] = {
    "hex": "510123",
    "type": "adsb_icao",
    "flight": "BRU8801 ",
    "r": "EW-546PA",
    "t": "B738",
    "alt_baro": 36000,
    "alt_geom": 36500,
    "gs": 452.1,
    "track": 12.5,
    "lat": 40.5,
    "lon": 23.25,
    "seen_pos": 2.5,
    "seen": 0.4,
    "messages": 1234,
    "rssi": -20.1,
}
ON_GROUND: dict[str, Any] = {
    "hex": "510200",
    "flight": "BRU8802 ",
    "alt_baro": "ground",
    "lat": 53.88,
    "lon": 28.03,
    "seen": 1.0,
}
NON_ICAO: dict[str, Any] = {"hex": "~2a1b3c", "type": "tisb_other", "alt_baro": 4500, "seen": 3}


def envelope(*aircraft: object, now: object = NOW_MS) -> dict[str, Any]:
    """A v2 API answer holding `aircraft`."""
    return {
        "ac": list(aircraft),
        "msg": "No error",
        "now": now,
        "total": len(aircraft),
        "ctime": now,
        "ptime": 3,
    }


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A real httpx client as the bot builds it, closed after the test."""
    async with make_client() as client:
        yield client


# ───────────────────────────── parse_aircraft ─────────────────────────────


def test_parse_full_record_with_now_in_milliseconds() -> None:
    """A complete record: trimmed callsign, altitude, position, time = now − seen_pos."""
    [sighting] = parse_aircraft(SOURCE, envelope(BRU8801))
    assert sighting == Sighting(
        icao24="510123",
        callsign="BRU8801",
        seen_at=NOW - timedelta(seconds=2.5),
        lat=40.5,
        lon=23.25,
        altitude_ft=36000,
        on_ground=False,
        source=SOURCE,
        registration="EW-546PA",
        aircraft_type="B738",
    )


@pytest.mark.parametrize(
    ("flags", "military"),
    [(1, True), (3, True), (0, False), (2, False), (None, None), ("1", None), (True, None)],
)
def test_parse_keeps_the_aircraft_owner_and_military_flag(
    flags: object, military: bool | None
) -> None:
    """`ownOp` is the owner or operator; `dbFlags & 1` is military (readsb's database)."""
    record = {**BRU8801, "ownOp": "  Belavia  ", "dbFlags": flags}
    [sighting] = parse_aircraft(SOURCE, envelope(record))
    assert (sighting.registration, sighting.aircraft_type, sighting.owner) == (
        "EW-546PA",
        "B738",
        "Belavia",
    )
    assert sighting.military is military


def test_parse_blank_aircraft_fields_are_unknown() -> None:
    record = {**BRU8801, "r": " ", "t": "", "ownOp": None}
    [sighting] = parse_aircraft(SOURCE, envelope(record))
    assert (sighting.registration, sighting.aircraft_type, sighting.owner) == (None, None, None)


def test_parse_readsb_aircraft_key_with_now_in_seconds() -> None:
    """readsb's aircraft.json uses `aircraft` and `now` in seconds."""
    payload = {"now": NOW.timestamp(), "messages": 99, "aircraft": [BRU8801]}
    [sighting] = parse_aircraft(SOURCE, payload)
    assert sighting.seen_at == NOW - timedelta(seconds=2.5)


def test_parse_ground_altitude() -> None:
    """alt_baro "ground" means altitude 0 and on the ground."""
    [sighting] = parse_aircraft(SOURCE, envelope(ON_GROUND))
    assert (sighting.altitude_ft, sighting.on_ground, sighting.callsign) == (0, True, "BRU8802")
    assert sighting.seen_at == NOW - timedelta(seconds=1)


def test_parse_missing_keys_give_none() -> None:
    """A record with only a hex: no callsign, altitude, position; seen at `now`."""
    [sighting] = parse_aircraft(SOURCE, envelope({"hex": "510123"}))
    assert sighting == Sighting("510123", None, NOW, None, None, None, False, SOURCE)


def test_parse_non_icao_hex_keeps_the_tilde() -> None:
    """A `~` hex (TIS-B) is kept; without position the time is now − seen."""
    [sighting] = parse_aircraft(SOURCE, envelope(NON_ICAO))
    assert sighting.icao24 == "~2a1b3c"
    assert (sighting.lat, sighting.lon, sighting.altitude_ft) == (None, None, 4500)
    assert sighting.seen_at == NOW - timedelta(seconds=3)


def test_parse_last_position_when_lat_lon_are_missing() -> None:
    """Without lat/lon, lastPosition gives the position and its own age."""
    record = {
        "hex": "510123",
        "flight": "BRU8801",
        "alt_baro": 12000,
        "seen": 1.0,
        "lastPosition": {"lat": 45.0, "lon": 30.0, "nic": 8, "rc": 186, "seen_pos": 75.0},
    }
    [sighting] = parse_aircraft(SOURCE, envelope(record))
    assert (sighting.lat, sighting.lon) == (45.0, 30.0)
    assert sighting.seen_at == NOW - timedelta(seconds=75)


@pytest.mark.parametrize(
    "record",
    [
        {"hex": "510123", "lat": None, "lon": None},
        {"hex": "510123", "lat": 95.0, "lon": 20.0},
        {"hex": "510123", "lat": True, "lon": 20.0},
        {"hex": "510123", "lat": "32.1", "lon": "20.2"},
        {"hex": "510123", "lat": 32.1},
        {"hex": "510123", "lastPosition": None},
    ],
)
def test_parse_unusable_positions_give_none(record: dict[str, Any]) -> None:
    """Null, out-of-range, boolean, string or half positions become None."""
    [sighting] = parse_aircraft(SOURCE, envelope(record))
    assert (sighting.lat, sighting.lon) == (None, None)


@pytest.mark.parametrize(
    ("alt_baro", "expected"),
    [(0, 0), (-125, -125), (3500.6, 3501), ("n/a", None), (None, None), (False, None)],
)
def test_parse_altitude_values(alt_baro: object, expected: int | None) -> None:
    """Numeric altitudes are rounded feet; anything else but "ground" is unknown."""
    [sighting] = parse_aircraft(SOURCE, envelope({"hex": "510123", "alt_baro": alt_baro}))
    assert (sighting.altitude_ft, sighting.on_ground) == (expected, False)


def test_parse_skips_records_without_a_valid_hex() -> None:
    """Missing, malformed or non-string hexes and non-object records are skipped."""
    records = [
        {"flight": "BRU8801"},
        {"hex": "xyz123"},
        {"hex": 510123},
        {"hex": "5101234"},
        "510123",
        None,
        BRU8801,
    ]
    sightings = parse_aircraft(SOURCE, envelope(*records))
    assert [s.icao24 for s in sightings] == ["510123"]


def test_parse_hex_is_lower_cased_and_callsign_blank_is_none() -> None:
    """Upper-case hexes are normalised; an all-space callsign is None."""
    [sighting] = parse_aircraft(SOURCE, envelope({"hex": " 51A0FF", "flight": "        "}))
    assert (sighting.icao24, sighting.callsign) == ("51a0ff", None)


@pytest.mark.parametrize(
    "payload",
    [
        {"msg": "No error", "now": NOW_MS},
        {"ac": None, "now": NOW_MS},
        {"ac": []},
        {"ac": [], "now": "soon"},
    ],
)
def test_parse_no_aircraft_is_an_empty_list(payload: dict[str, Any]) -> None:
    """`ac` missing, null or empty gives no sightings, even without a usable `now`."""
    assert parse_aircraft(SOURCE, payload) == []


def test_parse_missing_now_uses_received_at() -> None:
    """Without `now`, the time the answer was received stands in."""
    payload = {"ac": [{"hex": "510123", "seen": 4}]}
    [sighting] = parse_aircraft(SOURCE, payload, received_at=NOW)
    assert sighting.seen_at == NOW - timedelta(seconds=4)


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "No error",
        None,
        {"ac": "none"},
        {"ac": {"hex": "510123"}, "now": NOW_MS},
        {"ac": [BRU8801]},
        {"ac": [BRU8801], "now": -5},
        {"ac": [BRU8801], "now": 1e300},
    ],
)
def test_parse_wrong_shapes_raise_parse_error(payload: object) -> None:
    """A non-object, a non-list `ac`, or aircraft without any usable time are ParseErrors."""
    with pytest.raises(ParseError) as caught:
        parse_aircraft(SOURCE, payload)
    assert SOURCE in str(caught.value)
    assert "ADS-B" in str(caught.value)


def test_parse_ignores_absurd_ages() -> None:
    """A negative age counts as 0, an age over a day is ignored."""
    records = [{"hex": "510123", "seen": -3}, {"hex": "510124", "seen": 1e12, "seen_pos": 1e15}]
    sightings = parse_aircraft(SOURCE, envelope(*records))
    assert [s.seen_at for s in sightings] == [NOW, NOW]


# ───────────────────────────── parse_routeset ─────────────────────────────


def test_parse_routeset_shapes() -> None:
    """Known routes become hints; "unknown", nulls, bad codes and missing callsigns do not."""
    answer = [
        {"callsign": "BRU8801", "airport_codes": "UMMS-HLLB", "_airports": [], "plausible": True},
        {"callsign": "AFR136", "airport_codes": "LFPG-KORD", "plausible": 1},
        {"callsign": "DLH1", "airport_codes": "EDDF-LFPG-KORD", "plausible": 0},
        {"callsign": "KLM000", "airport_codes": "unknown", "_airports": []},
        {"callsign": "XXX1", "airport_codes": "LF-PG"},
        {"airport_codes": "EDDF-KORD", "plausible": True},
        None,
        "BRU8802",
    ]
    assert parse_routeset(SOURCE, answer) == {
        "BRU8801": RouteHint("BRU8801", ("UMMS", "HLLB"), True),
        "AFR136": RouteHint("AFR136", ("LFPG", "KORD"), True),
        "DLH1": RouteHint("DLH1", ("EDDF", "LFPG", "KORD"), False),
    }


def test_parse_routeset_not_a_list_is_parse_error() -> None:
    """A routeset answer must be a JSON list."""
    with pytest.raises(ParseError, match="ADS-B routeset"):
        parse_routeset(SOURCE, {"planes": []})


# ───────────────────────────── the client ─────────────────────────────


async def test_callsign_query(adsb_api: FakeAdsbApi, http: httpx.AsyncClient) -> None:
    """GET /v2/callsign/BRU8801 returns the padded BRU8801 only, as sightings."""
    adsb_api.now_ms = NOW_MS
    adsb_api.set_aircraft([BRU8801, ON_GROUND, NON_ICAO])
    client = AdsbClient(http, SOURCE, adsb_api.api_url + "/", min_interval=0.0)
    sightings = await client.callsign(" bru8801 ")
    assert [(s.icao24, s.callsign, s.altitude_ft, s.seen_at) for s in sightings] == [
        ("510123", "BRU8801", 36000, NOW - timedelta(seconds=2.5))
    ]
    assert [(m, p) for m, p, _ in adsb_api.requests] == [("GET", "/v2/callsign/BRU8801")]


async def test_hex_query(adsb_api: FakeAdsbApi, http: httpx.AsyncClient) -> None:
    """GET /v2/hex/{hex} finds ICAO and `~` addresses; nothing found is an empty list."""
    adsb_api.set_aircraft([BRU8801, ON_GROUND, NON_ICAO])
    client = AdsbClient(http, SOURCE, adsb_api.api_url, min_interval=0.0)
    [ground] = await client.hex("510200")
    assert ground.on_ground
    [tisb] = await client.hex("~2A1B3C")
    assert tisb.icao24 == "~2a1b3c"
    assert await client.hex("5103ff") == []
    assert [p for _, p, _ in adsb_api.requests] == [
        "/v2/hex/510200",
        "/v2/hex/~2a1b3c",
        "/v2/hex/5103ff",
    ]


async def test_bad_arguments_raise_value_error(http: httpx.AsyncClient) -> None:
    """A blank callsign or a malformed hex is the caller's bug, not a source error."""
    client = AdsbClient(http, SOURCE, "http://127.0.0.1:9", min_interval=0.0)
    with pytest.raises(ValueError, match="callsign"):
        await client.callsign("   ")
    with pytest.raises(ValueError, match="24-bit"):
        await client.hex("51012")


async def test_routeset_query(adsb_api: FakeAdsbApi, http: httpx.AsyncClient) -> None:
    """POST /api/0/routeset: known callsigns become hints, unknown ones are left out."""
    adsb_api.routes = {"BRU8801": ("UMMS-HLLB", True), "BRU8802": ("HLLB-UMMS", False)}
    client = AdsbClient(http, SOURCE, adsb_api.api_url, min_interval=0.0)
    hints = await client.routes(
        [("BRU8801 ", 40.5, 23.25), ("bru8802", 53.8, 28.0), ("ZZZ999", 1.0, 2.0)]
    )
    assert hints == {
        "BRU8801": RouteHint("BRU8801", ("UMMS", "HLLB"), True),
        "BRU8802": RouteHint("BRU8802", ("HLLB", "UMMS"), False),
    }
    [body] = adsb_api.routeset_bodies
    assert body == {
        "planes": [
            {"callsign": "BRU8801", "lat": 40.5, "lng": 23.25},
            {"callsign": "BRU8802", "lat": 53.8, "lng": 28.0},
            {"callsign": "ZZZ999", "lat": 1.0, "lng": 2.0},
        ]
    }


async def test_routeset_batches_of_100(adsb_api: FakeAdsbApi, http: httpx.AsyncClient) -> None:
    """150 planes go out as 100 + 50; repeats and unusable planes are not sent."""
    adsb_api.routes = {"BRU0149": ("UMMS-HLLB", True)}
    client = AdsbClient(http, SOURCE, adsb_api.api_url, min_interval=0.0)
    planes = [(f"BRU{n:04d}", 50.0, 25.0) for n in range(150)]
    planes += [("BRU0001", 1.0, 1.0), ("  ", 1.0, 1.0), ("BRU9999", float("nan"), 1.0)]
    hints = await client.routes(planes)
    assert list(hints) == ["BRU0149"]
    assert [len(body["planes"]) for body in adsb_api.routeset_bodies] == [100, 50]


async def test_routeset_without_planes_sends_nothing(
    adsb_api: FakeAdsbApi, http: httpx.AsyncClient
) -> None:
    """No planes, no request."""
    client = AdsbClient(http, SOURCE, adsb_api.api_url, min_interval=0.0)
    assert await client.routes([]) == {}
    assert adsb_api.requests == []


async def test_fake_rejects_bad_routeset_bodies(
    adsb_api: FakeAdsbApi, http: httpx.AsyncClient
) -> None:
    """The fake answers 400 to more than 100 planes or a malformed body, as adsb.lol does."""
    url = adsb_api.api_url + "/api/0/routeset"
    too_many = {"planes": [{"callsign": "BRU8801", "lat": 1.0, "lng": 2.0}] * 101}
    assert (await http.post(url, json=too_many)).status_code == 400
    assert (await http.post(url, content=b"{not json")).status_code == 400
    assert (await http.post(url, json={"planes": [{"callsign": "BRU8801"}]})).status_code == 400


@pytest.mark.parametrize(("kind", "retry_after"), [("429", 7.0), ("503", None)])
async def test_rate_limit_statuses(
    adsb_api: FakeAdsbApi, http: httpx.AsyncClient, kind: str, retry_after: float | None
) -> None:
    """429 and 503 raise RateLimited with the server's Retry-After (or None)."""
    client = AdsbClient(http, SOURCE, adsb_api.api_url, min_interval=0.0)
    adsb_api.fail_next(kind)
    with pytest.raises(RateLimited) as caught:
        await client.callsign("BRU8801")
    assert caught.value.retry_after == retry_after
    assert f"HTTP {kind}" in str(caught.value)
    assert str(caught.value).startswith(f"{SOURCE}: ADS-B")


async def test_rate_limit_on_routeset(adsb_api: FakeAdsbApi, http: httpx.AsyncClient) -> None:
    """A 429 on the routeset POST is RateLimited too."""
    client = AdsbClient(http, SOURCE, adsb_api.api_url, min_interval=0.0)
    adsb_api.fail_next("429")
    with pytest.raises(RateLimited):
        await client.routes([("BRU8801", 40.0, 23.0)])


async def test_server_error_is_fetch_error(adsb_api: FakeAdsbApi, http: httpx.AsyncClient) -> None:
    """A 500 is a FetchError (not RateLimited) naming the status and source."""
    client = AdsbClient(http, SOURCE, adsb_api.api_url, min_interval=0.0)
    adsb_api.fail_next("500")
    with pytest.raises(FetchError) as caught:
        await client.hex("510123")
    assert not isinstance(caught.value, RateLimited)
    assert "HTTP 500 Internal Server Error" in str(caught.value)
    assert caught.value.url == adsb_api.api_url + "/v2/hex/510123"


@pytest.mark.parametrize("kind", ["html", "garbage"])
async def test_non_json_is_parse_error(
    adsb_api: FakeAdsbApi, http: httpx.AsyncClient, kind: str
) -> None:
    """An HTML page or truncated JSON is a ParseError that keeps the decoder's error."""
    client = AdsbClient(http, SOURCE, adsb_api.api_url, min_interval=0.0)
    adsb_api.fail_next(kind)
    with pytest.raises(ParseError) as caught:
        await client.callsign("BRU8801")
    assert isinstance(caught.value.__cause__, json.JSONDecodeError)
    assert "ADS-B" in str(caught.value)


async def test_wrong_json_shape_is_parse_error(
    adsb_api: FakeAdsbApi, http: httpx.AsyncClient
) -> None:
    """Valid JSON of the wrong shape is a ParseError, for aircraft and for routes."""
    client = AdsbClient(http, SOURCE, adsb_api.api_url, min_interval=0.0)
    adsb_api.fail_next("shape")
    with pytest.raises(ParseError, match="not a JSON object"):
        await client.callsign("BRU8801")
    adsb_api.fail_next("shape")
    with pytest.raises(ParseError, match="not a JSON list"):
        await client.routes([("BRU8801", 40.0, 23.0)])


async def test_body_over_the_cap_is_fetch_error(
    adsb_api: FakeAdsbApi, http: httpx.AsyncClient
) -> None:
    """An answer larger than max_bytes is refused."""
    adsb_api.set_aircraft([BRU8801] * 50)
    client = AdsbClient(http, SOURCE, adsb_api.api_url, min_interval=0.0, max_bytes=1000)
    with pytest.raises(FetchError, match="larger than 1000 bytes"):
        await client.callsign("BRU8801")


async def test_connection_refused_is_fetch_error(http: httpx.AsyncClient) -> None:
    """A dead port is a FetchError saying so, with the httpx error as cause."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = AdsbClient(http, SOURCE, f"http://127.0.0.1:{port}", min_interval=0.0)
    with pytest.raises(FetchError, match="ADS-B request failed: connection refused") as caught:
        await client.callsign("BRU8801")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_one_request_per_interval_per_provider(
    adsb_api: FakeAdsbApi, http: httpx.AsyncClient
) -> None:
    """Two clients of one provider sharing a Pacing, called concurrently, are spaced
    min_interval apart."""
    adsb_api.set_aircraft([BRU8801])
    pacing = Pacing()
    first = AdsbClient(http, SOURCE, adsb_api.api_url, min_interval=0.2, pacing=pacing)
    second = AdsbClient(http, "adsb-other", adsb_api.api_url, min_interval=0.2, pacing=pacing)
    await asyncio.gather(
        first.callsign("BRU8801"),
        second.hex("510123"),
        first.routes([("BRU8801", 40.0, 23.0)]),
        second.callsign("BRU8802"),
    )
    times = [at for _, _, at in adsb_api.requests]
    assert len(times) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 0.18, gaps


async def test_pacing_is_shared_only_through_the_pacing_given(
    adsb_api: FakeAdsbApi, http: httpx.AsyncClient
) -> None:
    """No module-level state: a client made with its own Pacing does not wait for another
    client's request; one given the same Pacing does."""
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    shared = Pacing()
    first = AdsbClient(
        http, SOURCE, adsb_api.api_url, min_interval=30.0, sleep=fake_sleep, pacing=shared
    )
    alone = AdsbClient(http, "adsb-alone", adsb_api.api_url, min_interval=30.0, sleep=fake_sleep)
    await first.hex("510123")
    await alone.hex("510123")
    assert waits == []
    together = AdsbClient(
        http, "adsb-other", adsb_api.api_url, min_interval=30.0, sleep=fake_sleep, pacing=shared
    )
    await together.hex("510123")
    assert len(waits) == 1


async def test_pacing_uses_the_injected_sleep(
    adsb_api: FakeAdsbApi, http: httpx.AsyncClient
) -> None:
    """The second request waits about min_interval, through the injected sleep."""
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    client = AdsbClient(http, SOURCE, adsb_api.api_url, min_interval=30.0, sleep=fake_sleep)
    await client.hex("510123")
    assert waits == []
    await client.hex("510123")
    assert len(waits) == 1
    assert 25.0 < waits[0] <= 30.0
