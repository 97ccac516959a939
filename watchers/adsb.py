"""The ADS-B watcher: live sightings and route hints from an ADS-B Exchange v2 compatible API.

adsb.lol and adsb.fi answer `GET /v2/callsign/{cs}` and `GET /v2/hex/{hex}` with the readsb
envelope `{"ac": [...], "now": <epoch ms>, ...}`; adsb.lol also answers
`POST /api/0/routeset` with callsign → route hints from the VRS standing data. Snapshots have
no memory: the caller keeps the sightings and `watchers.legs` turns them into flights.

Politeness: at most one request per `min_interval` seconds per provider (`api_url`), shared by
every client given the same `watchers.pacing.Pacing` (the runner makes one per run; a client
made without one paces only itself). Failures: 429 and 503 raise `RateLimited`
(with the server's Retry-After), other statuses and network errors `FetchError`, a body that
is not the expected JSON `ParseError`; each names the source and keeps its cause.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx

from watchers.clock import Clock, utcnow
from watchers.errors import FetchError, ParseError
from watchers.flights import (
    Sighting,
    normal_airport,
    normal_callsign,
    normal_icao24,
    normal_text,
)
from watchers.http import ACCEPT_ENCODING
from watchers.http_body import BodyTooLarge, read_limited
from watchers.http_errors import fetch_errors, http_status, rate_limited
from watchers.inflate import CorruptBodyError, UnsupportedEncodingError
from watchers.pacing import Pacing, Sleep

MAX_ROUTESET_PLANES = 100
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_DEADLINE = 60.0
_MS_THRESHOLD = 1e11  # an epoch above this is in milliseconds (1e11 s is the year 5138)
_MAX_AGE = 24 * 3600.0  # a `seen`/`seen_pos` older than this is not believed


@dataclass(frozen=True, slots=True)
class RouteHint:
    """What the route database says a callsign flies: ICAO codes in order, and whether the
    position sent with the query lies on a plausible path between them."""

    callsign: str
    airports: tuple[str, ...]
    plausible: bool


class AdsbClient:
    """Queries one ADS-B v2 API; `client` should come from `watchers.http.make_client`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        source_id: str,
        api_url: str,
        *,
        min_interval: float = 1.0,
        clock: Clock = utcnow,
        sleep: Sleep = asyncio.sleep,
        max_bytes: int = DEFAULT_MAX_BYTES,
        deadline: float = DEFAULT_DEADLINE,
        pacing: Pacing | None = None,
    ) -> None:
        self.client = client
        self.source_id = source_id
        self.api_url = api_url.rstrip("/")
        self.min_interval = min_interval
        self.clock = clock
        self.sleep = sleep
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.pacing = Pacing() if pacing is None else pacing

    async def callsign(self, cs: str) -> list[Sighting]:
        """Aircraft now flying with callsign `cs` (padding and case do not matter)."""
        text = normal_callsign(cs)
        if text is None:
            raise ValueError(f"not a callsign: {cs!r}")
        return await self._aircraft(f"/v2/callsign/{quote(text, safe='')}")

    async def hex(self, icao24: str) -> list[Sighting]:
        """The aircraft with this 24-bit address (6 hex digits, optional leading `~`)."""
        text = normal_icao24(icao24)
        if text is None:
            raise ValueError(f"not an ICAO 24-bit address: {icao24!r}")
        return await self._aircraft(f"/v2/hex/{quote(text, safe='~')}")

    async def routes(self, planes: Sequence[tuple[str, float, float]]) -> dict[str, RouteHint]:
        """Route hints for (callsign, lat, lon) triples, 100 per request, keyed by callsign.

        Callsigns the database does not know get no entry; repeated callsigns are asked once;
        planes with an unusable callsign or position are skipped.
        """
        wanted: dict[str, dict[str, object]] = {}
        for callsign, lat, lon in planes:
            text = normal_callsign(callsign)
            if text and text not in wanted and math.isfinite(lat) and math.isfinite(lon):
                wanted[text] = {"callsign": text, "lat": lat, "lng": lon}
        batch = list(wanted.values())
        hints: dict[str, RouteHint] = {}
        for start in range(0, len(batch), MAX_ROUTESET_PLANES):
            body = {"planes": batch[start : start + MAX_ROUTESET_PLANES]}
            url = f"{self.api_url}/api/0/routeset"
            payload = await self._request("POST", url, body)
            hints.update(parse_routeset(self.source_id, payload, url=url))
        return hints

    async def _aircraft(self, path: str) -> list[Sighting]:
        url = self.api_url + path
        payload = await self._request("GET", url, None)
        return parse_aircraft(self.source_id, payload, received_at=self.clock(), url=url)

    async def _request(self, method: str, url: str, body: object) -> object:
        """One paced request; the decoded JSON answer, or a WatcherError."""
        await self.pacing.slot(self.api_url).turn(self.min_interval, self.sleep)
        headers = {"Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}
        late = f"ADS-B API gave no complete answer within {self.deadline:g} s"
        prefix = "ADS-B request failed: "
        with fetch_errors(self.source_id, url, self.client.timeout, prefix=prefix, deadline=late):
            async with (
                asyncio.timeout(self.deadline),
                self.client.stream(method, url, json=body, headers=headers) as response,
            ):
                self._check_status(response, url)
                raw = await self._read(response, url)
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
            raise ParseError(self.source_id, "ADS-B API answered non-JSON", url=url) from exc

    def _check_status(self, response: httpx.Response, url: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        message = f"ADS-B API answered {http_status(status, '(unknown status)')}"
        if status in (429, 503):
            header = response.headers.get("retry-after")
            raise rate_limited(
                self.source_id, message, url=url, retry_after=header, now=self.clock()
            )
        raise FetchError(self.source_id, message, url=url)

    async def _read(self, response: httpx.Response, url: str) -> bytes:
        """The body, inflated in bounded pieces, at most `max_bytes`."""
        try:
            return await read_limited(response, self.max_bytes)
        except BodyTooLarge:
            message = f"ADS-B answer larger than {self.max_bytes} bytes"
            raise FetchError(self.source_id, message, url=url) from None  # says it all
        except (UnsupportedEncodingError, CorruptBodyError) as exc:
            raise FetchError(self.source_id, "ADS-B answer has a bad encoding", url=url) from exc


def parse_aircraft(
    source_id: str,
    payload: object,
    *,
    received_at: datetime | None = None,
    url: str | None = None,
) -> list[Sighting]:
    """Sightings from a v2 envelope (`ac`, or readsb's `aircraft`), in the payload's order.

    `now` may be epoch milliseconds (the APIs) or seconds (readsb's aircraft.json);
    `received_at` stands in when it is missing. A sighting's time is `now` minus the age of its
    position (`seen_pos`, or `lastPosition.seen_pos`), else minus `seen`. Records without a
    valid `hex` are skipped; missing keys become None. The aircraft's registration (`r`),
    type (`t`), owner or operator (`ownOp`) and military flag (`dbFlags & 1`) are kept when
    the server's database knows them.
    """
    if not isinstance(payload, Mapping):
        raise ParseError(source_id, "ADS-B answer is not a JSON object", url=url)
    records = payload["ac"] if "ac" in payload else payload.get("aircraft")
    if records is None:
        return []
    if not isinstance(records, list):
        raise ParseError(source_id, "ADS-B answer's aircraft list is not a list", url=url)
    if not records:
        return []
    now = _epoch(payload.get("now")) or received_at
    if now is None:
        raise ParseError(source_id, "ADS-B answer has no usable 'now' time", url=url)
    sightings = []
    for record in records:
        sighting = _sighting(source_id, record, now) if isinstance(record, Mapping) else None
        if sighting is not None:
            sightings.append(sighting)
    return sightings


def parse_routeset(
    source_id: str, payload: object, *, url: str | None = None
) -> dict[str, RouteHint]:
    """Route hints from a routeset answer; "unknown" and unreadable entries are left out."""
    if not isinstance(payload, list):
        raise ParseError(source_id, "ADS-B routeset answer is not a JSON list", url=url)
    hints: dict[str, RouteHint] = {}
    for entry in payload:
        if not isinstance(entry, Mapping):
            continue
        callsign = normal_callsign(entry.get("callsign"))
        codes = entry.get("airport_codes")
        if callsign is None or not isinstance(codes, str) or codes.strip().lower() == "unknown":
            continue
        parts = codes.split("-")
        airports = tuple(code for code in map(normal_airport, parts) if code is not None)
        if len(airports) != len(parts):
            continue
        plausible = entry.get("plausible") in (True, 1)
        hints[callsign] = RouteHint(callsign, airports, plausible)
    return hints


def _sighting(source_id: str, record: Mapping[str, object], now: datetime) -> Sighting | None:
    icao24 = normal_icao24(record.get("hex"))
    if icao24 is None:
        return None
    altitude, on_ground = _altitude(record.get("alt_baro"))
    lat, lon = _position(record.get("lat"), record.get("lon"))
    age = _age(record.get("seen_pos"))
    last = record.get("lastPosition")
    if lat is None and isinstance(last, Mapping):
        lat, lon = _position(last.get("lat"), last.get("lon"))
        age = _age(last.get("seen_pos"))
    if lat is None or age is None:
        age = _age(record.get("seen"))
    seen_at = now - timedelta(seconds=age or 0.0)
    callsign = normal_callsign(record.get("flight"))
    return Sighting(
        icao24,
        callsign,
        seen_at,
        lat,
        lon,
        altitude,
        on_ground,
        source_id,
        registration=normal_text(record.get("r")),
        aircraft_type=normal_text(record.get("t")),
        owner=normal_text(record.get("ownOp")),
        military=_military(record.get("dbFlags")),
    )


def _military(value: object) -> bool | None:
    """`dbFlags & 1` (readsb: military), or None when the server sent no flags."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return bool(value & 1)


def _number(value: object) -> float | None:
    """A finite int or float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _epoch(value: object) -> datetime | None:
    number = _number(value)
    if number is None or number <= 0:
        return None
    seconds = number / 1000.0 if number > _MS_THRESHOLD else number
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _age(value: object) -> float | None:
    number = _number(value)
    if number is None or number > _MAX_AGE:
        return None
    return max(number, 0.0)


def _altitude(value: object) -> tuple[int | None, bool]:
    """(feet, on_ground) from `alt_baro`: an int, "ground", or nothing."""
    if isinstance(value, str) and value.strip().lower() == "ground":
        return 0, True
    number = _number(value)
    return (None if number is None else round(number)), False


def _position(lat: object, lon: object) -> tuple[float | None, float | None]:
    y, x = _number(lat), _number(lon)
    if y is None or x is None or not (-90 <= y <= 90 and -180 <= x <= 180):
        return None, None
    return y, x
