"""OpenSky Network flight lists: the departures or arrivals of one airport on one UTC day.

Policy (reference/flight-data.md §1, §7.3):

- One UTC day per call: `GET {api_url}/flights/{departure|arrival}?airport=ICAO&begin=&end=`
  with `begin` = the day at 00:00:00 UTC and `end` = 23:59:59 UTC, well inside OpenSky's
  limit of 2 days per call. Departures are keyed on `firstSeen`, arrivals on `lastSeen`.
  A call costs `CREDITS_PER_DAY_QUERY` flight credits; the balance left is read from
  `X-Rate-Limit-Remaining` into `DayResult.credits_left`.
- Nightly batch: OpenSky lists flights up to yesterday, so only days before today (UTC) may
  be asked for; asking for today or later is a caller bug (ValueError).
- 404 means "no flights that day": an empty day, not an error.
- 429 means the credits are gone: `RateLimited` with `retry_after` from
  `X-Rate-Limit-Retry-After-Seconds` (else `Retry-After`), never an empty day.
- OAuth2 client credentials when configured (a 401 drops the token and retries exactly once
  with a new one), anonymous otherwise (no Authorization header at all).
- Every failure is a `FetchError`, `RateLimited` or `ParseError` naming the source and
  "OpenSky", keeping its cause; no httpx exception escapes. A body over 20 MiB, an HTML page,
  invalid JSON or JSON that is not a list is a `ParseError`; one malformed record in a list
  is skipped. No secret or token appears in any message. This module logs nothing.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Literal

import httpx

from watchers.clock import Clock
from watchers.errors import FetchError, ParseError, RateLimited
from watchers.feed_text import clip
from watchers.flights import Flight, normal_airport, normal_callsign, normal_icao24, operator_of
from watchers.http import ACCEPT_ENCODING
from watchers.http_body import BodyTooLarge, read_limited
from watchers.http_errors import fetch_errors, http_status, parse_retry_after
from watchers.inflate import CorruptBodyError, UnsupportedEncodingError
from watchers.opensky_auth import OPENSKY_AUTH_URL, OpenSkyCredentials, TokenProvider
from watchers.schedule import capped_retry_after

__all__ = [
    "CREDITS_PER_DAY_QUERY",
    "MAX_BODY_BYTES",
    "OPENSKY_API_URL",
    "DayResult",
    "FlightKind",
    "OpenSkyClient",
    "day_window",
    "decode_flights",
    "parse_flights",
]

OPENSKY_API_URL = "https://opensky-network.org/api"
CREDITS_PER_DAY_QUERY = 30  # a one- or two-partition /flights query (flight-data.md §1.4)
MAX_BODY_BYTES = 20 * 1024 * 1024
DEFAULT_DEADLINE = 60.0
EXCERPT_BYTES = 4 * 1024
EARLIEST_EPOCH = 946_684_800  # 2000-01-01: older "times" are garbage
LATEST_EPOCH = 4_102_444_800  # 2100-01-01
CALLSIGN_MAX = 16

FlightKind = Literal["departure", "arrival"]

_MIB = 1024 * 1024
_NUMBER_MAX = 2**53  # larger "distances" or "counts" are garbage (and overflow SQLite)
_SECONDS = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?")
_CREDITS = re.compile(r"-?[0-9]{1,12}")
_QUALITY_FIELDS = (
    ("dep_horiz_distance_m", "estDepartureAirportHorizDistance"),
    ("dep_vert_distance_m", "estDepartureAirportVertDistance"),
    ("arr_horiz_distance_m", "estArrivalAirportHorizDistance"),
    ("arr_vert_distance_m", "estArrivalAirportVertDistance"),
    ("dep_candidates", "departureAirportCandidatesCount"),
    ("arr_candidates", "arrivalAirportCandidatesCount"),
)


@dataclass(frozen=True, slots=True)
class DayResult:
    """The flights of one (kind, airport, UTC day), and the credits OpenSky says are left."""

    flights: tuple[Flight, ...]
    credits_left: int | None


@dataclass(frozen=True, slots=True)
class _Answer:
    """One HTTP exchange: status, headers, and the body (a clipped excerpt unless a 200)."""

    status: int
    headers: httpx.Headers
    body: bytes


class OpenSkyClient:
    """Asks OpenSky for one airport's departures or arrivals, one UTC day at a time.

    `client` is shared and closed by the caller (e.g. `watchers.http.make_client()`).
    `credentials=None` means anonymous access. `clock` returns the current aware UTC time;
    it decides "today" and token expiry.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        source_id: str,
        api_url: str,
        *,
        credentials: OpenSkyCredentials | None,
        auth_url: str = OPENSKY_AUTH_URL,
        clock: Clock,
        max_bytes: int = MAX_BODY_BYTES,
        deadline: float = DEFAULT_DEADLINE,
    ) -> None:
        self._client = client
        self._source_id = source_id
        self._api_url = api_url.rstrip("/")
        self._clock = clock
        self._max_bytes = max_bytes
        self._deadline = deadline
        self._tokens = (
            None
            if credentials is None
            else TokenProvider(client, source_id, credentials, auth_url=auth_url)
        )

    def __repr__(self) -> str:
        auth = "anonymous" if self._tokens is None else "oauth2"
        return f"OpenSkyClient(source_id={self._source_id!r}, api_url={self._api_url!r}, {auth})"

    async def day(self, kind: FlightKind, airport: str, day: date) -> DayResult:
        """The flights that departed from (`departure`) or arrived at (`arrival`) `airport`
        on the UTC date `day`, which must be before today.

        Raises RateLimited (429), FetchError (network, status) or ParseError (body).
        """
        code = self._check(kind, airport, day)
        begin, end = day_window(day)
        url = f"{self._api_url}/flights/{kind}"
        params = {"airport": code, "begin": str(begin), "end": str(end)}
        shown = f"{url}?airport={code}&begin={begin}&end={end}"
        late = f"OpenSky: no complete answer within {self._deadline:g} s"
        timeout = self._client.timeout
        with fetch_errors(self._source_id, shown, timeout, prefix="OpenSky: ", deadline=late):
            async with asyncio.timeout(self._deadline):
                result = await self._day(url, params, shown)
        return result

    def _check(self, kind: str, airport: str, day: date) -> str:
        """The normalised airport code; ValueError for a bad kind, code or day."""
        if kind not in ("departure", "arrival"):
            raise ValueError(f"kind must be 'departure' or 'arrival', not {kind!r}")
        code = normal_airport(airport)
        if code is None:
            raise ValueError(f"not an ICAO airport code: {airport!r}")
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the clock must return a timezone-aware datetime")
        today = now.astimezone(UTC).date()
        if day >= today:
            raise ValueError(
                f"{day.isoformat()} is not before today ({today.isoformat()} UTC): "
                "OpenSky lists a day's flights only after its nightly batch"
            )
        return code

    async def _day(self, url: str, params: dict[str, str], shown: str) -> DayResult:
        """One request, plus one retry with a fresh token after a 401."""
        token = await self._token()
        answer = await self._exchange(url, params, token, shown)
        if answer.status == 401 and self._tokens is not None:
            self._tokens.invalidate(token)
            token = await self._token()
            answer = await self._exchange(url, params, token, shown)
        return self._conclude(answer, shown, token)

    async def _token(self) -> str | None:
        """A bearer token, or None for anonymous access."""
        if self._tokens is None:
            return None
        return await self._tokens.token(self._clock())

    async def _exchange(
        self, url: str, params: dict[str, str], token: str | None, shown: str
    ) -> _Answer:
        """GET the flight list; read a 200 body whole (capped), any other body clipped."""
        headers = {"Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self._client.stream(
            "GET", url, params=params, headers=headers, follow_redirects=False
        ) as response:
            ok = response.status_code == 200
            try:
                cap = self._max_bytes if ok else EXCERPT_BYTES
                body = await read_limited(response, cap, clip=not ok)
            except BodyTooLarge as exc:
                message = f"OpenSky response larger than {self._max_bytes / _MIB:g} MiB"
                raise ParseError(self._source_id, message, url=shown) from exc
            except (CorruptBodyError, UnsupportedEncodingError) as exc:
                message = "OpenSky response body could not be decoded"
                raise FetchError(self._source_id, message, url=shown) from exc
            return _Answer(response.status_code, response.headers, body)

    def _conclude(self, answer: _Answer, shown: str, token: str | None) -> DayResult:
        """The DayResult of a 200 or 404, else the error the status means."""
        status = answer.status
        credits_left = _credits(answer.headers.get("x-rate-limit-remaining"))
        if status == 200:
            content_type = answer.headers.get("content-type", "")
            flights = decode_flights(self._source_id, answer.body, content_type, url=shown)
            return DayResult(tuple(flights), credits_left)
        if status == 404:
            return DayResult((), credits_left)
        if status == 429:
            raise self._rate_limited(answer, shown)
        if status == 401:
            message = (
                "OpenSky refused a fresh access token (HTTP 401)"
                if token is not None
                else "OpenSky requires authentication (HTTP 401): "
                "set OPENSKY_CLIENT_ID / OPENSKY_CLIENT_SECRET"
            )
            raise FetchError(self._source_id, message, url=shown)
        message = f"OpenSky answered {http_status(status)}"
        excerpt = _excerpt(answer.body, token)
        if excerpt:
            message += f": {excerpt}"
        raise FetchError(self._source_id, message, url=shown)

    def _rate_limited(self, answer: _Answer, shown: str) -> RateLimited:
        """RateLimited with the wait OpenSky asks for, if it names one."""
        retry_after = _seconds(answer.headers.get("x-rate-limit-retry-after-seconds"))
        if retry_after is None:
            retry_after = parse_retry_after(answer.headers.get("retry-after"), now=self._clock())
        message = "OpenSky credits exhausted or rate limited (HTTP 429"
        message += f", retry after {retry_after:g} s)" if retry_after is not None else ")"
        return RateLimited(self._source_id, message, url=shown, retry_after=retry_after)


def day_window(day: date) -> tuple[int, int]:
    """The epoch seconds of `day` 00:00:00 and 23:59:59 UTC: one call's `begin` and `end`."""
    begin = int(datetime.combine(day, time(0, 0), tzinfo=UTC).timestamp())
    return begin, begin + 86_399


def decode_flights(
    source_id: str, body: bytes, content_type: str = "application/json", *, url: str | None = None
) -> list[Flight]:
    """The flights in an OpenSky flight-list body; ParseError when it is not a JSON list.

    JSON that is too deep (RecursionError) or has a too-long integer (ValueError) is invalid.
    """
    text = body.lstrip()
    if not text:
        raise ParseError(source_id, "OpenSky sent an empty body, not a JSON list", url=url)
    if text.startswith(b"<") or "html" in content_type.lower():
        raise ParseError(source_id, "OpenSky sent an HTML page instead of JSON", url=url)
    try:
        payload = json.loads(body)
    except RecursionError as exc:
        raise ParseError(source_id, "OpenSky sent JSON nested too deeply", url=url) from exc
    except ValueError as exc:
        message = "OpenSky sent invalid JSON (truncated or garbage)"
        raise ParseError(source_id, message, url=url) from exc
    return parse_flights(source_id, payload, url=url)


def parse_flights(source_id: str, payload: object, *, url: str | None = None) -> list[Flight]:
    """The flights of a decoded OpenSky flight list (pure).

    ParseError when `payload` is not a list; a record that is not a usable flight (no valid
    icao24, no integer `firstSeen`, a non-integer `lastSeen`, …) is skipped.
    """
    if not isinstance(payload, list):
        kind = "object" if isinstance(payload, dict) else type(payload).__name__
        message = f"OpenSky sent a JSON {kind}, not a list of flights"
        raise ParseError(source_id, message, url=url)
    flights = (_flight(source_id, record) for record in payload)
    return [flight for flight in flights if flight is not None]


def _flight(source_id: str, record: object) -> Flight | None:
    """One OpenSky flight object as a Flight, or None when it is malformed."""
    if not isinstance(record, dict):
        return None
    icao24 = normal_icao24(record.get("icao24"))
    departure = _epoch(record.get("firstSeen"))
    last_seen = record.get("lastSeen")
    arrival = _epoch(last_seen)
    if icao24 is None or departure is None or (last_seen is not None and arrival is None):
        return None
    callsign = normal_callsign(_text(record.get("callsign")))
    return Flight(
        icao24=icao24,
        callsign=callsign,
        operator=operator_of(callsign),
        departure_airport=normal_airport(record.get("estDepartureAirport")),
        arrival_airport=normal_airport(record.get("estArrivalAirport")),
        departure=departure,
        arrival=arrival,
        source=source_id,
        quality=tuple((name, _number(record.get(key))) for name, key in _QUALITY_FIELDS),
    )


def _epoch(value: object) -> datetime | None:
    """An integer epoch second between 2000 and 2100 as an aware UTC datetime, else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if not EARLIEST_EPOCH <= value <= LATEST_EPOCH:
        return None
    return datetime.fromtimestamp(value, tz=UTC)


def _text(value: object) -> str | None:
    """A short string that can be stored (no lone surrogates), else None."""
    if not isinstance(value, str) or len(value) > CALLSIGN_MAX:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def _number(value: object) -> int | float | None:
    """A finite int or float (not a bool) of at most 2**53 in size, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if abs(value) <= _NUMBER_MAX else None


def _credits(value: str | None) -> int | None:
    """The integer in `X-Rate-Limit-Remaining`, or None."""
    if value is None or not _CREDITS.fullmatch(value.strip()):
        return None
    return int(value.strip())


def _seconds(value: str | None) -> float | None:
    """Seconds in `X-Rate-Limit-Retry-After-Seconds` (capped at 24 h), or None."""
    if value is None or not _SECONDS.fullmatch(value.strip()):
        return None
    return capped_retry_after(float(value.strip()))


def _excerpt(body: bytes, token: str | None, limit: int = 200) -> str:
    """A short, single-line, printable excerpt of an error body (never the token)."""
    text = body.decode("utf-8", "replace")
    if token:
        text = text.replace(token, "[token]")
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return clip(text, limit)
