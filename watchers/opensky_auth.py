"""OpenSky OAuth2 client credentials: a token provider that caches one bearer token.

Since 18 March 2026 OpenSky accepts only OAuth2 client credentials (flight-data.md §1.3):
POST the form `grant_type=client_credentials, client_id, client_secret` to the token URL,
then send `Authorization: Bearer <access_token>`. A token lives `expires_in` seconds (1800
by default); `TokenProvider` keeps it until 60 s before that and fetches a new one after.

Secrets stay secret: `OpenSkyCredentials` leaves the client secret out of its repr, and no
error message or repr here contains the secret or a token. The token endpoint's own body is
never quoted in an error, only its OAuth error code when it is a plain word.

The clock is passed in (`token(now)`), never read here. This module logs nothing.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from watchers.errors import FetchError, RateLimited
from watchers.http import ACCEPT_ENCODING
from watchers.http_body import read_limited
from watchers.http_errors import fetch_errors, http_status, parse_retry_after
from watchers.inflate import CorruptBodyError, UnsupportedEncodingError

OPENSKY_AUTH_URL = (
    "https://auth.opensky-network.org/auth/realms/opensky-network/protocol/openid-connect/token"
)
DEFAULT_TOKEN_LIFETIME = 1800.0  # seconds, when the token endpoint names none
MAX_TOKEN_LIFETIME = 24 * 3600.0
REFRESH_MARGIN = timedelta(seconds=60)
TOKEN_BODY_MAX = 64 * 1024
TOKEN_DEADLINE = 30.0
CREDENTIALS_REJECTED = (
    "OpenSky rejected the client credentials (OPENSKY_CLIENT_ID / OPENSKY_CLIENT_SECRET)"
)

_OAUTH_ERROR = re.compile(r"[a-z_]{1,40}")
_TOKEN = re.compile(r"[\x21-\x7e]{1,8192}")  # printable ASCII, no spaces: safe in a header


@dataclass(frozen=True, slots=True)
class OpenSkyCredentials:
    """An OpenSky API client (account page → API client). The secret is left out of repr."""

    client_id: str
    client_secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.client_id.strip() or not self.client_secret.strip():
            raise ValueError("OpenSky client id and client secret must not be empty")


@dataclass(frozen=True, slots=True)
class _Token:
    """A bearer token and the moment to stop using it."""

    value: str = field(repr=False)
    refresh_at: datetime


class TokenProvider:
    """Fetches OpenSky bearer tokens with client credentials and caches one until near expiry.

    `token(now)` returns the cached token while `now` is before its expiry minus 60 s, else
    fetches a new one; concurrent callers share one fetch. `invalidate()` drops the cached
    token (after a 401). Every failure is a `FetchError` (or `RateLimited`) naming the source
    and the token URL, with the httpx exception, if any, as its cause.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        source_id: str,
        credentials: OpenSkyCredentials,
        *,
        auth_url: str = OPENSKY_AUTH_URL,
        deadline: float = TOKEN_DEADLINE,
    ) -> None:
        self._client = client
        self._source_id = source_id
        self._credentials = credentials
        self._auth_url = auth_url
        self._deadline = deadline
        self._cached: _Token | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return (
            f"TokenProvider(source_id={self._source_id!r}, auth_url={self._auth_url!r}, "
            f"client_id={self._credentials.client_id!r})"
        )

    @property
    def auth_url(self) -> str:
        """The token endpoint."""
        return self._auth_url

    async def token(self, now: datetime) -> str:
        """A bearer token valid at `now` (an aware datetime): the cached one, or a new one."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        async with self._lock:
            cached = self._cached
            if cached is not None and now < cached.refresh_at:
                return cached.value
            fresh = await self._fetch(now)
            self._cached = fresh
            return fresh.value

    def invalidate(self, token: str | None = None) -> None:
        """Forget the cached token (only if it is `token`, when one is given)."""
        if token is None or (self._cached is not None and self._cached.value == token):
            self._cached = None

    async def _fetch(self, now: datetime) -> _Token:
        """POST the client credentials; the new token, cached until expiry minus 60 s."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self._credentials.client_id,
            "client_secret": self._credentials.client_secret,
        }
        headers = {"Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}
        late = f"OpenSky token request: no answer within {self._deadline:g} s"
        try:
            with fetch_errors(
                self._source_id,
                self._auth_url,
                self._client.timeout,
                prefix="OpenSky token request failed: ",
                deadline=late,
            ):
                async with (
                    asyncio.timeout(self._deadline),
                    self._client.stream(
                        "POST", self._auth_url, data=form, headers=headers, follow_redirects=False
                    ) as response,
                ):
                    body = await read_limited(response, TOKEN_BODY_MAX, clip=True)
        except (CorruptBodyError, UnsupportedEncodingError) as exc:
            raise self._error("OpenSky token response could not be decoded") from exc
        return self._conclude(response, body, now)

    def _conclude(self, response: httpx.Response, body: bytes, now: datetime) -> _Token:
        """The token in a 200 answer, or the error its status means."""
        status = response.status_code
        if status in (400, 401):
            code = _oauth_error(body)
            detail = f"HTTP {status}, {code}" if code else f"HTTP {status}"
            raise self._error(f"{CREDENTIALS_REJECTED} ({detail})")
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"), now=now)
            raise RateLimited(
                self._source_id,
                "OpenSky token endpoint rate limited (HTTP 429)",
                url=self._auth_url,
                retry_after=retry_after,
            )
        if status != 200:
            raise self._error(f"OpenSky token endpoint answered {http_status(status)}")
        value, lifetime = self._read_token(body)
        return _Token(value, now + timedelta(seconds=lifetime) - REFRESH_MARGIN)

    def _read_token(self, body: bytes) -> tuple[str, float]:
        """The access token and its lifetime in seconds from a token response body."""
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise self._error("OpenSky token response is not JSON") from exc
        if not isinstance(payload, dict):
            raise self._error("OpenSky token response is not a JSON object")
        value = payload.get("access_token")
        if not isinstance(value, str) or not _TOKEN.fullmatch(value):
            raise self._error("OpenSky token response has no usable access_token")
        return value, _lifetime(payload.get("expires_in"))

    def _error(self, message: str) -> FetchError:
        """A FetchError naming the source and the token URL."""
        return FetchError(self._source_id, message, url=self._auth_url)


def _lifetime(value: object) -> float:
    """`expires_in` in seconds: a positive finite number (capped at 24 h), else 1800."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DEFAULT_TOKEN_LIFETIME
    if not math.isfinite(value) or value <= 0:
        return DEFAULT_TOKEN_LIFETIME
    return min(float(value), MAX_TOKEN_LIFETIME)


def _oauth_error(body: bytes) -> str | None:
    """The OAuth `error` code of a token error response ("invalid_client"), if a plain word."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    code = payload.get("error") if isinstance(payload, dict) else None
    return code if isinstance(code, str) and _OAUTH_ERROR.fullmatch(code) else None
