"""Errors a watcher raises: each names its source (and URL) and keeps its cause.

`str(err)` reads `"{source_id}: {message} ({url}): {CauseType}: {cause}"`, where the URL and
cause parts appear only when present (`raise FetchError(...) from exc` sets the cause).
`err.detail` is the same text without the leading source id, for a log line that already
names the source (`source h-hang failed: read timeout …`).
"""

from __future__ import annotations


class WatcherError(Exception):
    """One source failed to fetch or parse; other sources carry on."""

    def __init__(self, source_id: str, message: str, *, url: str | None = None) -> None:
        super().__init__(source_id, message)
        self.source_id = source_id
        self.message = message
        self.url = url

    def __str__(self) -> str:
        return f"{self.source_id}: {self.detail}"

    @property
    def detail(self) -> str:
        """The message, URL and cause, without the source id."""
        text = self.message
        if self.url:
            text += f" ({self.url})"
        cause = self.__cause__
        if cause is not None:
            said = str(cause)
            text += f": {type(cause).__name__}: {said}" if said else f": {type(cause).__name__}"
        return text


class FetchError(WatcherError):
    """The source could not be fetched: network, timeout, HTTP status, size cap."""


class ParseError(WatcherError):
    """The fetched document is not a usable feed (or not valid for its format)."""


class RateLimited(FetchError):
    """The server said "slow down" (HTTP 429 or 503).

    `retry_after` is the server's Retry-After in seconds (capped at 24 h), or None when it
    sent none or an unreadable one: then the normal backoff applies.
    """

    def __init__(
        self,
        source_id: str,
        message: str,
        *,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(source_id, message, url=url)
        self.retry_after = retry_after
