"""The `/status` report rendered from a real store: sources configured, failing, removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.status import gather, render_status
from bot.store import Store
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
