"""Keeping the database bounded: what pruning deletes, what it never deletes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config.types import StorageSettings
from bot.config.validate import parse_config
from bot.status import gather, render_status
from bot.store import Store
from tests.helpers import new_alert, outbox_rows
from watchers.flights import Flight, Sighting
from watchers.http import Validators
from watchers.items import NewsItem

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=90)


def unseen(store: Store, source_id: str, keys: list[str]) -> set[str]:
    """The keys among `keys` that `source_id` never recorded."""
    return set(keys) - store.known_items(source_id, keys).keys()


def due(store: Store, now: datetime) -> list[tuple[int | str, int]]:
    """(chat id, oldest due row id) of each group of due pending rows."""
    return [(group.chat_id, group.first_id) for group in store.due_groups(now)]


def item(key: str) -> NewsItem:
    """A news item."""
    return NewsItem("src", key, f"title {key}", f"https://n.example/{key}", "", "", None)


def test_prune_removes_old_history_and_spares_what_is_still_needed(store: Store) -> None:
    """Old unseen items, old sent rows and old sightings go; listed items, pending rows stay."""
    store.record_success(
        "src",
        "rss",
        START,
        validators=Validators(),
        items=[item("gone"), item("listed"), item("sent"), item("waiting")],
        alerts=[new_alert("sent"), new_alert("waiting")],
    )
    sent = store.claim(due(store, START)[0][1])
    assert sent is not None
    store.mark_sent(sent.id, START, 1)
    store.record_sightings([Sighting("510123", "BRU8801", START, 32.1, 20.3, 0, True, "live")])
    store.record_flights(
        [Flight("510123", "BRU8801", "BRU", "HLLB", "UMMS", START, None, "sky")], START
    )
    later = START + timedelta(days=100)
    store.record_success("src", "rss", later, validators=Validators(), present=["listed"])

    report = store.prune(later, RETENTION, timedelta(days=60))

    assert (report.seen_items, report.alerts, report.sightings, report.flights) == (3, 1, 1, 1)
    assert unseen(store, "src", ["gone", "listed", "sent"]) == {"gone", "sent"}
    assert [row["state"] for row in outbox_rows(store)] == ["pending"]
    assert store.sightings_since(["510123"], START - timedelta(days=1)) == []


def test_a_pruned_item_that_reappears_does_not_alert_again(store: Store) -> None:
    """The (rule, item) match outlives pruning, so a re-listed old item is no new alert."""
    store.record_success(
        "src", "rss", START, validators=Validators(), items=[item("a")], alerts=[new_alert("a")]
    )
    store.mark_sent(1, START, 1)
    later = START + timedelta(days=100)
    store.prune(later, RETENTION, timedelta(0))
    assert unseen(store, "src", ["a"]) == {"a"}
    added = store.record_success(
        "src", "rss", later, validators=Validators(), items=[item("a")], alerts=[new_alert("a")]
    )
    assert added == 0
    assert outbox_rows(store) == []


def test_flights_inside_a_route_window_are_kept(store: Store) -> None:
    """Flights younger than the longest route history survive a short retention."""
    store.record_flights(
        [Flight("510123", "BRU8801", "BRU", "HLLB", "UMMS", START, None, "sky")], START
    )
    report = store.prune(START + timedelta(days=40), timedelta(days=7), timedelta(days=60))
    assert report.flights == 0
    assert store.flight_count() == 1


def test_storage_report_and_status_line(store: Store) -> None:
    """/status shows the size, the row counts and the pruning schedule and result."""
    store.record_success("src", "rss", START, validators=Validators(), items=[item("a")])
    store.set_meta(
        {
            "retention": "90d",
            "prune_every": "6h",
            "pruned_at": "2026-01-01T09:00:00.000+00:00",
            "pruned": "1 seen items, 0 alerts, 0 sightings, 0 flights",
        }
    )
    report = store.storage_report()
    assert report.bytes_on_disk > 0
    assert dict(report.rows)["seen_items"] == 1
    text = render_status(gather(store), START)
    line = next(line for line in text.splitlines() if line.startswith("storage: "))
    assert "0 alerts, 1 seen item, 0 flights, 0 sightings" in line
    assert "kept 90d, pruned every 6h, last 3h ago (1 seen items, 0 alerts" in line


def test_storage_settings_in_rules_toml() -> None:
    """[storage] sets retention and the pruning interval; too short a retention is an error."""
    base = '[channels.main]\nchat_id = -1\n[[sources]]\nid = "s"\nkind = "rss"\nurl = "https://e.org/"\n'
    assert parse_config(base).storage == StorageSettings()
    config = parse_config('[storage]\nretention = "30d"\nprune_every = "1h"\n\n' + base)
    assert config.storage == StorageSettings(30 * 86400.0, 3600.0)
    with pytest.raises(
        Exception, match=r"test.toml:2: storage.retention: must be at least one day"
    ):
        parse_config('[storage]\nretention = "2h"\n\n' + base, "test.toml")
