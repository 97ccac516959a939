"""SIGKILL at random points of a busy run, restarted on the same database, twenty times.

Real `python -m bot run` processes (production settings: one message a second per chat)
against three loopback feeds that keep getting new items and a fake Bot API that answers
some sends late. After the kills, one clean `run --once` drains the outbox. Every alert must
have arrived; a message may repeat only if it was the one in flight at a kill (there is one
sender, so at most one per kill): Telegram had accepted it, the row was not yet marked sent.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.loopback import started
from tests.fakes.telegram_api import TEST_TOKEN
from tests.faults import (
    FaultyTelegramAPI,
    assert_db_has_no_secret,
    assert_no_loss_no_dup,
    assert_no_secret,
    delivered,
    finish,
    outbox_states,
    story,
    story_of,
    vedette,
)
from tests.helpers import ADMIN

CHATS = {"a": -1001000000001, "b": -1001000000002, "c": -1001000000003}
KILLS = 20
SEED = 20260705


@pytest.fixture
def telegram() -> Iterator[FaultyTelegramAPI]:
    """A fake Bot API knowing the three channels, answering 30% of sends 0.4 s late."""
    server = FaultyTelegramAPI(TEST_TOKEN, chats=set(CHATS.values()))
    server.slow_answers(0.3, 0.4, seed=SEED)
    yield from started(server)


def rules_toml(api_url: str, feed_server: FeedServer) -> str:
    """Three feeds, each with its own rule and channel (three senders' worth of pacing)."""
    text = f'[telegram]\napi_url = "{api_url}"\nadmins = [{ADMIN}]\n\n'
    for name, chat in CHATS.items():
        text += f"[channels.{name}]\nchat_id = {chat}\n\n"
    for name in CHATS:
        text += (
            f'[[sources]]\nid = "feed-{name}"\nkind = "rss"\n'
            f'url = "{feed_server.url("/" + name)}"\nevery = "1s"\nalert_existing = true\n\n'
        )
    for name in CHATS:
        text += (
            f'[[rules]]\nid = "rule-{name}"\nkind = "keywords"\nquery = "haftar"\n'
            f'sources = ["feed-{name}"]\nchannel = "{name}"\n\n'
        )
    return text


def integrity(db: Path) -> str:
    """SQLite's own verdict on the database file."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def test_sigkill_at_random_points_twenty_times_loses_nothing(
    tmp_path: Path, feed_server: FeedServer, telegram: FaultyTelegramAPI
) -> None:
    """Twenty SIGKILLs of a busy bot, each restart on the same database, then a clean drain:
    every alert arrives, and a repeat is only ever the one send in flight at a kill."""
    (tmp_path / "rules.toml").write_text(rules_toml(telegram.url, feed_server), encoding="utf-8")
    db = tmp_path / "vedette.db"
    rng = random.Random(SEED)
    feeds: dict[str, list[int]] = {name: [] for name in CHATS}
    numbers = iter(range(1, 1000))

    def add(name: str) -> None:
        feeds[name].insert(0, next(numbers))
        feed_server.route(f"/{name}", body=rss([story(n) for n in feeds[name]]))

    for name in CHATS:
        add(name)
        add(name)
    windows: list[tuple[float, float]] = []
    outputs: list[str] = []
    in_flight_at_kill = 0
    for kill in range(KILLS):
        add(("a", "b", "c")[kill % 3])
        began = time.monotonic()
        proc = vedette(tmp_path, "run")
        try:
            time.sleep(rng.uniform(0.3, 1.8))
        finally:
            proc.kill()
        outputs.extend(finish(proc, 15))
        time.sleep(0.2)  # requests the process sent before dying are handled by now
        windows.append((began, time.monotonic()))
        if db.exists():
            states = outbox_states(db)
            assert states["sending"] <= 1, states  # one sender: one send in flight at most
            in_flight_at_kill += states["sending"]
            assert integrity(db) == "ok"

    final = vedette(tmp_path, "run", "--once")
    out, err = finish(final, 90)
    assert final.returncode == 0, err
    outputs.extend((out, err))

    # The only message that can be repeated is the last one Telegram accepted before a kill.
    last_before_kill: list[int] = []
    for began, ended in windows:
        accepted = [m for m in telegram.sent if began <= m.time <= ended]
        if accepted:
            number = story_of(max(accepted, key=lambda m: m.time).visible_text)
            assert number is not None
            last_before_kill.append(number)
    expected = [n for numbers_ in feeds.values() for n in numbers_]
    counts = delivered(telegram, CHATS.values())
    assert_no_loss_no_dup(counts, expected, may_repeat=last_before_kill)
    for number, copies in counts.items():
        assert copies <= 1 + last_before_kill.count(number), (number, copies)
    assert sum(counts.values()) - len(expected) <= in_flight_at_kill
    assert outbox_states(db) == {"sent": len(expected)}
    assert integrity(db) == "ok"
    assert telegram.violations == []
    assert "Traceback" not in err
    assert_no_secret(*outputs)
    assert_db_has_no_secret(db)
