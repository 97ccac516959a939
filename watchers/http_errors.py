"""Reading HTTP failures: a distinct message per httpx error, statuses, and Retry-After values.

Shared by every watcher that talks HTTP; no I/O. `fetch_errors` is the one place where an
httpx transport failure (or the overall deadline) becomes a `FetchError`, `rate_limited` the
one place where a "slow down" answer becomes a `RateLimited`.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from watchers.errors import FetchError, RateLimited
from watchers.schedule import RETRY_AFTER_CAP, capped_retry_after

_DIGITS = re.compile(r"[0-9]+")


@contextmanager
def fetch_errors(
    source_id: str,
    url: str,
    timeout: httpx.Timeout,
    *,
    prefix: str = "",
    deadline: str | None = None,
) -> Iterator[None]:
    """Inside the block, a transport failure becomes a `FetchError` naming the source and URL.

    An httpx error reads `{prefix}{describe_httpx_error(...)}`; with `deadline` (the message
    for an overall `asyncio.timeout`), a `TimeoutError` reads `deadline`. The original
    exception is the cause. Other exceptions pass through unchanged.
    """
    try:
        yield
    except TimeoutError as exc:
        if deadline is None:
            raise
        raise FetchError(source_id, deadline, url=url) from exc
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        message = prefix + describe_httpx_error(exc, timeout)
        raise FetchError(source_id, message, url=url) from exc


def describe_httpx_error(exc: Exception, timeout: httpx.Timeout) -> str:
    """A short, distinct message for an httpx failure (the exception itself is the cause)."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connect timeout: no connection within {_seconds(timeout.connect)}"
    if isinstance(exc, httpx.ReadTimeout):
        return f"read timeout: the server sent nothing for {_seconds(timeout.read)}"
    if isinstance(exc, httpx.WriteTimeout):
        return f"write timeout: could not send the request within {_seconds(timeout.write)}"
    if isinstance(exc, httpx.PoolTimeout):
        return f"pool timeout: no free connection within {_seconds(timeout.pool)}"
    if isinstance(exc, httpx.ConnectError):
        return _connect_problem(exc)
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server broke the connection or the HTTP protocol"
    if isinstance(exc, httpx.ReadError):
        return "connection lost while reading the response"
    if isinstance(exc, httpx.WriteError):
        return "connection lost while sending the request"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return "invalid URL or unsupported URL scheme"
    return "HTTP request failed"


def http_status(status: int, unknown: str = "") -> str:
    """`HTTP 404 Not Found`: the status and its standard reason phrase (else `unknown`)."""
    reason = httpx.codes.get_reason_phrase(status) or unknown
    return f"HTTP {status} {reason}".rstrip()


def rate_limited(
    source_id: str, message: str, *, url: str, retry_after: str | None, now: datetime
) -> RateLimited:
    """A RateLimited error carrying the server's Retry-After value (`retry_after`, the header),
    named at the end of `message` when it is readable."""
    seconds = parse_retry_after(retry_after, now=now)
    if seconds is not None:
        message += f" (retry after {seconds:g} s)"
    return RateLimited(source_id, message, url=url, retry_after=seconds)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), capped at 24 h.

    Returns None for a missing or unreadable value, meaning "use the normal backoff".
    """
    if value is None:
        return None
    text = value.strip()
    if _DIGITS.fullmatch(text):
        seconds = float(text) if len(text) <= 9 else RETRY_AFTER_CAP
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return capped_retry_after(seconds)


def _seconds(value: float | None) -> str:
    """`5 s`, or `(no limit)` for an unset timeout."""
    return "(no limit)" if value is None else f"{value:g} s"


def _connect_problem(exc: BaseException) -> str:
    """Name the kind of connection failure from the exception chain (or its messages)."""
    chain = _chain(exc)
    if any(isinstance(e, ssl.SSLError | ssl.CertificateError) for e in chain):
        return "TLS handshake failed"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "DNS lookup failed"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    lower = " ".join(str(e) for e in chain).lower()
    if any(word in lower for word in ("ssl", "certificate", "tls")):
        return "TLS handshake failed"
    dns = ("name or service", "nodename", "getaddrinfo", "name resolution", "no address")
    if any(word in lower for word in dns):
        return "DNS lookup failed"
    if "refused" in lower:
        return "connection refused"
    return "could not connect"


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions behind it (cause or context), at most 10."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain
