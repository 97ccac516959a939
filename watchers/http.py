"""Fetching a document over HTTP with httpx: conditional GET, hard limits, clear errors.

Policy (see reference/reliability.md §2, §3):

- `make_client` sets every timeout explicitly and `trust_env=False`: proxies and CA settings
  from the environment (`HTTP(S)_PROXY`, `NO_PROXY`, `SSL_CERT_FILE`) are ignored, so behaviour
  does not change with the container's environment. It keeps at most `KEEP_ALIVE` idle
  connections: httpcore's pool polls the socket of every idle connection at each request
  and response, and a feed is polled minutes apart, long after its connection expired.
- `fetch` follows redirects itself, hop by hop: at most `max_redirects`, each target must be
  http(s), and a redirect's body is never read.
- The whole exchange, body included, runs under one overall deadline (`asyncio.timeout`),
  because httpx timeouts are per operation and a slow drip would never trip them.
- The body is read raw and inflated in bounded pieces (`watchers.http_body.read_limited`), so
  the size cap counts decompressed bytes and a gzip bomb costs at most the cap plus one piece.
- Every failure is a `FetchError` (or `RateLimited`) naming the source and URL, with the httpx
  exception as its cause (`watchers.http_errors.fetch_errors`); no httpx exception escapes.
  This module logs nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

import httpx

from watchers.clock import utcnow
from watchers.errors import FetchError, RateLimited
from watchers.feed_text import clip
from watchers.http_body import BodyTooLarge, read_limited
from watchers.http_errors import fetch_errors, http_status, rate_limited
from watchers.inflate import CorruptBodyError, UnsupportedEncodingError


@dataclass(frozen=True, slots=True)
class Validators:
    """What the last successful fetch left behind, sent back to the server next time."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None  # sha256 hex of the last body parsed


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Bounds on one fetch: body size (after decompression), time, redirects."""

    max_bytes: int = 10 * 1024 * 1024
    deadline: float = 60.0
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    max_redirects: int = 5


@dataclass(frozen=True, slots=True)
class Fetched:
    """The outcome of a successful fetch.

    `changed` is False for a 304 or for a body whose hash equals the previous one; then `body`
    is b"". `validators` are the ones to store once the body has been handled.
    """

    changed: bool
    body: bytes
    content_type: str
    final_url: str
    validators: Validators


DEFAULT_LIMITS = FetchLimits()
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
ACCEPT_ENCODING = "gzip, deflate"  # decoded here, never by httpx
_MIB = 1024 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CLIP = 200  # characters of server-controlled text in an error message
KEEP_ALIVE = 5


def make_client(
    limits: FetchLimits = DEFAULT_LIMITS,
    *,
    user_agent: str = "vedette/0.1 (+feed alerts)",
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient with explicit timeouts, feed Accept headers and no environment proxies."""
    timeout = httpx.Timeout(
        connect=limits.connect_timeout,
        read=limits.read_timeout,
        write=limits.read_timeout,
        pool=limits.connect_timeout,
    )
    headers = {"User-Agent": user_agent, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING}
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=True,
        max_redirects=limits.max_redirects,
        trust_env=False,
        headers=headers,
        transport=transport,
        limits=httpx.Limits(max_keepalive_connections=KEEP_ALIVE),
    )


async def fetch(
    client: httpx.AsyncClient,
    source_id: str,
    url: str,
    validators: Validators,
    limits: FetchLimits = DEFAULT_LIMITS,
) -> Fetched:
    """GET `url` conditionally, within `limits`; raise FetchError/RateLimited on any failure."""
    headers = {"Accept-Encoding": ACCEPT_ENCODING}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    late = f"timeout: no complete response within the overall deadline of {limits.deadline:g} s"
    with fetch_errors(source_id, url, client.timeout, deadline=late):
        async with asyncio.timeout(limits.deadline):
            fetched = await _follow(client, source_id, url, headers, validators, limits)
    return fetched


async def _follow(
    client: httpx.AsyncClient,
    source_id: str,
    url: str,
    headers: dict[str, str],
    validators: Validators,
    limits: FetchLimits,
) -> Fetched:
    """Request `url`, following at most `limits.max_redirects` redirects by hand."""
    current = url
    for _ in range(limits.max_redirects + 1):
        async with client.stream("GET", current, headers=headers, follow_redirects=False) as resp:
            if resp.status_code not in _REDIRECTS or "location" not in resp.headers:
                return await _conclude(source_id, url, resp, validators, limits)
            current = _redirect_target(source_id, url, resp)
    raise FetchError(source_id, f"more than {limits.max_redirects} redirects", url=url)


def _redirect_target(source_id: str, url: str, response: httpx.Response) -> str:
    """The absolute http(s) URL a redirect points to."""
    location = response.headers["location"]
    try:
        target = response.url.join(location)
    except httpx.InvalidURL as exc:
        message = f"redirect to an invalid URL {clip(location, _CLIP)!r}"
        raise FetchError(source_id, message, url=url) from exc
    if target.scheme not in ("http", "https"):
        message = f"redirect to a non-http(s) URL {clip(location, _CLIP)!r}"
        raise FetchError(source_id, message, url=url)
    return str(target)


async def _conclude(
    source_id: str,
    url: str,
    response: httpx.Response,
    validators: Validators,
    limits: FetchLimits,
) -> Fetched:
    """Turn a final (non-redirect) response into a Fetched, or raise for its status."""
    status = response.status_code
    content_type = response.headers.get("content-type", "")
    final_url = str(response.url)
    if status == 304 and (validators.etag or validators.last_modified):
        # A 304 has no body; reading its end lets the connection go back to the pool (an
        # unread response closes it, and the next feed on that host connects again).
        await response.aread()
        kept = Validators(
            etag=response.headers.get("etag", validators.etag),
            last_modified=response.headers.get("last-modified", validators.last_modified),
            body_hash=validators.body_hash,
        )
        return Fetched(False, b"", content_type, final_url, kept)
    if status in (429, 503):
        raise _rate_limited(source_id, url, response)
    if not 200 <= status < 300:
        raise FetchError(source_id, _status_text(response), url=url)
    body = await _read_body(source_id, url, response, limits)
    if not body:
        raise FetchError(source_id, "empty response body", url=url)
    digest = hashlib.sha256(body).hexdigest()
    fresh = Validators(
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
        body_hash=digest,
    )
    changed = digest != validators.body_hash
    return Fetched(changed, body if changed else b"", content_type, final_url, fresh)


async def _read_body(
    source_id: str, url: str, response: httpx.Response, limits: FetchLimits
) -> bytes:
    """Read and inflate the body, failing as soon as it passes `limits.max_bytes`."""
    encoding = response.headers.get("content-encoding", "")
    try:
        return await read_limited(response, limits.max_bytes)
    except BodyTooLarge as exc:
        message = f"response body larger than {exc.cap / _MIB:g} MiB"
        if exc.declared is not None:
            message += f" (Content-Length: {clip(exc.declared, _CLIP)})"
        raise FetchError(source_id, message, url=url) from None  # the message says it all
    except UnsupportedEncodingError as exc:
        message = f"unsupported content encoding {clip(encoding, _CLIP)!r}"
        raise FetchError(source_id, message, url=url) from exc
    except CorruptBodyError as exc:
        message = f"corrupt {encoding.strip().lower()} body"
        raise FetchError(source_id, message, url=url) from exc


def _rate_limited(source_id: str, url: str, response: httpx.Response) -> RateLimited:
    """A RateLimited error carrying the server's Retry-After, if readable."""
    header = response.headers.get("retry-after")
    message = _status_text(response)
    return rate_limited(source_id, message, url=url, retry_after=header, now=utcnow())


def _status_text(response: httpx.Response) -> str:
    """`HTTP 404 Not Found`: the standard reason phrase, else the server's (clipped)."""
    return http_status(response.status_code, clip(response.reason_phrase, 60))
