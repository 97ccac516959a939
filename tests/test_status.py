"""The `/status` report rendered from a real store: sources configured, failing, removed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.status import gather, rate_text, render_status, status_data
from bot.store import Store
from bot.timeutil import duration
from tests.helpers import config_text
from watchers.http import Validators

NOW = datetime(2026, 7, 5, 14, 2, tzinfo=UTC)


def test_failures_in_a_row_are_counted_in_words(store: Store) -> None:
    """One failure is "1 failure", more are "N failures"."""
    store.record_failure("one", "rss", NOW, "one: HTTP 503 Service Unavailable")
    for _ in range(3):
        store.record_failure("three", "rss", NOW, "three: HTTP 500 Internal Server Error")
    text = render_status(gather(store, ["one", "three"]), NOW + timedelta(minutes=4))
    assert "   1 failure in a row (last 4m ago): one: HTTP 503" in text
    assert "   3 failures in a row (last 4m ago): three: HTTP 500" in text


def test_sources_removed_from_the_configuration_are_named_once(store: Store) -> None:
    """A source no longer in rules.toml keeps its history but gets no health line of its
    own; without a configuration (`vedette status`), every source the store knows is listed."""
    for source in ("kept", "gone-a", "gone-b"):
        store.record_success(source, "rss", NOW, validators=Validators())
    store.record_failure("gone-b", "rss", NOW, "gone-b: HTTP 404 Not Found")
    configured = render_status(gather(store, ["kept", "new"]), NOW)
    assert "2 sources: 1 ok, 0 failing, 1 not polled yet" in configured
    assert "✓ kept (rss): ok" in configured
    assert "… new: not polled yet" in configured
    assert "no longer in the configuration, not polled: gone-a, gone-b" in configured
    assert "gone-b (rss)" not in configured
    assert "HTTP 404" not in configured

    everything = render_status(gather(store), NOW)
    assert "3 sources: 2 ok, 1 failing" in everything
    assert "✓ gone-a (rss): ok" in everything
    assert "✗ gone-b (rss)" in everything
    assert "no longer in the configuration" not in everything


# ── the schedule: each source's current interval and recent rate (issue 14) ──


def scheduled_store(store: Store) -> None:
    """Sources polled at NOW - 2m, with the schedules the runner would record after it."""
    for ident, kind in (
        ("busy", "rss"),
        ("quiet", "rss"),
        ("steady", "rss"),
        ("new", "rss"),
        ("sky", "opensky"),
    ):
        store.record_success(ident, kind, NOW - timedelta(minutes=2), validators=Validators())
    store.record_schedule("busy", "rss", interval=200.4, rate=41.3, adaptive=True)
    store.record_schedule("quiet", "rss", interval=5400.0, rate=0.3, adaptive=True)
    store.record_schedule("steady", "rss", interval=600.0, rate=None, adaptive=False)
    store.record_schedule("sky", "opensky", interval=3600.0, rate=None, adaptive=False)


def test_each_source_line_ends_with_its_interval_and_rate(store: Store) -> None:
    """`/status` shows the interval the runner chose, adaptive or fixed, and the recent
    rate; a source with no schedule recorded yet shows none."""
    scheduled_store(store)
    lines = render_status(gather(store), NOW).splitlines()
    assert [line for line in lines if line.startswith("✓ ")] == [
        "✓ busy (rss): ok 2m ago, 0 items, 0 alerts; every 3m 20s (adaptive, 41 items/day)",
        "✓ new (rss): ok 2m ago, 0 items, 0 alerts",
        "✓ quiet (rss): ok 2m ago, 0 items, 0 alerts; every 1h 30m (adaptive, 2.1 items/week)",
        "✓ sky (opensky): ok 2m ago, 0 flights; every 1h (fixed)",
        "✓ steady (rss): ok 2m ago, 0 items, 0 alerts; every 10m (fixed)",
    ]


def test_a_failing_source_shows_its_interval_too(store: Store) -> None:
    """The schedule stays on the source's first line; its error follows on the next."""
    store.record_failure("down", "rss", NOW, "down: HTTP 503")
    store.record_schedule("down", "rss", interval=1200.0, rate=3.25, adaptive=True)
    lines = render_status(gather(store), NOW + timedelta(minutes=1)).splitlines()
    at = lines.index(
        "✗ down (rss): never succeeded, 0 items, 0 alerts; every 20m (adaptive, 3.2 items/day)"
    )
    assert lines[at + 1] == "   1 failure in a row (last 1m ago): down: HTTP 503"


def test_the_json_report_has_each_sources_schedule(store: Store) -> None:
    """`interval_s`, `rate_per_day` and `adaptive` as recorded; null when not recorded."""
    scheduled_store(store)
    sources = {s["id"]: s for s in status_data(gather(store), NOW)["sources"]}
    schedules = {
        ident: (s["interval_s"], s["rate_per_day"], s["adaptive"]) for ident, s in sources.items()
    }
    assert schedules == {
        "busy": (200.4, 41.3, True),
        "quiet": (5400.0, 0.3, True),
        "steady": (600.0, None, False),
        "new": (None, None, None),
        "sky": (3600.0, None, False),
    }


@pytest.mark.parametrize(
    ("per_day", "text"),
    [
        (41.3, "41 items/day"),
        (10.0, "10 items/day"),
        (9.96, "10 items/day"),
        (9.94, "9.9 items/day"),
        (1.0, "1.0 items/day"),
        (0.3, "2.1 items/week"),
        (0.005, "<0.1 items/week"),
        (0.0, "0 items/week"),
    ],
)
def test_rates_read_per_day_or_per_week(per_day: float, text: str) -> None:
    """Whole numbers from ten a day, one decimal below, per week under one a day."""
    assert rate_text(per_day) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "0.5s"),
        (45, "45s"),
        (59.6, "1m"),
        (200.4, "3m 20s"),
        (600, "10m"),
        (3605, "1h"),
        (3720, "1h 2m"),
        (187260, "2d 4h"),
    ],
)
def test_intervals_read_in_their_two_largest_units(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_vedette_status_and_sources_show_the_schedule_from_a_database_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`vedette status` (text and `--json`) and `vedette sources` read the schedule from the
    file, read-only."""
    db = tmp_path / "v.db"
    store = Store.open(db)
    store.record_success("a", "rss", NOW, validators=Validators())
    store.record_schedule("a", "rss", interval=200.0, rate=41.0, adaptive=True)
    store.close()
    assert main(["status", "--db", str(db)]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("✓ a ")]
    assert line.endswith(" ago, 0 items, 0 alerts; every 3m 20s (adaptive, 41 items/day)")
    assert main(["status", "--db", str(db), "--json"]) == 0
    [source] = json.loads(capsys.readouterr().out)["sources"]
    assert (source["interval_s"], source["rate_per_day"], source["adaptive"]) == (200.0, 41.0, True)
    rules = tmp_path / "rules.toml"
    rules.write_text(config_text("http://127.0.0.1:9", {"a": "http://127.0.0.1:9/a"}, every="5m"))
    assert main(["sources", "--config", str(rules), "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = lines.index("a (rss, every 5m): http://127.0.0.1:9/a")
    assert lines[at + 1].startswith("   ✓ ok ")
    assert lines[at + 1].endswith("; 0 items, 0 alerts; now every 3m 20s (adaptive, 41 items/day)")
