"""The HTTP server under the fakes: 127.0.0.1, a free port, served in a daemon thread; and
`started`, the body of every fake's pytest fixture."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Protocol, TypeVar

Owner = TypeVar("Owner")


class Fake(Protocol):
    """A fake server: `start` serves in the background, `stop` stops and closes everything."""

    def start(self) -> object: ...

    def stop(self) -> None: ...


F = TypeVar("F", bound=Fake)


def started(fake: F) -> Iterator[F]:
    """Start `fake`, yield it, stop it afterwards (`yield from started(...)` in a fixture)."""
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


class LoopbackHTTPServer(ThreadingHTTPServer, Generic[Owner]):
    """A ThreadingHTTPServer that tracks open connections so `stop` can close them.

    Handlers reach the fake through `server.owner`. `backlog` is the listen backlog
    (socketserver's default is 5); `nodelay` sets TCP_NODELAY on every connection.
    """

    daemon_threads = True

    def __init__(
        self,
        owner: Owner,
        handler: type[BaseHTTPRequestHandler],
        *,
        backlog: int = 5,
        nodelay: bool = False,
    ) -> None:
        self.owner = owner
        self.nodelay = nodelay
        self.request_queue_size = backlog  # read by listen() in server_activate
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        """Serve in the background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close every connection and join the thread."""
        self.shutdown()
        self.close_all()
        self.server_close()
        self._thread.join(timeout=5)

    def close_all(self) -> None:
        """Shut down every open connection."""
        with self.connections_lock:
            open_connections = list(self.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def get_request(self) -> tuple[socket.socket, Any]:
        request, address = super().get_request()
        if self.nodelay:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return request, address

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts, size caps) are expected here: stay quiet."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)
