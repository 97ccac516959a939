"""The replay benchmark's accounting (tests/bench/replay_sim.py, replay_model.py): exact delays
and request counts on tiny cases with known poll times, and the model's tiling of real series."""

from __future__ import annotations

import random
from collections.abc import Sequence

from tests.bench.replay_model import (
    DAY,
    HOUR,
    Feed,
    load_series,
    real_feeds,
    synthetic_feeds,
    tiled,
)
from tests.bench.replay_sim import Fixed, percentile, simulate


def exact(interval: float, rng: random.Random) -> float:
    """No jitter: the next poll exactly one interval later."""
    return interval


def at_once(every: float, rng: random.Random) -> float:
    return 0.0


class Told:
    """A fixed policy that notes what each poll told it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, list[float | None], bool]] = []

    def interval(
        self, feed: Feed, at: float, found: Sequence[float | None], *, first: bool
    ) -> float:
        self.calls.append((feed.id, at, list(found), first))
        return feed.every


def test_each_item_waits_for_the_first_poll_at_or_after_it() -> None:
    """Polls at 0, 100, 200, …: items at 250 and 399 wait 50 s and 1 s; items published
    before the measured period or at its end are not measured; polls in [200, 400) count."""
    feed = Feed("a", 100.0, (50.0, 100.0, 250.0, 300.0, 399.0, 400.0))
    outcome = simulate(
        [feed], Fixed(), start=0.0, measure_from=200.0, end=400.0, seed=1, wait=exact, first=at_once
    )
    assert outcome.delays == {"a": [50.0, 0.0, 1.0]}
    assert outcome.requests == 2


def test_the_policy_hears_each_poll_once_with_its_new_items() -> None:
    """The first poll is flagged; an undated feed's items reach the policy as None; the
    first poll at or after the end (205 here) finds its items but asks for no next poll."""
    feeds = [Feed("dated", 100.0, (30.0, 130.0, 140.0)), Feed("undated", 150.0, (10.0,), False)]
    told = Told()
    outcome = simulate(
        feeds, told, start=5.0, measure_from=5.0, end=200.0, seed=1, wait=exact, first=at_once
    )
    assert told.calls == [
        ("dated", 5.0, [], True),
        ("undated", 5.0, [], True),
        ("dated", 105.0, [30.0], False),
        ("undated", 155.0, [None], False),
    ]
    assert outcome.delays == {"dated": [75.0, 75.0, 65.0], "undated": [145.0]}


def test_with_jitter_the_delays_stay_within_one_jittered_interval_and_repeat_per_seed() -> None:
    feeds = [Feed("a", 600.0, tuple(float(t) for t in range(0, 86400, 977)))]
    runs = [
        simulate(feeds, Fixed(), start=0.0, measure_from=0.0, end=86400.0, seed=seed)
        for seed in (7, 7, 8)
    ]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    delays = runs[0].all_delays()
    assert len(delays) == len(feeds[0].published)
    assert min(delays) >= 0
    assert max(delays) <= 600 * 1.1
    assert 86400 / (600 * 1.1) <= runs[0].requests <= 86400 / (600 * 0.9) + 1


def test_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.5
    assert percentile(values, 0.9) == 90.1


def test_a_short_series_is_repeated_end_to_end_one_median_gap_apart() -> None:
    """A 3-hour series (gaps 1 h and 2 h: median 1.5 h) repeats every 4.5 hours."""
    series = (1000.0, 1000.0 + HOUR, 1000.0 + 3 * HOUR)
    hours = [t / HOUR for t in tiled(series, 0.0, 0.5)]
    assert hours == [0.0, 1.0, 3.0, 4.5, 5.5, 7.5, 9.0, 10.0]


def test_a_long_series_keeps_its_last_days() -> None:
    """A series longer than the period: its last `days` days, shifted to the start."""
    series = tuple(float(d) * DAY for d in range(10))
    assert tiled(series, 0.0, 3.0) == (0.0, DAY, 2 * DAY)


def test_the_stored_series_are_real_feeds_of_thirty_items_or_more() -> None:
    stored = load_series()
    assert len(stored) >= 5
    assert all(len(s.published) >= 30 and s.title for s in stored)
    feeds = real_feeds(0.0, 21.0)
    assert all(all(0 <= t < 21 * DAY for t in f.published) for f in feeds)


def test_the_synthetic_model_is_seeded_and_spans_three_orders_of_magnitude() -> None:
    first, again = synthetic_feeds(3, 0.0, 21.0), synthetic_feeds(3, 0.0, 21.0)
    assert first == again
    assert len(first) == 62
    assert all(list(f.published) == sorted(f.published) for f in first)
    assert all(0 <= t < 21 * DAY for f in first for t in f.published)
    per_day = sorted(len(f.published) / 21 for f in first[:60])
    assert per_day[0] < 3
    assert per_day[-1] > 100
    silent = next(f for f in first if f.id == "silent")
    assert len([t for t in silent.published if t < 20 * DAY]) == 0
    assert len([t for t in silent.published if t < 20 * DAY + HOUR]) == 50
