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
- The body is read raw and inflated here in bounded pieces, so the size cap counts decompressed
  bytes and a gzip bomb costs at most the cap plus one piece of memory.
- Every failure is a `FetchError` (or `RateLimited`) naming the source and URL, with the httpx
  exception as its cause; no httpx exception escapes. This module logs nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from watchers.errors import FetchError, RateLimited
from watchers.http_errors import describe_httpx_error, parse_retry_after
from watchers.inflate import CorruptBodyError, Inflater, UnsupportedEncodingError


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
_DIGITS = re.compile(r"[0-9]+")
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
    try:
        async with asyncio.timeout(limits.deadline):
            return await _follow(client, source_id, url, headers, validators, limits)
    except TimeoutError as exc:
        message = (
            f"timeout: no complete response within the overall deadline of {limits.deadline:g} s"
        )
        raise FetchError(source_id, message, url=url) from exc
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise FetchError(source_id, describe_httpx_error(exc, client.timeout), url=url) from exc


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
        message = f"redirect to an invalid URL {_clip(location)!r}"
        raise FetchError(source_id, message, url=url) from exc
    if target.scheme not in ("http", "https"):
        message = f"redirect to a non-http(s) URL {_clip(location)!r}"
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
    cap = limits.max_bytes
    too_large = f"response body larger than {cap / _MIB:g} MiB"
    declared = response.headers.get("content-length", "").strip()
    if _DIGITS.fullmatch(declared) and (len(declared) > 18 or int(declared) > cap):
        raise FetchError(source_id, f"{too_large} (Content-Length: {_clip(declared)})", url=url)
    encoding = response.headers.get("content-encoding", "")
    try:
        inflater = Inflater(encoding)
    except UnsupportedEncodingError as exc:
        message = f"unsupported content encoding {_clip(encoding)!r}"
        raise FetchError(source_id, message, url=url) from exc
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            for piece in inflater.feed(chunk):
                body += piece
                if len(body) > cap:
                    raise FetchError(source_id, too_large, url=url)
    except CorruptBodyError as exc:
        raise FetchError(source_id, f"corrupt {inflater.encoding} body", url=url) from exc
    return bytes(body)


def _rate_limited(source_id: str, url: str, response: httpx.Response) -> RateLimited:
    """A RateLimited error carrying the server's Retry-After, if readable."""
    retry_after = parse_retry_after(response.headers.get("retry-after"), now=datetime.now(UTC))
    message = _status_text(response)
    if retry_after is not None:
        message += f" (retry after {retry_after:g} s)"
    return RateLimited(source_id, message, url=url, retry_after=retry_after)


def _status_text(response: httpx.Response) -> str:
    """`HTTP 404 Not Found`: the standard reason phrase, else the server's (clipped)."""
    status = response.status_code
    reason = httpx.codes.get_reason_phrase(status) or _clip(response.reason_phrase, 60)
    return f"HTTP {status} {reason}".rstrip()


def _clip(text: str, limit: int = 200) -> str:
    """Server-controlled text, shortened for an error message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
