"""Politeness: requests to one place (an ADS-B provider, a feed host) start at least an
interval apart.

A `Pacing` holds one `Pacer` per key (an API URL, a host name), shared by every client given
the same `Pacing`; whoever runs the clients owns it (the runner makes one per run). It is
made and used inside one event loop, as its locks belong to that loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable, Callable

Sleep = Callable[[float], Awaitable[None]]


class Pacer:
    """One place's request slot: starts of requests are at least `interval` apart."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.last: float | None = None

    async def turn(self, interval: float, sleep: Sleep = asyncio.sleep) -> None:
        """Wait until a request may start, and take the slot."""
        async with self.lock:
            if self.last is not None:
                delay = self.last + interval - time.monotonic()
                if delay > 0:
                    await sleep(delay)
            self.last = time.monotonic()


class Pacing:
    """The request slots of a run, one per key."""

    def __init__(self) -> None:
        self._slots: dict[str, Pacer] = {}

    def slot(self, key: str) -> Pacer:
        """The one request slot of `key`."""
        return self._slots.setdefault(key, Pacer())


def loopback(host: str) -> bool:
    """Whether the host name `host` is this machine (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
