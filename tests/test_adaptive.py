"""The adaptive scheduler (`watchers.adaptive`): the budget, the bounds, the hours of the day,
and the feeds that would starve or hammer a naive one (issue 14's bad input)."""

from __future__ import annotations

import math

import pytest

from watchers.adaptive import (
    DAY,
    HOUR,
    HOURS,
    MIN_EVENTS,
    Estimate,
    Polled,
    Scheduler,
    allocate,
    next_interval,
)

MINUTE = 60.0
# Midnight UTC, a Monday: hour h of day d is START + d * DAY + h * HOUR.
START = 1_767_571_200.0


def feed(ident: str = "f", every: float = 600.0, *, adaptive: bool = True) -> Polled:
    """A feed with the default bounds: every / 5 and 4 × every."""
    return Polled(ident, every, every / 5, 4 * every, adaptive)


def poll_steadily(
    scheduler: Scheduler,
    ident: str,
    *,
    days: float,
    per_day: float,
    start: float = START,
    dated: bool = True,
) -> float:
    """Polls of `ident` following the scheduler for `days`, each finding the items published
    (evenly, `per_day`) since the one before; returns the time of the last poll."""
    gap = DAY / per_day if per_day else math.inf
    t, published = start, start
    scheduler.observe(ident, t, [], seed=True)
    while t < start + days * DAY:
        t += scheduler.interval(ident, t)
        found = []
        while published + gap <= t:
            published += gap
            found.append(published if dated else None)
        scheduler.observe(ident, t, found)
    return t


def steady(per_day: float) -> Estimate:
    """A feed's estimate: `per_day` items a day, the same at every hour."""
    return Estimate(per_day / DAY, (1.0,) * HOURS, enough=True)


def intervals(scheduler: Scheduler, ident: str, start: float, hours: int = HOURS) -> list[float]:
    return [scheduler.interval(ident, start + h * HOUR) for h in range(hours)]


# -- the budget ------------------------------------------------------------------------------


def test_a_busy_feed_is_polled_more_often_than_a_quiet_one_for_the_same_total() -> None:
    busy, quiet = feed("busy"), feed("quiet")
    scheduler = Scheduler([busy, quiet])
    poll_steadily(scheduler, "busy", days=3, per_day=200)
    end = poll_steadily(scheduler, "quiet", days=3, per_day=2)
    fast, slow = scheduler.interval("busy", end), scheduler.interval("quiet", end)
    assert busy.min_every <= fast < 600 < slow <= quiet.max_every
    # Polls per second: what the two spend together is what fixed polling would.
    assert 1 / fast + 1 / slow == pytest.approx(2 / 600, rel=0.05)


def test_the_allocation_spends_the_budget_exactly_and_follows_the_square_root_of_the_rate() -> None:
    sources = [feed("a"), feed("b"), feed("c", every=1200)]
    found = {"a": steady(100), "b": steady(25), "c": steady(10)}
    plan = allocate(sources, found)
    spent = sum(sum(hourly) / HOURS for hourly in plan.values())
    assert spent == pytest.approx(2 / 600 + 1 / 1200, rel=1e-9)
    ratio = (sum(plan["a"]) / sum(plan["b"])) ** 2
    assert ratio == pytest.approx(4.0, rel=0.05)  # four times the rate, twice the polls


def test_a_feed_with_nothing_to_find_is_polled_at_max_every_and_others_get_its_share() -> None:
    sources = [feed("silent"), feed("busy")]
    found = {"silent": steady(0), "busy": steady(30)}
    plan = allocate(sources, found)
    assert plan["silent"] == (1 / 2400,) * HOURS
    assert sum(plan["busy"]) / HOURS == pytest.approx(2 / 600 - 1 / 2400)


def test_min_every_holds_even_when_it_leaves_budget_unspent() -> None:
    """A busy feed that may not go below its `every`, and a silent one: the busy one is not
    polled faster than min_every to spend what the silent one leaves."""
    sources = [Polled("busy", 600, 600, 2400), Polled("silent", 600, 120, 2400)]
    found = {"busy": steady(1000), "silent": steady(0)}
    plan = allocate(sources, found)
    assert plan == {"busy": (1 / 600,) * HOURS, "silent": (1 / 2400,) * HOURS}


# -- the hours of the day --------------------------------------------------------------------


def test_busy_hours_are_polled_more_often_once_the_history_shows_them() -> None:
    """A feed that publishes only from 06:00 to 18:00 UTC, and one that publishes all day."""
    day_feed, steady = feed("day"), feed("steady")
    scheduler = Scheduler([day_feed, steady])
    t = START
    scheduler.observe("day", t, [], seed=True)
    for day in range(7):
        published = [START + day * DAY + 6 * HOUR + i * 720.0 for i in range(60)]  # 5 an hour
        scheduler.observe("day", START + day * DAY + 18 * HOUR, published)
    poll_steadily(scheduler, "steady", days=7, per_day=60)
    end = START + 7 * DAY
    by_hour = intervals(scheduler, "day", end)
    assert max(by_hour[7:17]) < min(by_hour[:5])
    assert max(by_hour[7:17]) < min(by_hour[20:])
    # Before 06:00, the next poll comes sooner than the night's interval: the busy hours
    # start within it.
    assert scheduler.interval("day", end + 5.9 * HOUR) < by_hour[3]


def test_next_interval_counts_one_poll_across_hour_boundaries() -> None:
    frequencies = [1 / 3600] * 6 + [1 / 60] * 18  # slow until 06:00, then a poll a minute
    assert next_interval(frequencies, START) == pytest.approx(3600)
    # From 05:30: half a poll's worth before 06:00, then 30 s at the fast rate.
    assert next_interval(frequencies, START + 5.5 * HOUR) == pytest.approx(1800 + 30)
    assert next_interval(frequencies, START + 7 * HOUR) == pytest.approx(60)


# -- history and bounds ----------------------------------------------------------------------


def test_a_new_feed_is_polled_at_its_every_until_it_has_history() -> None:
    scheduler = Scheduler([feed("new")])
    assert scheduler.interval("new", START) == 600
    scheduler.observe("new", START, [], seed=True)
    assert scheduler.interval("new", START + HOUR) == 600
    assert scheduler.rate("new", START + HOUR) == 0.0
    scheduler.observe("new", START + DAY, [])  # a day of history, nothing published
    assert scheduler.interval("new", START + DAY) == 2400


def test_dated_items_of_the_first_poll_give_a_rate_at_once() -> None:
    """The first poll lists 20 items from the last 4 hours: a busy feed, from the start."""
    scheduler = Scheduler([feed("busy"), feed("other")])
    listed = [START - i * 720.0 for i in range(20)]
    scheduler.observe("busy", START, listed, seed=True)
    poll_steadily(scheduler, "other", days=2, per_day=4, start=START - 2 * DAY)
    assert scheduler.rate("busy", START) == pytest.approx(20 * DAY / (19 * 720.0), rel=0.1)
    assert scheduler.interval("busy", START) < 600


def test_undated_items_of_the_first_poll_are_not_counted() -> None:
    scheduler = Scheduler([feed("f")])
    scheduler.observe("f", START, [None] * 20, seed=True)
    assert scheduler.rate("f", START + DAY) == 0.0


def test_a_fixed_source_keeps_its_every() -> None:
    scheduler = Scheduler([feed("fixed", adaptive=False), feed("other")])
    poll_steadily(scheduler, "fixed", days=3, per_day=300)
    assert {scheduler.interval("fixed", START + 3 * DAY + h * HOUR) for h in range(24)} == {600}


def test_the_feeds_own_hint_is_a_floor_capped_at_max_every() -> None:
    scheduler = Scheduler([feed("busy"), feed("quiet")])
    poll_steadily(scheduler, "busy", days=3, per_day=300)
    end = poll_steadily(scheduler, "quiet", days=3, per_day=1)
    assert scheduler.interval("busy", end) < 30 * MINUTE
    scheduler.set_hint("busy", 30 * MINUTE)
    assert scheduler.interval("busy", end) == pytest.approx(30 * MINUTE)
    scheduler.set_hint("busy", 7 * DAY)  # "cache me for a week": no longer than max_every
    assert scheduler.interval("busy", end) == pytest.approx(40 * MINUTE)
    scheduler.set_hint("busy", None)
    assert scheduler.interval("busy", end) < 30 * MINUTE


# -- bad input: none starves a feed (max_every holds) or hammers one (min_every holds) -------


def bounded(scheduler: Scheduler, ident: str, now: float) -> list[float]:
    """The feed's intervals over a day from `now`, asserted within its bounds."""
    source = scheduler.sources[ident]
    found = intervals(scheduler, ident, now)
    assert all(source.min_every <= i <= source.max_every for i in found), found
    return found


def test_dates_all_in_the_future_are_not_believed() -> None:
    scheduler = Scheduler([feed("future"), feed("other")])
    t = START
    scheduler.observe("future", t, [], seed=True)
    for _i in range(3 * 24):
        t += HOUR
        scheduler.observe("future", t, [t + 400 * DAY])  # one item an hour, dated next year
    poll_steadily(scheduler, "other", days=3, per_day=24)
    assert scheduler.rate("future", t) == pytest.approx(24, rel=0.1)
    bounded(scheduler, "future", t)


def test_dates_all_equal_are_not_believed() -> None:
    """The first poll lists 20 items with one date (the feed's build time, say): from then
    on its items count when first seen, whatever their date."""
    scheduler = Scheduler([feed("equal")])
    scheduler.observe("equal", START, [START - 100 * DAY] * 20, seed=True)
    for hour in range(1, 31):
        scheduler.observe("equal", START + hour * HOUR, [START - 100 * DAY])
    # Believed, each item would be an old one listed again, and the rate 0.
    assert scheduler.rate("equal", START + 30 * HOUR) == pytest.approx(24, rel=0.1)


def test_undated_items_count_when_first_seen() -> None:
    scheduler = Scheduler([feed("undated"), feed("other")])
    end = poll_steadily(scheduler, "undated", days=3, per_day=48, dated=False)
    poll_steadily(scheduler, "other", days=3, per_day=48)
    assert scheduler.rate("undated", end) == pytest.approx(48, rel=0.15)
    assert scheduler.rate("other", end) == pytest.approx(48, rel=0.15)
    bounded(scheduler, "undated", end)


def test_an_old_item_listed_again_is_not_a_new_publication() -> None:
    """In a feed whose dates are good, a new id on an item dated days before the poll that
    first saw it is an old story listed again."""

    def rate(*, relisted: bool) -> float | None:
        scheduler = Scheduler([feed("f")])
        scheduler.observe("f", START, [START - i * HOUR for i in range(20)], seed=True)
        for hour in range(1, 21):
            scheduler.observe("f", START + hour * HOUR, [START + hour * HOUR - 600])
        scheduler.observe("f", START + 21 * HOUR, [START - 10 * DAY] if relisted else [])
        return scheduler.rate("f", START + 21 * HOUR)

    assert rate(relisted=True) == rate(relisted=False)


@pytest.mark.parametrize("dated", [True, False])
def test_a_feed_relisting_its_history_under_new_ids_is_not_polled_below_min_every(
    dated: bool,
) -> None:
    """Each poll lists the same 20 items under new ids: to the scheduler a very busy feed
    (their dates repeat, so they are not believed); it gets more of the budget, within its
    bounds, and the other feed keeps its share."""
    scheduler = Scheduler([feed("relist"), feed("other")])
    history = [START - 30 * DAY + i * DAY if dated else None for i in range(20)]
    scheduler.observe("relist", START, history, seed=True)
    t = START
    for _ in range(300):
        t += scheduler.interval("relist", t)
        scheduler.observe("relist", t, history)
    poll_steadily(scheduler, "other", days=(t - START) / DAY, per_day=24)
    assert min(bounded(scheduler, "relist", t)) < 600
    assert max(bounded(scheduler, "other", t)) <= 2400


def test_a_month_of_silence_then_fifty_items() -> None:
    scheduler = Scheduler([feed("burst"), feed("other")])
    poll_steadily(scheduler, "other", days=40, per_day=24)
    end = poll_steadily(scheduler, "burst", days=7, per_day=48)
    busy = scheduler.interval("burst", end)
    t, longest = end, 0.0
    while t < end + 30 * DAY:  # silent: the interval grows, never beyond max_every
        wait = scheduler.interval("burst", t)
        longest = max(longest, wait)
        t += wait
        scheduler.observe("burst", t, [])
    assert busy < 600 < longest <= 2400
    before = scheduler.interval("burst", t)
    t += before
    scheduler.observe("burst", t, [t - i * 30.0 for i in range(50)])
    scheduler.interval("other", t + 11 * MINUTE)  # the budget is shared again
    assert scheduler.interval("burst", t + 11 * MINUTE) < before
    bounded(scheduler, "burst", t + 11 * MINUTE)


@pytest.mark.parametrize("jump", [-2 * DAY, -HOUR, 2 * HOUR, 45 * DAY, 3650 * DAY])
def test_a_clock_jump_keeps_every_interval_within_bounds(jump: float) -> None:
    scheduler = Scheduler([feed("a"), feed("b", every=1200)])
    poll_steadily(scheduler, "a", days=3, per_day=100)
    end = poll_steadily(scheduler, "b", days=3, per_day=3)
    jumped = end + jump
    scheduler.observe("a", jumped, [jumped - 10.0])
    for ident in ("a", "b"):
        bounded(scheduler, ident, jumped)
        rate = scheduler.rate(ident, jumped)
        assert rate is not None
        assert rate >= 0
        assert math.isfinite(rate)


def test_ten_dated_items_of_the_first_poll_are_enough_to_adapt() -> None:
    def first_interval(listed: int) -> float:
        scheduler = Scheduler([feed("new"), feed("other")])
        poll_steadily(scheduler, "other", days=2, per_day=2, start=START - 2 * DAY)
        scheduler.observe("new", START, [START - 60.0 * i for i in range(listed)], seed=True)
        return scheduler.interval("new", START)

    assert first_interval(MIN_EVENTS - 1) == 600
    assert first_interval(MIN_EVENTS) < 600
