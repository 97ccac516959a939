"""A fake ADS-B Exchange v2 compatible API (adsb.lol style) on loopback.

    def test_something(adsb_api):
        adsb_api.set_aircraft([{"hex": "510123", "flight": "BRU8801 ", "alt_baro": 35000}])
        adsb_api.routes = {"BRU8801": ("UMMS-HLLB", True)}
        client = AdsbClient(http, "adsb-test", adsb_api.api_url)

Answers `GET /v2/callsign/{cs}` and `GET /v2/hex/{hex}` (alias `/v2/icao/`; comma-separated
lists allowed) with the v2 envelope `{"ac", "msg", "now" (ms), "total", "ctime", "ptime"}`
built from the aircraft the test set, and `POST /api/0/routeset` from `routes` in adsb.lol's
shape ("unknown" for callsigns it does not know; 400 for a bad body or not 1–100 planes).
`fail_next(kind)` makes the next request fail: "429" (with `retry_after` as Retry-After),
"503", "500", "html" (a 200 HTML page), "garbage" (a 200 truncated JSON body) or "shape"
(a 200 JSON string where an object or list belongs). `requests` records
(method, path, time.monotonic()) for every request; `routeset_bodies` the parsed POST bodies.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tests.fakes.loopback import LoopbackHTTPServer, started
from watchers.airports import airport

FAULT_KINDS = frozenset({"429", "503", "500", "html", "garbage", "shape"})
MAX_BODY = 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    server: LoopbackHTTPServer[FakeAdsbApi]

    def do_GET(self) -> None:
        self.server.owner.serve(self, "GET")

    def do_POST(self) -> None:
        self.server.owner.serve(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log on stderr."""


class FakeAdsbApi:
    """The loopback server: set aircraft and routes, point an AdsbClient at `api_url`."""

    def __init__(self) -> None:
        self.aircraft: list[dict[str, Any]] = []
        self.routes: dict[str, tuple[str, bool]] = {}
        self.now_ms: int | None = None  # None: the real time
        self.retry_after = "7"
        self.requests: list[tuple[str, str, float]] = []
        self.routeset_bodies: list[Any] = []
        self._faults: deque[str] = deque()
        self._lock = threading.Lock()
        self._httpd = LoopbackHTTPServer(self, _Handler)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.port}"

    def set_aircraft(self, aircraft: list[dict[str, Any]]) -> None:
        """The aircraft the API knows, as v2 `ac` records (copied)."""
        with self._lock:
            self.aircraft = [dict(record) for record in aircraft]

    def fail_next(self, kind: str) -> None:
        """Make the next request (whatever its path) fail as `kind` (see FAULT_KINDS)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self._faults.append(kind)

    def start(self) -> None:
        self._httpd.start()

    def stop(self) -> None:
        """Stop serving and close every connection."""
        self._httpd.stop()

    def serve(self, handler: _Handler, method: str) -> None:
        """Answer one request (called in the handler's thread)."""
        with self._lock:
            self.requests.append((method, handler.path, time.monotonic()))
            fault = self._faults.popleft() if self._faults else None
        try:
            body = self._read_body(handler) if method == "POST" else b""
            if body is None:
                _send(handler, 413, "text/plain", b"too large")
                handler.close_connection = True
            elif fault is not None:
                self._fail(handler, fault)
            else:
                self._answer(handler, method, body)
        except OSError:
            handler.close_connection = True

    def _read_body(self, handler: _Handler) -> bytes | None:
        length = int(handler.headers.get("Content-Length") or 0)
        return None if length > MAX_BODY else handler.rfile.read(length)

    def _fail(self, handler: _Handler, kind: str) -> None:
        if kind == "429":
            extra = {"Retry-After": self.retry_after}
            _send(handler, 429, "text/plain", b"Too Many Requests", extra)
        elif kind in ("503", "500"):
            _send(handler, int(kind), "text/plain", b"Service trouble")
        elif kind == "html":
            page = b"<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>"
            _send(handler, 200, "text/html", page)
        elif kind == "garbage":
            _send(handler, 200, "application/json", b'{"ac": [{"hex": "510123", "fli')
        else:
            _send_json(handler, 200, "No error")

    def _answer(self, handler: _Handler, method: str, body: bytes) -> None:
        parts = [unquote(p) for p in urlsplit(handler.path).path.strip("/").split("/")]
        if method == "POST" and parts == ["api", "0", "routeset"]:
            self._routeset(handler, body)
        elif method == "GET" and len(parts) == 3 and parts[0] == "v2":
            wanted = {value.strip() for value in parts[2].split(",")}
            if parts[1] == "callsign":
                self._envelope(handler, "flight", {value.upper() for value in wanted})
            elif parts[1] in ("hex", "icao"):
                self._envelope(handler, "hex", {value.lower() for value in wanted})
            else:
                _send_json(handler, 404, {"detail": "Not Found"})
        else:
            _send_json(handler, 404, {"detail": "Not Found"})

    def _envelope(self, handler: _Handler, key: str, wanted: set[str]) -> None:
        with self._lock:
            matches = [
                record
                for record in self.aircraft
                if isinstance(record.get(key), str) and _key(key, record[key]) in wanted
            ]
        now = self.now_ms if self.now_ms is not None else int(time.time() * 1000)
        envelope = {
            "ac": matches,
            "msg": "No error",
            "now": now,
            "total": len(matches),
            "ctime": now,
            "ptime": 1,
        }
        _send_json(handler, 200, envelope)

    def _routeset(self, handler: _Handler, body: bytes) -> None:
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        planes = document.get("planes") if isinstance(document, dict) else None
        if (
            not isinstance(planes, list)
            or not 1 <= len(planes) <= 100
            or not all(map(_plane, planes))
        ):
            _send_json(handler, 400, {"detail": "bad request"})
            return
        with self._lock:
            self.routeset_bodies.append(document)
            routes = dict(self.routes)
        _send_json(handler, 200, [_route(plane["callsign"], routes) for plane in planes])


def _key(key: str, value: str) -> str:
    return value.strip().upper() if key == "flight" else value.strip().lower()


def _plane(plane: object) -> bool:
    """A routeset plane: a callsign and numeric lat/lng."""
    if not isinstance(plane, dict) or not isinstance(plane.get("callsign"), str):
        return False
    return all(isinstance(plane.get(k), int | float) for k in ("lat", "lng"))


def _route(callsign: str, routes: dict[str, tuple[str, bool]]) -> dict[str, Any]:
    """One routeset answer in adsb.lol's shape."""
    if callsign not in routes:
        return {
            "callsign": callsign,
            "number": "unknown",
            "airline_code": "unknown",
            "airport_codes": "unknown",
            "_airport_codes_iata": "unknown",
            "_airports": [],
        }
    codes, plausible = routes[callsign]
    airports: list[dict[str, Any]] = []
    for code in codes.split("-"):
        known = airport(code)
        if known is not None:
            airports.append(
                {
                    "name": known.name,
                    "icao": known.icao,
                    "iata": known.iata,
                    "location": known.city,
                    "countryiso2": known.country,
                    "lat": known.lat,
                    "lon": known.lon,
                    "alt_feet": 0,
                    "alt_meters": 0,
                }
            )
    iata = "-".join(a["iata"] or a["icao"] for a in airports) if airports else codes
    return {
        "callsign": callsign,
        "number": callsign[3:],
        "airline_code": callsign[:3],
        "airport_codes": codes,
        "_airport_codes_iata": iata,
        "_airports": airports,
        "plausible": plausible,
    }


def _send(
    handler: _Handler,
    status: int,
    content_type: str,
    body: bytes,
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _send_json(handler: _Handler, status: int, document: object) -> None:
    _send(handler, status, "application/json", json.dumps(document).encode())


@pytest.fixture
def adsb_api() -> Iterator[FakeAdsbApi]:
    """A started FakeAdsbApi, stopped after the test."""
    yield from started(FakeAdsbApi())
