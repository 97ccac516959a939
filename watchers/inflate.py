"""Bounded decoding of a Content-Encoding (identity, gzip, deflate).

httpx inflates each network chunk in one go (a 64 KiB gzip chunk can become 64 MiB), so the
fetcher reads raw bytes and inflates them here in pieces of at most `piece` bytes: a caller
that counts the pieces can stop a decompression bomb at its size cap.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

PIECE = 64 * 1024


class UnsupportedEncodingError(ValueError):
    """A Content-Encoding we did not ask for and cannot decode."""


class CorruptBodyError(ValueError):
    """The compressed body is not valid gzip/deflate data."""


class Inflater:
    """Decode one response body, chunk by chunk, yielding pieces of at most `piece` bytes.

    Data after the end of the first compressed stream is ignored. A "deflate" body may be
    zlib-wrapped (as the RFC says) or raw (as some servers send it); both are accepted.
    """

    def __init__(self, encoding: str, *, piece: int = PIECE) -> None:
        name = encoding.strip().lower()
        self.encoding = name or "identity"
        self._piece = piece
        self._raw_fallback = name == "deflate"
        self._z: zlib._Decompress | None
        if name in ("", "identity"):
            self._z = None
        elif name in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif name == "deflate":
            self._z = zlib.decompressobj(zlib.MAX_WBITS)
        else:
            raise UnsupportedEncodingError(name)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Yield the decoded bytes of the next raw chunk, in bounded pieces."""
        z = self._z
        if z is None:
            if data:
                yield data
            return
        while not z.eof:
            out, z = self._decompress(z, data)
            if out:
                yield out
            data = z.unconsumed_tail
            if not data and len(out) < self._piece:
                return

    def _decompress(self, z: zlib._Decompress, data: bytes) -> tuple[bytes, zlib._Decompress]:
        """One bounded decompress call; switches "deflate" to raw mode on a bad header."""
        try:
            out = z.decompress(data, self._piece)
        except zlib.error as exc:
            if not self._raw_fallback:
                raise CorruptBodyError(str(exc)) from exc
            self._raw_fallback = False
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._decompress(self._z, data)
        self._raw_fallback = False
        return out, z
