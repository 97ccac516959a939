"""A real loopback HTTP server for feed tests, and builders for RSS, Atom and JSON Feed bodies.

    def test_something(feed_server):
        feed_server.route("/feed", body=rss([Entry("Haftar in Minsk", link="https://x/1")]))
        url = feed_server.url("/feed")

Routes can answer 304 to matching conditional requests, hang, drip slowly, redirect, send
any status and headers (Retry-After), stream a big body without Content-Length, claim a false
Content-Length or serve a gzip bomb (see `Route`). `feed_server.requests` records each
request's path and headers (names lower-cased). The server runs on 127.0.0.1 in a daemon
thread; `stop()` releases hanging and dripping handlers and closes every connection.
"""

from __future__ import annotations

import gzip as gzip_module
import hashlib
import json
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import pytest

from tests.fakes.loopback import LoopbackHTTPServer, started

AUTO: Literal["auto"] = "auto"


@dataclass
class Route:
    """How the server answers one path.

    `content_length`: "auto" sends the real length; None sends none and closes the
    connection after the body; an int is sent as is (a lie, unless it is right).
    `repeat` writes the body that many times (a big body without building it in memory).
    `drip` sends the body one byte every `drip` seconds; `delay` waits before answering;
    `hang` reads the request and never answers. `redirect_to` answers 302 (or `status`,
    if it is a 3xx) with that Location.
    """

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "application/rss+xml"
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    delay: float = 0.0
    hang: bool = False
    drip: float | None = None
    redirect_to: str | None = None
    repeat: int = 1
    content_length: int | Literal["auto"] | None = AUTO


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle keep-alive connection ends on its own
    server: LoopbackHTTPServer[FeedServer]

    def do_GET(self) -> None:
        self.server.owner.serve(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log on stderr."""


class FeedServer:
    """The loopback server: add routes, point a client at `url(path)`.

    `backlog` and `nodelay` make it behave like a production server under load (the
    benchmarks): a listen backlog of hundreds instead of socketserver's 5, so 1,000 clients
    connecting at once do not wait for SYN retransmissions, and TCP_NODELAY (nginx's
    `tcp_nodelay on`), so Nagle's algorithm does not hold a body back until the client's
    delayed ACK of the headers, 40 ms per response.
    """

    def __init__(self, *, backlog: int = 5, nodelay: bool = False) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._stopping = threading.Event()
        self._httpd = LoopbackHTTPServer(self, _Handler, backlog=backlog, nodelay=nodelay)

    @property
    def port(self) -> int:
        return self._httpd.port

    def url(self, path: str = "/") -> str:
        """The absolute URL of `path` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def polls(self, path: str) -> int:
        """How many requests asked for `path` (query string included) so far."""
        return sum(1 for requested, _ in self.requests if requested == path)

    def route(
        self,
        path: str,
        body: bytes = b"",
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_type: str | None = "application/rss+xml",
        etag: str | None = None,
        last_modified: str | None = None,
        gzip: bool = False,
        delay: float = 0.0,
        hang: bool = False,
        drip: float | None = None,
        redirect_to: str | None = None,
        repeat: int = 1,
        content_length: int | Literal["auto"] | None = AUTO,
    ) -> Route:
        """Answer GET `path` (query string ignored) as described by `Route`; replaces any."""
        route = Route(
            body=body,
            status=status,
            headers=dict(headers or {}),
            content_type=content_type,
            etag=etag,
            last_modified=last_modified,
            gzip=gzip,
            delay=delay,
            hang=hang,
            drip=drip,
            redirect_to=redirect_to,
            repeat=repeat,
            content_length=content_length,
        )
        self.routes[path] = route
        return route

    def start(self) -> None:
        self._httpd.start()

    def stop(self) -> None:
        """Release waiting handlers, stop serving and close every connection."""
        self._stopping.set()
        self._httpd.stop()

    def serve(self, handler: _Handler) -> None:
        """Answer one request (called in the handler's thread)."""
        headers = {name.lower(): value for name, value in handler.headers.items()}
        self.requests.append((handler.path, headers))
        route = self.routes.get(urlsplit(handler.path).path)
        try:
            if route is None:
                _send(handler, 404, {"Content-Type": "text/plain"}, b"no such route")
            else:
                self._answer(handler, route, headers)
        except OSError:
            handler.close_connection = True

    def _answer(self, handler: _Handler, route: Route, request: dict[str, str]) -> None:
        if route.hang:
            self._stopping.wait()
            handler.close_connection = True
            return
        if route.delay and self._stopping.wait(route.delay):
            return
        if route.redirect_to is not None:
            status = route.status if 300 <= route.status < 400 else 302
            _send(handler, status, {"Location": route.redirect_to, **route.headers}, b"")
            return
        validators = _validators(route)
        if _not_modified(route, request):
            _send(handler, 304, validators, b"")
            return
        body = gzip_module.compress(route.body) if route.gzip else route.body
        headers = dict(validators)
        if route.content_type is not None:
            headers["Content-Type"] = route.content_type
        if route.gzip:
            headers["Content-Encoding"] = "gzip"
        headers.update(route.headers)
        self._send_body(handler, route, headers, body)

    def _send_body(
        self, handler: _Handler, route: Route, headers: dict[str, str], body: bytes
    ) -> None:
        handler.send_response(route.status)
        for name, value in headers.items():
            handler.send_header(name, value)
        if route.content_length == AUTO:
            handler.send_header("Content-Length", str(len(body) * route.repeat))
        else:
            handler.close_connection = True
            handler.send_header("Connection", "close")
            if route.content_length is not None:
                handler.send_header("Content-Length", str(route.content_length))
        handler.end_headers()
        if route.drip is not None:
            for index in range(len(body)):
                handler.wfile.write(body[index : index + 1])
                handler.wfile.flush()
                if self._stopping.wait(route.drip):
                    return
            return
        for _ in range(route.repeat):
            handler.wfile.write(body)


def _send(handler: _Handler, status: int, headers: dict[str, str], body: bytes) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _validators(route: Route) -> dict[str, str]:
    headers = {}
    if route.etag is not None:
        headers["ETag"] = route.etag
    if route.last_modified is not None:
        headers["Last-Modified"] = route.last_modified
    return headers


def _not_modified(route: Route, request: dict[str, str]) -> bool:
    """True when the request's validators match the route's (exact string comparison)."""
    if route.etag is not None and "if-none-match" in request:
        tags = {tag.strip() for tag in request["if-none-match"].split(",")}
        return route.etag in tags or "*" in tags
    modified_since = request.get("if-modified-since")
    return route.last_modified is not None and modified_since == route.last_modified


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started FeedServer, stopped after the test."""
    yield from started(FeedServer())


def gzip_bomb(size: int) -> bytes:
    """A gzip stream that inflates to `size` zero bytes (built without holding them)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [compressor.compress(block) for _ in range(size // len(block))]
    parts.append(compressor.compress(bytes(size % len(block))))
    parts.append(compressor.flush())
    return b"".join(parts)


@dataclass(frozen=True)
class Entry:
    """One item for the feed builders. `summary` and `content` are HTML."""

    title: str
    link: str = ""
    guid: str | None = None
    summary: str = ""
    content: str | None = None
    published: datetime | None = None


def rss(
    items: Iterable[Entry] = (),
    *,
    title: str = "Example feed",
    link: str = "https://example.com/",
) -> bytes:
    """An RSS 2.0 document."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
        f"<channel><title>{escape(title)}</title><link>{escape(link)}</link>",
        "<description>Test feed</description>",
    ]
    for item in items:
        parts.append(f"<item><title>{escape(item.title)}</title>")
        if item.link:
            parts.append(f"<link>{escape(item.link)}</link>")
        if item.guid is not None:
            parts.append(f'<guid isPermaLink="false">{escape(item.guid)}</guid>')
        if item.summary:
            parts.append(f"<description>{escape(item.summary)}</description>")
        if item.content is not None:
            parts.append(f"<content:encoded>{escape(item.content)}</content:encoded>")
        if item.published is not None:
            parts.append(f"<pubDate>{format_datetime(item.published)}</pubDate>")
        parts.append("</item>")
    parts.append("</channel></rss>\n")
    return "".join(parts).encode()


def atom(
    entries: Iterable[Entry] = (),
    *,
    title: str = "Example feed",
    link: str = "https://example.com/",
    feed_id: str = "urn:example:feed",
) -> bytes:
    """An Atom 1.0 document (an entry without guid gets an id derived from its title)."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
        f'<title>{escape(title)}</title><link href="{escape(link)}"/>',
        f"<id>{escape(feed_id)}</id><updated>2026-01-01T00:00:00Z</updated>",
    ]
    for entry in entries:
        entry_id = entry.guid or f"urn:example:{hashlib.sha256(entry.title.encode()).hexdigest()}"
        parts.append(f"<entry><title>{escape(entry.title)}</title><id>{escape(entry_id)}</id>")
        if entry.link:
            parts.append(f'<link rel="alternate" href="{escape(entry.link)}"/>')
        if entry.summary:
            parts.append(f'<summary type="html">{escape(entry.summary)}</summary>')
        if entry.content is not None:
            parts.append(f'<content type="html">{escape(entry.content)}</content>')
        if entry.published is not None:
            stamp = entry.published.isoformat()
            parts.append(f"<published>{stamp}</published><updated>{stamp}</updated>")
        parts.append("</entry>")
    parts.append("</feed>\n")
    return "".join(parts).encode()


def json_feed(
    items: Iterable[Entry] = (),
    *,
    title: str = "Example feed",
    home_page_url: str = "https://example.com/",
) -> bytes:
    """A JSON Feed 1.1 document.

    An item without guid gets its link, else its title, as id; its `content` (else its
    `summary`) becomes `content_html`.
    """
    documents = []
    for item in items:
        document: dict[str, str] = {"id": item.guid or item.link or item.title}
        document["title"] = item.title
        if item.link:
            document["url"] = item.link
        document["content_html"] = item.content if item.content is not None else item.summary
        if item.published is not None:
            document["date_published"] = item.published.isoformat()
        documents.append(document)
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": home_page_url,
        "items": documents,
    }
    return json.dumps(feed, ensure_ascii=False).encode()
