"""A fake OpenSky Network on loopback: the OAuth2 token endpoint and the flight lists.

    def test_something(opensky_api):
        opensky_api.add_flight(icao24="510b2c", first_seen=..., last_seen=...)
        client = OpenSkyClient(http, "opensky", opensky_api.api_url, credentials=None, ...)

What it does like the real service (reference/flight-data.md §1):

- `POST /auth/token` takes the form `grant_type=client_credentials, client_id,
  client_secret`; wrong credentials get 401 `{"error": "invalid_client"}`, another grant
  type 400 `{"error": "unsupported_grant_type"}`. A token is `tok-N` (N counts up).
- `GET /api/flights/departure|arrival?airport=&begin=&end=`: 400 for a missing or
  non-integer parameter, `end <= begin` or a window over 2 days; departures are matched on
  `estDepartureAirport` and `begin <= firstSeen <= end`, arrivals on `estArrivalAirport` and
  `lastSeen`. Nothing found: 404 with an empty body. Callsigns are space-padded to 8.
- Each answered query (200 or 404) costs 30 credits; `X-Rate-Limit-Remaining` carries the
  balance. With fewer than 30 left, or after `rate_limit(seconds)`: 429 with
  `X-Rate-Limit-Retry-After-Seconds`.
- A request with an `Authorization` header needs a valid, unexpired bearer token (else
  401); without one it is anonymous, which `require_auth = True` refuses with 401.

Faults: `fail_next(kind)` for the next API request(s): "500", "400", "401", "html" (a 200
HTML page), "truncated" (a 200 with cut JSON), "garbage", "object" (a JSON object, not a
list), "empty" (a 200 with no body), "huge" (a 21 MiB 200 body without Content-Length);
"auth_500" and "auth_html" for the token endpoint. `requests` records every API request
(path, params, Authorization header); `token_requests` the forms posted for tokens.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.fakes.loopback import LoopbackHTTPServer, started

TEST_CLIENT_ID = "vedette-test-client"
TEST_CLIENT_SECRET = "s3cret-Zq81-do-not-log"
CREDITS_PER_QUERY = 30
MAX_WINDOW = 2 * 86_400
HUGE_BYTES = 21 * 1024 * 1024

API_FAULTS = frozenset(
    {"500", "400", "401", "html", "truncated", "garbage", "object", "empty", "huge"}
)
AUTH_FAULTS = frozenset({"auth_500", "auth_html"})

_HTML = (
    b"<!DOCTYPE html>\n<html><head><title>OpenSky Network</title></head>"
    b"<body><h1>Maintenance</h1><p>We'll be back soon.</p></body></html>\n"
)
_GARBAGE = b"\x00\x8f{]]nonsense\xff\xfe\x01 not json at all"


@dataclass(frozen=True)
class RecordedRequest:
    """One API request as the fake saw it."""

    path: str
    params: dict[str, str]
    authorization: str | None

    @property
    def has_auth(self) -> bool:
        """True when the request carried an Authorization header."""
        return self.authorization is not None


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "application/json"
    stream_huge: bool = False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle keep-alive connection ends on its own
    server: LoopbackHTTPServer[FakeOpenSky]

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log on stderr."""

    def _dispatch(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            parts = urlsplit(self.path)
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            authorization = self.headers.get("Authorization")
            reply = self.server.owner.handle(method, parts.path, params, body, authorization)
            self._send(reply)
        except OSError:
            self.close_connection = True

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status, HTTPStatus(reply.status).phrase)
        if reply.content_type is not None:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.stream_huge:
            self.close_connection = True
            self.send_header("Connection", "close")
            self.end_headers()
            self._write_huge()
            return
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def _write_huge(self) -> None:
        """`[` and then spaces, HUGE_BYTES in all, in 64 KiB writes."""
        block = b" " * 65_536
        self.wfile.write(b"[")
        for _ in range(HUGE_BYTES // len(block)):
            self.wfile.write(block)


class FakeOpenSky:
    """The fake service; see the module docstring. Thread-safe; read its state from tests.

    Writable settings: `credits` (the flights balance), `require_auth`, `token_lifetime`
    (the `expires_in` it sends), `refill_after` (the retry-after of an exhausted balance).
    """

    def __init__(
        self,
        *,
        client_id: str = TEST_CLIENT_ID,
        client_secret: str = TEST_CLIENT_SECRET,
        credits: int = 4000,
        require_auth: bool = False,
        token_lifetime: int = 1800,
        refill_after: int = 22_688,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.credits = credits
        self.require_auth = require_auth
        self.token_lifetime = token_lifetime
        self.refill_after = refill_after
        self.tokens_issued = 0
        self.requests: list[RecordedRequest] = []
        self.token_requests: list[dict[str, str]] = []
        self.records: list[dict[str, Any]] = []
        self._valid_tokens: set[str] = set()
        self._rate_limited: int | None = None
        self._rate_limit_header: str | None = "X-Rate-Limit-Retry-After-Seconds"
        self._faults: deque[str] = deque()
        self._lock = threading.Lock()
        self._httpd = LoopbackHTTPServer(self, _Handler)

    # ── lifecycle ──

    def start(self) -> FakeOpenSky:
        """Serve in a background thread."""
        self._httpd.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection."""
        self._httpd.stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://127.0.0.1:{self._httpd.port}"

    @property
    def api_url(self) -> str:
        """The REST root, like `https://opensky-network.org/api`."""
        return f"{self.url}/api"

    @property
    def auth_url(self) -> str:
        """The OAuth2 token endpoint."""
        return f"{self.url}/auth/token"

    # ── test data and faults ──

    def add_flight(
        self,
        *,
        icao24: str,
        first_seen: datetime,
        last_seen: datetime,
        callsign: str | None = "BRU8801 ",
        dep: str | None = "HLLB",
        arr: str | None = "UMMS",
        candidates: int = 0,
        horiz: int | None = 1200,
        vert: int | None = 40,
    ) -> dict[str, Any]:
        """Load one flight (distances are null for a null airport, as OpenSky sends them)."""
        record = {
            "icao24": icao24,
            "firstSeen": int(first_seen.timestamp()),
            "estDepartureAirport": dep,
            "lastSeen": int(last_seen.timestamp()),
            "estArrivalAirport": arr,
            "callsign": callsign,
            "estDepartureAirportHorizDistance": horiz if dep else None,
            "estDepartureAirportVertDistance": vert if dep else None,
            "estArrivalAirportHorizDistance": horiz if arr else None,
            "estArrivalAirportVertDistance": vert if arr else None,
            "departureAirportCandidatesCount": candidates,
            "arrivalAirportCandidatesCount": candidates,
        }
        return self.add_record(record)

    def add_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """Load any JSON object as a flight record. It is served when its airport matches
        and its time is in the window, or is not an integer (malformed records get through).
        """
        with self._lock:
            self.records.append(record)
        return record

    def fail_next(self, kind: str, times: int = 1) -> None:
        """Make the next `times` API (or, for "auth_*", token) requests fail with `kind`."""
        if kind not in API_FAULTS | AUTH_FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(API_FAULTS | AUTH_FAULTS)}")
        with self._lock:
            self._faults.extend([kind] * times)

    def rate_limit(
        self, seconds: int, *, header: str | None = "X-Rate-Limit-Retry-After-Seconds"
    ) -> None:
        """Answer every API request 429 until `lift_rate_limit()`, saying `seconds` in `header`
        (OpenSky's own by default; "Retry-After", or None for no hint at all).
        """
        with self._lock:
            self._rate_limited = seconds
            self._rate_limit_header = header

    def lift_rate_limit(self) -> None:
        """End `rate_limit`."""
        with self._lock:
            self._rate_limited = None
            self._rate_limit_header = "X-Rate-Limit-Retry-After-Seconds"

    def expire_tokens(self) -> None:
        """Make every token issued so far invalid (401 on the API until a new one is used)."""
        with self._lock:
            self._valid_tokens.clear()

    # ── serving (handler threads) ──

    def handle(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        body: bytes,
        authorization: str | None,
    ) -> _Reply:
        """Answer one request."""
        with self._lock:
            if method == "POST" and path == "/auth/token":
                return self._token(body)
            if method == "GET" and path in ("/api/flights/departure", "/api/flights/arrival"):
                self.requests.append(RecordedRequest(path, params, authorization))
                return self._flights(path.rsplit("/", 1)[1], params, authorization)
        return _Reply(404, b"no such route", content_type="text/plain")

    def _take_fault(self, kinds: frozenset[str]) -> str | None:
        if self._faults and self._faults[0] in kinds:
            return self._faults.popleft()
        return None

    def _token(self, body: bytes) -> _Reply:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        self.token_requests.append(form)
        fault = self._take_fault(AUTH_FAULTS)
        if fault == "auth_500":
            return _Reply(500, b'{"error":"unknown_error"}')
        if fault == "auth_html":
            return _Reply(200, _HTML, content_type="text/html")
        if form.get("grant_type") != "client_credentials":
            return _Reply(400, _json({"error": "unsupported_grant_type"}))
        if form.get("client_id") != self.client_id or (
            form.get("client_secret") != self.client_secret
        ):
            description = "Invalid client or Invalid client credentials"
            return _Reply(401, _json({"error": "invalid_client", "error_description": description}))
        self.tokens_issued += 1
        token = f"tok-{self.tokens_issued}"
        self._valid_tokens.add(token)
        answer = {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        return _Reply(200, _json(answer))

    def _flights(self, kind: str, params: dict[str, str], authorization: str | None) -> _Reply:
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or token not in self._valid_tokens:
                return _Reply(401, b"", content_type=None)
        elif self.require_auth:
            return _Reply(401, b"", content_type=None)
        if self._rate_limited is not None or self.credits < CREDITS_PER_QUERY:
            if self._rate_limited is None:
                headers = {"X-Rate-Limit-Retry-After-Seconds": str(self.refill_after)}
            elif self._rate_limit_header is None:
                headers = {}
            else:
                headers = {self._rate_limit_header: str(self._rate_limited)}
            return _Reply(429, b"Too many requests", headers, content_type="text/plain")
        fault = self._take_fault(API_FAULTS)
        if fault is not None:
            return _fault_reply(fault)
        window = _window(params)
        if isinstance(window, _Reply):
            return window
        self.credits -= CREDITS_PER_QUERY
        headers = {"X-Rate-Limit-Remaining": str(self.credits)}
        found = [r for r in self.records if _matches(r, kind, params["airport"], *window)]
        if not found:
            return _Reply(404, b"", headers, content_type=None)
        return _Reply(200, _json(found), headers)


def _window(params: dict[str, str]) -> tuple[int, int] | _Reply:
    """(begin, end) from the query, or the 400 OpenSky answers for a bad one."""
    if not params.get("airport"):
        return _bad_request("airport is required")
    try:
        begin, end = int(params["begin"]), int(params["end"])
    except (KeyError, ValueError):
        return _bad_request("begin and end are required integers")
    if end <= begin:
        return _bad_request("end must be after begin")
    if end - begin > MAX_WINDOW:
        return _bad_request("The time interval must not be larger than 2 days")
    return begin, end


def _matches(record: dict[str, Any], kind: str, airport: str, begin: int, end: int) -> bool:
    """Whether a loaded record answers a departures/arrivals query."""
    airport_key, time_key = (
        ("estDepartureAirport", "firstSeen")
        if kind == "departure"
        else ("estArrivalAirport", "lastSeen")
    )
    if record.get(airport_key) != airport:
        return False
    when = record.get(time_key)
    if isinstance(when, int) and not isinstance(when, bool):
        return begin <= when <= end
    return True


def _fault_reply(kind: str) -> _Reply:
    """The answer for an injected API fault."""
    if kind == "500":
        return _Reply(
            500, b"Internal Server Error: database unavailable", content_type="text/plain"
        )
    if kind == "400":
        return _Reply(400, b"Bad Request: time too old", content_type="text/plain")
    if kind == "401":
        return _Reply(401, b"", content_type=None)
    if kind == "html":
        return _Reply(200, _HTML, content_type="text/html; charset=utf-8")
    if kind == "truncated":
        whole = _json([{"icao24": "510b2c", "firstSeen": 1773100800, "callsign": "BRU8801 "}])
        return _Reply(200, whole[: len(whole) // 2])
    if kind == "garbage":
        return _Reply(200, _GARBAGE)
    if kind == "object":
        return _Reply(200, _json({"flights": []}))
    if kind == "empty":
        return _Reply(200, b"")
    return _Reply(200, b"", stream_huge=True)  # "huge"


def _bad_request(message: str) -> _Reply:
    return _Reply(400, message.encode(), content_type="text/plain")


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.fixture(name="opensky_api")  # the name survives `import ... as ...`
def opensky_api() -> Iterator[FakeOpenSky]:
    """A running fake OpenSky (client TEST_CLIENT_ID / TEST_CLIENT_SECRET, 4000 credits)."""
    yield from started(FakeOpenSky())
