"""The SQLite store: migrations, seen items, (rule, item) dedup, the outbox and health."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from bot.status import Health, health
from bot.store import Store
from bot.store.base import StoreError
from bot.store.migrations import migrations
from tests.helpers import new_alert, outbox_rows, record_alerts
from watchers.http import Validators
from watchers.items import NewsItem

NOW = datetime(2026, 5, 2, 12, 0, tzinfo=UTC)


def unseen(store: Store, source_id: str, keys: list[str]) -> set[str]:
    """The keys among `keys` that `source_id` never recorded."""
    return set(keys) - store.known_items(source_id, keys).keys()


def due(store: Store, now: datetime) -> list[tuple[int | str, int]]:
    """(chat id, oldest due row id) of each group of due pending rows."""
    return [(group.chat_id, group.first_id) for group in store.due_groups(now)]


def item(key: str, title: str = "t") -> NewsItem:
    """A news item with just a key and title."""
    return NewsItem("src", key, title, f"https://example.org/{key}", "", "", None)


def test_open_twice_applies_migrations_once(tmp_path: Path) -> None:
    """Re-opening a database keeps its data and does not re-run migrations."""
    first = Store.open(tmp_path / "v.db")
    first.record_success("src", "rss", NOW, validators=Validators(etag="x"), items=[item("a")])
    first.close()
    second = Store.open(tmp_path / "v.db")
    assert second.source_state("src").validators.etag == "x"
    assert unseen(second, "src", ["a", "b"]) == {"b"}
    assert second.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    second.close()


def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    """A database in a missing directory fails with the path in the message."""
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(tmp_path / "missing" / "v.db")


def test_first_poll_state_and_seen_items(store: Store) -> None:
    """A source is unseeded until its first success; items are remembered per source."""
    assert store.source_state("src").seeded is False
    store.record_success("src", "rss", NOW, validators=Validators(), items=[item("a"), item("b")])
    assert store.source_state("src").seeded is True
    assert unseen(store, "src", ["a", "b", "c"]) == {"c"}
    assert unseen(store, "other", ["a"]) == {"a"}


def test_rule_item_pair_is_enqueued_once_forever(store: Store) -> None:
    """The same (rule, item) never gets a second outbox row, even after it was sent."""
    assert record_alerts(store, NOW, new_alert("a")) == 1
    row = store.claim(due(store, NOW)[0][1])
    assert row is not None
    store.mark_sent(row.id, NOW, 7)
    added = record_alerts(store, NOW, new_alert("a"), new_alert("a", "r2"))
    assert added == 1
    assert [r["rule_ids"] for r in outbox_rows(store)] == ["r1", "r2"]


def test_failure_counts_and_reset(store: Store) -> None:
    """Failures count up with their message; a success resets the streak."""
    assert store.record_failure("src", "rss", NOW, "src: timed out") == 1
    assert store.record_failure("src", "rss", NOW, "src: HTTP 500") == 2
    health = store.source_health()[0]
    assert (health.consecutive_failures, health.failures, health.last_error) == (
        2,
        2,
        "src: HTTP 500",
    )
    store.record_success("src", "rss", NOW, validators=Validators(), items=[item("a")])
    health = store.source_health()[0]
    assert (health.consecutive_failures, health.failures, health.items_seen) == (0, 2, 1)
    assert health.last_success_at is not None


def schedule(store: Store, source_id: str) -> tuple[float | None, float | None, bool | None]:
    """(interval, rate, adaptive) of `source_id` as `source_health` reads them."""
    [health] = [h for h in store.source_health() if h.id == source_id]
    return health.interval, health.rate, health.adaptive


def test_schedule_round_trip(store: Store) -> None:
    """`record_schedule` creates the source's row when it has none, overwrites the last
    schedule, keeps an unknown rate unknown, and polls do not touch it."""
    store.record_schedule("src", "rss", interval=200.0, rate=41.5, adaptive=True)
    assert schedule(store, "src") == (200.0, 41.5, True)
    [created] = store.source_health()
    assert (created.kind, created.polls, created.last_success_at) == ("rss", 0, None)
    store.record_success("src", "rss", NOW, validators=Validators(), items=[item("a")])
    store.record_failure("src", "rss", NOW, "src: HTTP 500")
    assert schedule(store, "src") == (200.0, 41.5, True)
    store.record_schedule("src", "rss", interval=600.0, rate=None, adaptive=False)
    assert schedule(store, "src") == (600.0, None, False)
    store.record_success("sky", "opensky", NOW, validators=Validators())
    assert schedule(store, "sky") == (None, None, None)


def test_a_database_from_before_the_schedule_gets_its_columns_empty(tmp_path: Path) -> None:
    """m011: a source polled before adaptive polling has no interval, rate or mode until
    the runner records one; nothing else of its row changes."""
    path = tmp_path / "v.db"
    old = Database(path)
    migrations.apply(old, stop_before="m011_schedule")
    old.execute("INSERT INTO sources (id, kind, polls, items_seen) VALUES ('src', 'rss', 3, 12)")
    old.close()
    store = Store.open(path)
    [health] = store.source_health()
    assert (health.polls, health.items_seen) == (3, 12)
    assert (health.interval, health.rate, health.adaptive) == (None, None, None)
    store.record_schedule("src", "rss", interval=60.0, rate=0.2, adaptive=True)
    assert schedule(store, "src") == (60.0, 0.2, True)
    store.close()


def test_outbox_lifecycle_and_counts(store: Store) -> None:
    """Rows go pending → sending → sent/failed/pending, and counts follow."""
    record_alerts(store, NOW, new_alert("a"), new_alert("b"), new_alert("c"))
    chats = due(store, NOW)
    assert chats == [(-100, 1)]
    first = store.claim(1)
    assert first is not None
    assert store.claim(1) is None
    store.mark_sent(1, NOW, 42)
    store.mark_failed(2, "Bad Request: chat not found")
    store.claim(3)
    store.release(3, NOW + timedelta(minutes=1), error="timed out", count_attempt=True)
    assert due(store, NOW) == []
    assert store.next_due_at() is not None
    counts = store.outbox_counts()
    assert (counts.pending, counts.sent, counts.failed) == (1, 1, 1)
    assert counts.recent_failures == ("r1→main: Bad Request: chat not found",)
    assert outbox_rows(store, "pending")[0]["attempts"] == 1


def test_recover_inflight_returns_sending_rows_to_pending(store: Store) -> None:
    """A row left 'sending' by a crash is pending again after recovery."""
    record_alerts(store, NOW, new_alert("a"))
    store.claim(1)
    assert store.recover_inflight() == 1
    assert outbox_rows(store, "pending")[0]["id"] == 1


def test_migrate_chat_moves_unsent_rows(store: Store) -> None:
    """After a group migration every unsent row goes to the new chat id."""
    record_alerts(store, NOW, new_alert("a", chat=-5), new_alert("b", chat=-5))
    assert store.migrate_chat(-5, -1009999) == 2
    assert due(store, NOW) == [(-1009999, 1)]


def test_string_chat_ids_round_trip(store: Store) -> None:
    """@channel chat ids stay strings; numeric ones come back as ints."""
    record_alerts(store, NOW, new_alert("a", chat="@chan"))
    row = store.claim(1)
    assert row is not None
    assert row.chat_id == "@chan"


def test_write_waits_for_a_lock_then_succeeds(tmp_path: Path) -> None:
    """A write while another connection holds the write lock waits instead of failing."""
    store = Store.open(tmp_path / "v.db")
    locked = threading.Event()

    def hold_lock() -> None:
        other = sqlite3.connect(tmp_path / "v.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(0.5)
        other.execute("COMMIT")
        other.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait()
    assert store.record_failure("src", "rss", NOW, "x") == 1
    holder.join()
    store.close()


@pytest.mark.parametrize(
    ("meta", "healthy", "reason"),
    [
        ({}, False, "unhealthy: the bot never ran on this database"),
        (
            {
                "started_at": "2026-05-02T11:00:00.000+00:00",
                "heartbeat_at": "2026-05-02T11:59:30.000+00:00",
            },
            True,
            "healthy: heartbeat 30s ago",
        ),
        (
            {
                "started_at": "2026-05-02T11:00:00.000+00:00",
                "heartbeat_at": "2026-05-02T11:50:00.000+00:00",
            },
            False,
            "unhealthy: last heartbeat 10m ago (limit 2m)",
        ),
        (
            {
                "started_at": "2026-05-02T11:00:00.000+00:00",
                "heartbeat_at": "2026-05-02T11:59:50.000+00:00",
                "stopped_at": "2026-05-02T11:59:55.000+00:00",
            },
            False,
            "unhealthy: the bot stopped 5s ago",
        ),
    ],
)
def test_health_verdicts(meta: dict[str, str], healthy: bool, reason: str) -> None:
    """The healthcheck needs a started, not stopped bot with a fresh heartbeat."""
    assert health(meta, NOW, 120.0) == Health(healthy, reason)


def test_a_take_off_heard_at_its_airport_sets_the_departure_of_a_merged_flight(
    store: Store,
) -> None:
    """OpenSky's arrival list alone knows no departure airport, and its first-seen time can
    be an hour after the take-off: when the departure list's record of the same flight comes
    later, its time wins, so a late-night flight counts on its own day (and month)."""
    from watchers.flights import Flight

    arrival_half = Flight(
        "5100a8", "BRU8802", "BRU", None, "UMMS",
        datetime(2025, 7, 1, 0, 20, tzinfo=UTC), None, "opensky",
    )  # fmt: skip
    departure_half = Flight(
        "5100a8", "BRU8802", "BRU", "HLLB", None,
        datetime(2025, 6, 30, 23, 30, tzinfo=UTC), None, "opensky",
    )  # fmt: skip
    now = datetime(2025, 7, 2, tzinfo=UTC)
    assert store.record_flights([arrival_half], now) == 1
    assert store.record_flights([departure_half], now) == 0
    june = (datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC))
    (flight,) = store.flights_between(("HLLB",), ("UMMS",), *june)
    assert flight.departure == datetime(2025, 6, 30, 23, 30, tzinfo=UTC)
    assert store.record_flights([arrival_half], now) == 0  # the arrival half again: no change
    (again,) = store.flights_between(("HLLB",), ("UMMS",), *june)
    assert again.departure == flight.departure
