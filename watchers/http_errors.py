"""Reading HTTP failures: a distinct message per httpx error, and Retry-After values.

Shared by every watcher that talks HTTP; pure functions, no I/O.
"""

from __future__ import annotations

import re
import socket
import ssl
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

MAX_RETRY_AFTER = 24 * 3600.0
_DIGITS = re.compile(r"[0-9]+")


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


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), capped at 24 h.

    Returns None for a missing or unreadable value, meaning "use the normal backoff".
    """
    if value is None:
        return None
    text = value.strip()
    if _DIGITS.fullmatch(text):
        seconds = float(text) if len(text) <= 9 else MAX_RETRY_AFTER
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


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
