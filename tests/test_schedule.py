"""Poll scheduling: jitter, exponential backoff with a cap, Retry-After as a floor."""

from __future__ import annotations

import random

import pytest

from watchers.schedule import backoff, capped_retry_after, first_delay, next_delay

SEEDS = range(200)


def delays(every: float, failures: int, retry_after: float | None = None) -> list[float]:
    """next_delay for many seeded generators."""
    return [
        next_delay(every, failures, retry_after=retry_after, rng=random.Random(seed))
        for seed in SEEDS
    ]


def test_success_waits_every_with_ten_percent_jitter() -> None:
    """After a success the delay is `every` ± 10%, and it does vary."""
    values = delays(300, 0)
    assert all(270 <= v <= 330 for v in values)
    assert len(set(values)) > 100


@pytest.mark.parametrize(("failures", "base"), [(1, 60), (2, 120), (3, 240), (4, 480)])
def test_failures_double_the_delay(failures: int, base: float) -> None:
    """Each consecutive failure doubles the delay (± 20% jitter)."""
    assert all(0.8 * base <= v <= 1.2 * base for v in delays(60, failures))


def test_backoff_is_capped_at_one_hour() -> None:
    """Backoff stops growing at one hour, however many failures."""
    for failures in (7, 20, 10_000):
        assert all(0.8 * 3600 <= v <= 1.2 * 3600 for v in delays(60, failures))


def test_backoff_cap_is_never_below_every() -> None:
    """A source polled every 6 h backs off at its own interval, not less."""
    assert all(0.8 * 21600 <= v <= 1.2 * 21600 for v in delays(21600, 5))


def test_retry_after_is_a_floor() -> None:
    """Retry-After longer than the backoff wins; shorter does not shorten the backoff."""
    assert delays(60, 1, retry_after=900) == [900.0] * len(SEEDS)
    assert all(48 <= v <= 72 for v in delays(60, 1, retry_after=5))


def test_retry_after_is_capped_at_a_day() -> None:
    """A Retry-After beyond 24 h waits 24 h."""
    assert delays(60, 1, retry_after=10 * 86400) == [86400.0] * len(SEEDS)


def test_negative_retry_after_is_ignored() -> None:
    """A negative Retry-After counts as zero."""
    assert all(48 <= v <= 72 for v in delays(60, 1, retry_after=-100))


def test_same_seed_same_delay() -> None:
    """The schedule is deterministic for a seeded generator."""
    assert delays(60, 3) == delays(60, 3)


def test_first_delay_spreads_sources_over_ten_seconds() -> None:
    """The first poll starts within min(every, 10 s), spread out."""
    values = [first_delay(300, random.Random(seed)) for seed in SEEDS]
    assert all(0 <= v < 10 for v in values)
    assert max(values) - min(values) > 5
    assert all(0 <= first_delay(1, random.Random(seed)) < 1 for seed in SEEDS)


def test_every_must_be_positive() -> None:
    """A zero or negative interval is a programming error."""
    with pytest.raises(ValueError, match="every must be positive"):
        next_delay(0, 0, retry_after=None, rng=random.Random(1))


def test_backoff_doubles_from_base_up_to_cap_without_jitter() -> None:
    """The one backoff formula: base, 2×, 4×, … then the cap, for any number of attempts."""
    expected = [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0, 300.0]
    assert [backoff(n, 2.0, 300.0) for n in range(1, 11)] == expected
    assert backoff(10**9, 2.0, 300.0) == 300.0


def test_backoff_jitter_stays_within_its_band_and_needs_a_generator() -> None:
    """±20% around the capped value, drawn from the generator given; none given is a bug."""
    values = [backoff(3, 10.0, 300.0, jitter=0.2, rng=random.Random(s)) for s in SEEDS]
    assert all(32 <= v <= 48 for v in values)
    assert len(set(values)) > 100
    with pytest.raises(ValueError, match="rng"):
        backoff(3, 10.0, 300.0, jitter=0.2)
    with pytest.raises(ValueError, match="attempt"):
        backoff(0, 10.0, 300.0)


def test_a_retry_after_wait_is_between_zero_and_a_day() -> None:
    """What a server asks for, within [0, 24 h]."""
    asked = (-5.0, 0.0, 90.0, 10 * 86400.0)
    assert [capped_retry_after(seconds) for seconds in asked] == [0.0, 0.0, 90.0, 86400.0]
