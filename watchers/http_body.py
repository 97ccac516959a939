"""Reading a streamed httpx response body, inflated here, under a size cap.

Shared by every watcher that reads a body (`watchers.http`, `watchers.opensky`,
`watchers.opensky_auth`, `watchers.adsb`): the body is read raw and inflated in bounded pieces
(`watchers.inflate`), so the cap counts decompressed bytes and a gzip bomb costs at most the
cap plus one piece of memory. Callers turn the exceptions into their own `FetchError`s.
"""

from __future__ import annotations

import re

import httpx

from watchers.inflate import Inflater

_DIGITS = re.compile(r"[0-9]+")


class BodyTooLarge(ValueError):
    """A response body passed its size cap.

    `cap` is the cap in bytes; `declared` is the Content-Length that announced it, when the
    body was refused before reading, else None.
    """

    def __init__(self, cap: int, declared: str | None = None) -> None:
        super().__init__(cap)  # str(err) is the cap alone (OpenSky quotes it as the cause)
        self.cap = cap
        self.declared = declared


async def read_limited(response: httpx.Response, cap: int, *, clip: bool = False) -> bytes:
    """The decoded body of a streamed response, at most `cap` bytes after decompression.

    Past the cap: raise `BodyTooLarge`, or with `clip=True` return the first `cap` bytes.
    A declared Content-Length over the cap fails before reading (unless `clip`). Raises
    `UnsupportedEncodingError` or `CorruptBodyError` (`watchers.inflate`) for a bad
    Content-Encoding.
    """
    declared = response.headers.get("content-length", "").strip()
    if not clip and _DIGITS.fullmatch(declared) and (len(declared) > 18 or int(declared) > cap):
        raise BodyTooLarge(cap, declared)
    inflater = Inflater(response.headers.get("content-encoding", ""))
    body = bytearray()
    async for chunk in response.aiter_raw():
        for piece in inflater.feed(chunk):
            body += piece
            if len(body) > cap:
                if clip:
                    return bytes(body[:cap])
                raise BodyTooLarge(cap)
    return bytes(body)
