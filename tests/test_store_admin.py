"""The admin records of the store: mutes, the alerts they hold, recent deliveries, `/status`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.status import gather, render_status
from bot.store import Store
from bot.store.records import NewAlert
from tests.helpers import new_alert, outbox_rows, record_alerts

NOW = datetime(2026, 7, 5, 14, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)


def alert(key: str, *rules: str, plain: str = "Title\n\nbody") -> NewAlert:
    """An alert for item `key` matched by `rules` (default r1), linking to its story."""
    return new_alert(key, *rules, plain=plain, link=f"https://news.example/{key}")


def test_a_muted_alert_is_recorded_not_enqueued(store: Store) -> None:
    """With its only rule muted, an alert lands in muted_alerts and never in the outbox."""
    store.mute("r1", NOW + HOUR, 4242, NOW)
    assert record_alerts(store, NOW, alert("a", plain="Haftar in Minsk\n\nmore")) == 0
    assert outbox_rows(store) == []
    assert store.muted_count() == 1
    held = store.recent_muted()
    assert [(h.rule_ids, h.title, h.link) for h in held] == [
        (("r1",), "Haftar in Minsk", "https://news.example/a")
    ]
    assert [(m.rule_id, m.held) for m in store.mutes()] == [("r1", 1)]
    assert store.source_health()[0].alerts == 0


def test_an_alert_another_rule_wants_is_still_sent(store: Store) -> None:
    """If only some of an alert's rules are muted, it is enqueued as usual."""
    store.mute("r1", NOW + HOUR, None, NOW)
    assert record_alerts(store, NOW, alert("a", "r1", "r2")) == 1
    assert store.muted_count() == 0
    store.mute("r2", NOW + HOUR, None, NOW)
    assert record_alerts(store, NOW, alert("b", "r1", "r2")) == 0
    assert store.muted_count() == 1


def test_a_mute_expires_by_itself(store: Store) -> None:
    """Past its `until` a mute no longer applies, is not active, and cannot be unmuted."""
    until = NOW + HOUR
    store.mute("r1", until, None, NOW)
    assert [(m.rule_id, m.until) for m in store.mutes()] == [("r1", until)]
    later = NOW + 2 * HOUR
    assert record_alerts(store, later, alert("a")) == 1
    assert store.unmute("r1", later) is False
    assert store.mutes() == []


def test_unmute_lets_new_alerts_through_but_never_sends_held_ones(store: Store) -> None:
    """After /unmute new alerts are enqueued; one held meanwhile is not sent later."""
    store.mute("r1", NOW + HOUR, None, NOW)
    held = alert("a")
    assert record_alerts(store, NOW, held) == 0
    assert store.unmute("r1", NOW) is True
    assert store.unmute("r1", NOW) is False
    assert record_alerts(store, NOW, alert("b")) == 1
    again = store.record_route(
        "r1", NOW, firing=True, count=1, previous=None, complete=True, summary="", alert=held
    )
    assert again == 0
    assert [row["dedup_key"] for row in outbox_rows(store)] == ["news|r1|b"]


def test_a_muted_route_rule_still_records_its_state(store: Store) -> None:
    """A route alert held by a mute returns 0, but the rule's evaluation is kept."""
    store.mute("route", NOW + HOUR, None, NOW)
    added = store.record_route(
        "route",
        NOW,
        firing=True,
        count=3,
        previous=None,
        complete=True,
        summary="3 flights",
        alert=alert("ep1", "route"),
    )
    assert added == 0
    assert store.route_state("route").episodes == 1
    assert store.muted_count() == 1


def test_a_running_mute_extended_keeps_counting_from_its_start(store: Store) -> None:
    """Re-muting a muted rule moves its end but keeps the alerts it held in its count."""
    store.mute("r1", NOW + HOUR, None, NOW)
    record_alerts(store, NOW, alert("a"))
    store.mute("r1", NOW + 3 * HOUR, None, NOW + HOUR / 2)
    record_alerts(store, NOW + HOUR / 2, alert("b"))
    mute = store.mutes()[0]
    assert (mute.until, mute.since, mute.held) == (NOW + 3 * HOUR, NOW, 2)


def test_recent_alerts_lists_sent_rows_newest_first(store: Store) -> None:
    """recent_alerts returns delivered rows only: when sent, rules, first line, link."""
    record_alerts(
        store, NOW, alert("a", plain="First\nx"), alert("b", plain="\nSecond"), alert("c")
    )
    store.mark_sent(1, NOW + HOUR, 10)
    store.mark_sent(2, NOW + 2 * HOUR, 11)
    recent = store.recent_alerts()
    assert [(r.at, r.rule_ids, r.title, r.link) for r in recent] == [
        (NOW + 2 * HOUR, ("r1",), "Second", "https://news.example/b"),
        (NOW + HOUR, ("r1",), "First", "https://news.example/a"),
    ]
    assert len(store.recent_alerts(limit=1)) == 1


def test_status_shows_running_mutes_and_the_held_count(store: Store) -> None:
    """/status lists each running mute with its end and held alerts, and the total held."""
    store.mute("r1", datetime(2026, 7, 6, 12, 0, tzinfo=UTC), None, NOW)
    store.mute("r2", NOW + HOUR, None, NOW)
    record_alerts(store, NOW, alert("a"), alert("b"), alert("c", "r2"))
    text = render_status(gather(store), NOW + 2 * HOUR)
    assert "muted: r1 until 2026-07-06 12:00 UTC (2 alerts held)" in text
    assert "muted: r2" not in text
    assert "muted alerts recorded (never sent): 3" in text
    assert text.startswith("vedette ")
