"""Shared helpers for the fault suite (tests/test_faults_*.py, tests/test_security.py).

- Fakes with more faults than the shared ones: `FaultyTelegramAPI` (5xx for a while, a send
  accepted and then never answered, slow answers) and `FaultyOpenSky` (an outage that lasts
  until it is lifted); `TcpSwitch`, a loopback port that can refuse connections.
- Unique markers ("Haftar story N") and the no-loss / no-duplicate checks on what the fake
  Bot API received.
- Secret scans over logs, outputs and every text stored in the database, and a context
  manager that captures the bot's own (redacting) log output at DEBUG in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import random
import re
import socket
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config.types import Config
from bot.logs import QUIET, setup_logging
from bot.runner import RunOptions
from tests import process
from tests.fakes.feed_server import Entry
from tests.fakes.loopback import started
from tests.fakes.opensky_api import TEST_CLIENT_SECRET, FakeOpenSky
from tests.fakes.telegram_api import (
    TEST_CHAT_ID,
    TEST_TOKEN,
    FakeTelegramAPI,
    _Drop,
    _Fault,
    _Reply,
)
from tests.helpers import Running, start

STORY = re.compile(r"Haftar story (\d+)\b")
SECRETS = (TEST_TOKEN, TEST_TOKEN.split(":", 1)[1], TEST_CLIENT_SECRET)
_PATH = re.compile(r"/bot[^/]*/([A-Za-z0-9_]+)/?")


# ───────────────────────────── markers ─────────────────────────────


def story(n: int, **fields: Any) -> Entry:
    """Item number `n`: title "Haftar story N" (matches the default rule), its own link."""
    return Entry(f"Haftar story {n}", link=f"https://news.example/story/{n}", **fields)


def story_of(text: str) -> int | None:
    """The marker number in a message's text, or None."""
    found = STORY.search(text)
    return int(found.group(1)) if found else None


def delivered(api: FakeTelegramAPI, chats: Iterable[int | str] = (TEST_CHAT_ID,)) -> Counter[int]:
    """How many times the fake accepted a message carrying each marker, in `chats`."""
    counts: Counter[int] = Counter()
    for chat in chats:
        for message in api.messages_to(chat):
            number = story_of(message.visible_text)
            if number is not None:
                counts[number] += 1
    return counts


def assert_no_loss_no_dup(
    counts: Counter[int], expected: Iterable[int], *, may_repeat: Collection[int] = ()
) -> None:
    """Every expected marker arrived; none other; only those in `may_repeat` more than once."""
    wanted = set(expected)
    lost = sorted(wanted - set(counts))
    assert not lost, f"alerts lost: {lost}"
    strangers = sorted(set(counts) - wanted)
    assert not strangers, f"unexpected alerts: {strangers}"
    repeated = {n: c for n, c in counts.items() if c > 1}
    outside = {n: c for n, c in repeated.items() if n not in may_repeat}
    assert not outside, f"sent more than once outside the at-least-once window: {outside}"


# ───────────────────────────── a faultier Bot API ─────────────────────────────


class FaultyTelegramAPI(FakeTelegramAPI):
    """The spec-checking fake Bot API plus time-based and after-delivery faults.

    - `fail_for(seconds, kinds)`: every call of `methods` fails with the kinds in turn (e.g.
      "500", "502") until the time is up (the shared fake counts calls, not time).
    - `stall_next(times, seconds)`: the next sendMessage calls are accepted (recorded in
      `sent`), then held `seconds` and the connection closed without an answer: Telegram
      delivered, the client never learns it. Their message ids go to `unanswered`.
    - `answer_late_next(times, seconds)`: the next sendMessage calls are accepted and
      answered `seconds` late (their ids go to `answered_late`).
    - `slow_answers(fraction, seconds, seed)`: that fraction of accepted sends is answered
      `seconds` late (their ids go to `answered_late`), widening the window in which a crash
      leaves a delivered message unmarked.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unanswered: list[int] = []
        self.answered_late: list[int] = []
        self._window_until = 0.0
        self._window_kinds: tuple[str, ...] = ()
        self._window_methods: frozenset[str] = frozenset()
        self._window_count = 0
        self._stalls: list[float] = []
        self._lates: list[float] = []
        self._slow: tuple[float, float, random.Random] | None = None

    def fail_for(
        self,
        seconds: float,
        kinds: Iterable[str] = ("502",),
        methods: Iterable[str] = ("sendMessage",),
    ) -> None:
        """Fail every call of `methods` with `kinds` (in turn) for `seconds`."""
        with self._lock:
            self._window_until = time.monotonic() + seconds
            self._window_kinds = tuple(kinds)
            self._window_methods = frozenset(m.lower() for m in methods)

    def stall_next(self, times: int, seconds: float) -> None:
        """Accept the next `times` sends, then hold each `seconds` and close unanswered."""
        with self._lock:
            self._stalls.extend([seconds] * times)

    def answer_late_next(self, times: int, seconds: float) -> None:
        """Accept the next `times` sends and answer each `seconds` late."""
        with self._lock:
            self._lates.extend([seconds] * times)

    def slow_answers(self, fraction: float, seconds: float, seed: int) -> None:
        """Answer `fraction` of accepted sends `seconds` late (seeded choice)."""
        with self._lock:
            self._slow = (fraction, seconds, random.Random(seed))

    def messages_by_id(self) -> dict[int, str]:
        """message_id → visible text of every accepted message."""
        with self._lock:
            return {m.message_id: m.visible_text for m in self.sent}

    def handle(self, path: str, raw: dict[str, Any]) -> _Reply:
        found = _PATH.fullmatch(path)
        method = found.group(1).lower() if found else ""
        kind = ""
        with self._lock:
            failing = method in self._window_methods and time.monotonic() < self._window_until
            if failing:
                kind = self._window_kinds[self._window_count % len(self._window_kinds)]
                self._window_count += 1
        if failing and not self.is_down:
            return self._inject(_Fault(kind, {}, 1))
        reply = super().handle(path, raw)
        if method != "sendmessage" or reply.status != 200:
            return reply
        message_id = int(json.loads(reply.body)["result"]["message_id"])
        with self._lock:
            stall = self._stalls.pop(0) if self._stalls else None
            late = self._lates.pop(0) if stall is None and self._lates else None
            if stall is None and late is None and self._slow is not None:
                fraction, seconds, rng = self._slow
                late = seconds if rng.random() < fraction else None
            if stall is not None:
                self.unanswered.append(message_id)
            elif late is not None:
                self.answered_late.append(message_id)
        if stall is not None:
            self._closing.wait(stall)
            raise _Drop
        if late is not None:
            self._closing.wait(late)
        return reply


@pytest.fixture(name="faulty_telegram")
def faulty_telegram_fixture() -> Iterator[FaultyTelegramAPI]:
    """A running FaultyTelegramAPI: token TEST_TOKEN, one known channel TEST_CHAT_ID."""
    yield from started(FaultyTelegramAPI(TEST_TOKEN, chats={TEST_CHAT_ID}))


class FaultyOpenSky(FakeOpenSky):
    """The fake OpenSky, plus `outage(kind)`: every API request fails that way until lifted."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outage_kind: str | None = None

    def outage(self, kind: str | None) -> None:
        """Fail every flights request with `kind` ("500", "html", …); None ends the outage."""
        with self._lock:
            self.outage_kind = kind

    def _take_fault(self, kinds: frozenset[str]) -> str | None:
        if self.outage_kind is not None and self.outage_kind in kinds:
            return self.outage_kind
        return super()._take_fault(kinds)


@pytest.fixture(name="faulty_opensky")
def faulty_opensky_fixture() -> Iterator[FaultyOpenSky]:
    """A running FaultyOpenSky with plenty of credits."""
    yield from started(FaultyOpenSky(credits=10**6))


# ───────────────────────────── a port that can refuse ─────────────────────────────


class TcpSwitch:
    """A loopback TCP forwarder to `target_port`; `off()` closes its port (connections are
    refused) and drops open connections, `on()` listens on the same port again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.port = 0
        self.on()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def on(self) -> None:
        """Listen (on the same port as before, if there was one) and forward."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def off(self) -> None:
        """Stop listening and cut every forwarded connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ───────────────────────────── secrets ─────────────────────────────


def assert_no_secret(*texts: str) -> None:
    """Neither the bot token, its secret half, nor the OpenSky client secret appear."""
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"a secret leaked: …{text[:2000]}"


def stored_text(db: Path) -> str:
    """Every value of every table in the database, as text (for secret scans)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return "\n".join(
            "\t".join(map(str, row))
            for table in tables
            for row in conn.execute(f'SELECT * FROM "{table}"')  # noqa: S608
        )


def assert_db_has_no_secret(db: Path) -> None:
    """No secret in any stored value, nor anywhere in the database files' bytes."""
    assert_no_secret(stored_text(db))
    for path in (db, db.with_name(db.name + "-wal")):
        if path.exists():
            raw = path.read_bytes()
            for secret in SECRETS:
                assert secret.encode() not in raw, f"a secret is in {path.name}"


@contextlib.contextmanager
def bot_logs(level: str = "DEBUG") -> Iterator[io.StringIO]:
    """The bot's own log setup (`setup_logging`, redacting), captured in a string."""
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET}
    stream = io.StringIO()
    setup_logging(level, secrets=[TEST_TOKEN, TEST_CLIENT_SECRET], stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(root_level)
        for name, old in quiet.items():
            logging.getLogger(name).setLevel(old)


# ───────────────────────────── running the bot ─────────────────────────────


@contextlib.asynccontextmanager
async def running(
    config: Config, db: Path, token: str | None, options: RunOptions
) -> AsyncIterator[Running]:
    """`start` the bot; if the test fails before `stop()`, stop it anyway (quietly)."""
    bot = start(config, db, token, options)
    try:
        yield bot
    finally:
        if not bot.task.done():
            bot.stop_event.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(bot.task, 15)
            if not bot.task.done():
                bot.task.cancel()
                with contextlib.suppress(BaseException):
                    await bot.task


# ───────────────────────────── processes ─────────────────────────────


def vedette(cwd: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    """Start `python -m bot ARGS` in `cwd`, with the token and DEBUG logs unless overridden."""
    return process.vedette(cwd, *args, **{"VEDETTE_LOG_LEVEL": "DEBUG", **env})


def finish(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """Wait for `proc` and return its (stdout, stderr); killed if it outlives `timeout`."""
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return out, err


def outbox_states(db: Path) -> Counter[str]:
    """Outbox rows by state (none before the bot created the database)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            return Counter(row[0] for row in conn.execute("SELECT state FROM outbox"))
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc) or "unable to open" in str(exc):
            return Counter()
        raise
