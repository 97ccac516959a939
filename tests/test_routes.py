"""Route rules: which OpenSky days are due, coverage (counted in SQLite, checked against a
reference count in Python), firing and re-arming, the alert."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.config.types import OpenSkySource, RouteRule
from bot.flights.plan import (
    DIRECTIONS,
    FETCHED,
    Coverage,
    DayQuery,
    coverage_of,
    due_queries,
    last_available_day,
    rule_days,
    watched_airports,
)
from bot.flights.routes import decide, holds, render_route
from bot.store import Store
from bot.store.records import CoverageEntry, StoredFlight
from tests.fakes.telegram_api import parse_html
from watchers.flights import Flight

SKY = OpenSkySource("sky", ("HLLB", "UMMS"), 3600.0, 3, history_days=3)
NOW = datetime(2026, 7, 10, 12, 0, tzinfo=UTC)
AT_LEAST = RouteRule("ben-msq", ("HLLB",), ("UMMS",), "BEN→MSQ", 30 * 86400, "main", at_least=3)
SPIKE = RouteRule(
    "surge", ("HLLB",), ("UMMS",), "BEN→MSQ", 30 * 86400, "main", spike=2.0, min_count=3
)


def entry(
    airport: str,
    direction: str,
    day: date,
    status: str = "ok",
    fetches: int = 1,
    fetched_at: datetime = NOW,
) -> CoverageEntry:
    """A ledger row of the source `sky`."""
    return CoverageEntry("sky", airport, direction, day, status, fetches, fetched_at)


def ledger_coverage(
    rule: RouteRule, sources: Sequence[OpenSkySource], ledger: Iterable[CoverageEntry]
) -> Coverage:
    """The reference: a rule's coverage at NOW counted from ledger rows in Python (the bot
    counts them in SQLite with `Store.coverage_days`)."""
    watched = watched_airports(rule, sources)
    wanted = set(watched)
    counts: dict[date, tuple[int, int]] = {}
    for e in {(e.source_id, e.airport, e.direction, e.day): e for e in ledger}.values():
        if (e.source_id, e.airport) in wanted and e.direction in DIRECTIONS:
            rows, bad = counts.get(e.day, (0, 0))
            counts[e.day] = (rows + 1, bad + (e.status not in FETCHED))
    return coverage_of(rule_days(rule, NOW), watched, counts)


def stored_coverage(
    store: Store, rule: RouteRule, sources: Sequence[OpenSkySource], ledger: Iterable[CoverageEntry]
) -> Coverage:
    """A rule's coverage at NOW as the route evaluator computes it: `ledger` written to the
    store, the days counted in SQLite."""
    for e in ledger:
        store.record_day(e.source_id, e.airport, e.direction, e.day, e.status, NOW)
    watched = watched_airports(rule, sources)
    days = rule_days(rule, NOW)
    return coverage_of(days, watched, store.coverage_days(watched, days[0], days[-1]))


def test_last_available_day_waits_for_the_nightly_batch() -> None:
    """Yesterday is available from 04:00 UTC; before that, the day before yesterday."""
    assert last_available_day(datetime(2026, 7, 10, 5, 0, tzinfo=UTC)) == date(2026, 7, 9)
    assert last_available_day(datetime(2026, 7, 10, 3, 0, tzinfo=UTC)) == date(2026, 7, 8)


def test_backfill_asks_every_missing_day_newest_first() -> None:
    """With an empty ledger every day of the history is due, newest first, both directions."""
    due = due_queries(SKY, [], NOW)
    assert len(due) == 3 * 2 * 2
    assert due[0] == DayQuery("HLLB", "departure", date(2026, 7, 9))
    assert due[-1] == DayQuery("UMMS", "arrival", date(2026, 7, 7))


def test_fetched_days_are_not_due_but_failed_and_rate_limited_are() -> None:
    """ok and empty days are done; failed and rate-limited days are asked again."""
    ledger = [
        entry(a, d, date(2026, 7, 7) + timedelta(days=n), fetched_at=NOW)
        for a in SKY.airports
        for d in ("departure", "arrival")
        for n in range(3)
    ]
    ledger[0] = entry("HLLB", "departure", date(2026, 7, 7), "failed")
    ledger[1] = entry("HLLB", "departure", date(2026, 7, 8), "rate_limited")
    ledger[2] = entry("HLLB", "departure", date(2026, 7, 9), "empty")
    assert due_queries(SKY, ledger, NOW) == [
        DayQuery("HLLB", "departure", date(2026, 7, 8)),
        DayQuery("HLLB", "departure", date(2026, 7, 7)),
    ]


def test_a_day_is_fetched_once_more_a_day_later() -> None:
    """A day fetched once as soon as it appeared is fetched again when it is two days old."""
    day = date(2026, 7, 8)
    first_fetch = datetime(2026, 7, 9, 5, 0, tzinfo=UTC)
    ledger = [
        entry(a, d, day + timedelta(days=n), fetched_at=first_fetch)
        for a in SKY.airports
        for d in ("departure", "arrival")
        for n in (-1, 0, 1)
    ]
    rechecks = [q for q in due_queries(SKY, ledger, NOW) if q.day == day]
    assert len(rechecks) == 4
    again = [entry(q.airport, q.direction, q.day, fetches=2, fetched_at=NOW) for q in rechecks] + [
        e for e in ledger if e.day != day
    ]
    assert [q for q in due_queries(SKY, again, NOW) if q.day == day] == []


def test_coverage_not_ready_until_every_day_was_attempted(store: Store) -> None:
    """Missing days block evaluation; failed days are gaps; all fetched is complete."""
    days = [last_available_day(NOW) - timedelta(days=n) for n in range(31)]
    full = [
        entry(a, d, day) for day in days for a in SKY.airports for d in ("departure", "arrival")
    ]
    assert stored_coverage(store, AT_LEAST, [SKY], full[4:]).ready is False
    assert stored_coverage(store, AT_LEAST, [SKY], full[:4]).complete
    oldest = days[-2]  # the window's first day (days[-1] is just outside it)
    coverage = stored_coverage(store, AT_LEAST, [SKY], [entry("UMMS", "arrival", oldest, "failed")])
    assert coverage.ready
    assert not coverage.complete
    assert coverage.gaps == (oldest,)
    assert "1 day failed" in coverage.describe()


def test_live_only_routes_are_evaluated_but_incomplete() -> None:
    """With no OpenSky source on the airports the rule runs, saying coverage is unknown."""
    coverage = coverage_of(rule_days(AT_LEAST, NOW), watched_airports(AT_LEAST, []), {})
    assert coverage.ready
    assert not coverage.complete
    assert "live ADS-B only" in coverage.describe()


@pytest.mark.parametrize(
    ("counts", "fires"),
    [
        ([1, 2, 3, 4, 3, 2, 3], [False, False, True, False, False, False, True]),
        ([3, 3, 0, 5], [True, False, False, True]),
    ],
)
def test_at_least_fires_on_reaching_and_rearms_below(counts: list[int], fires: list[bool]) -> None:
    """Fire when the count first reaches the value; again only after it fell below."""
    firing, seen = False, []
    for count in counts:
        decision = decide(AT_LEAST, count, None, firing)
        seen.append(decision.fire)
        firing = decision.firing
    assert seen == fires


@pytest.mark.parametrize(
    ("count", "previous", "expected"),
    [(4, 2, True), (3, 1, True), (2, 1, False), (5, 3, False), (3, 0, True), (2, 0, False)],
)
def test_spike_needs_the_ratio_and_the_minimum(count: int, previous: int, expected: bool) -> None:
    """count ≥ spike × previous and count ≥ min_count."""
    assert holds(SPIKE, count, previous) is expected


def test_route_alert_names_route_cities_count_and_flights() -> None:
    """The alert has both codes and cities, the count and window, each flight; valid HTML."""
    flights = [
        StoredFlight(
            "510123", "BRU8801", "HLLB", "UMMS", datetime(2026, 5, 2, 9, tzinfo=UTC), ("sky",)
        ),
        StoredFlight("510124", None, "HLLB", "UMMS", datetime(2026, 6, 5, 9, tzinfo=UTC), ("sky",)),
    ]
    coverage = coverage_of(rule_days(AT_LEAST, NOW), [], {})
    rendered = render_route(AT_LEAST, flights, None, coverage)
    assert rendered.plain.splitlines()[:4] == [
        "✈ BEN→MSQ: 2 flights in the last 30 days",
        "Benghazi (HLLB) → Minsk (UMMS)",
        "• 2026-05-02 BRU8801 510123",
        "• 2026-06-05 no callsign 510124",
    ]
    assert "incomplete coverage" in rendered.plain
    assert parse_html(rendered.html).text == rendered.plain


def test_counts_in_sqlite_agree_with_the_ledger_and_the_flights(store: Store) -> None:
    """What the evaluator counts in SQLite (coverage days, flights) is what the ledger rows
    and `flights_between` say: missing days, failed and rate-limited gaps, other sources and
    airports left out; operators filtered."""
    other = OpenSkySource("other", ("UMMS", "EPWA"), 3600.0, 3, history_days=3)
    days = [last_available_day(NOW) - timedelta(days=n) for n in range(62)]
    ledger = [
        CoverageEntry(source, airport, direction, day, "ok", 1, NOW)
        for source, airports in (("sky", ("HLLB", "UMMS", "EPWA")), ("other", ("UMMS", "EPWA")))
        for airport in airports
        for direction in ("departure", "arrival")
        for day in days
        if not (source == "sky" and airport == "UMMS" and direction == "arrival" and day == days[3])
    ]
    failed = {days[5]: "failed", days[40]: "rate_limited", days[9]: "empty"}
    ledger = [
        CoverageEntry(e.source_id, e.airport, e.direction, e.day, failed[e.day], 1, NOW)
        if e.day in failed and e.airport == "HLLB" and e.direction == "departure"
        else e
        for e in ledger
    ]
    for e in ledger:
        store.record_day(e.source_id, e.airport, e.direction, e.day, e.status, NOW)
    departures = [NOW - timedelta(days=n, hours=1) for n in range(0, 70, 3)]
    store.record_flights(
        [
            Flight(f"51{n:04x}", cs, cs[:3], "HLLB", "UMMS", when, None, "sky")
            for n, when in enumerate(departures)
            for cs in (["BRU8802", "AFL1"][n % 2],)
        ],
        NOW,
    )
    for rule in (AT_LEAST, SPIKE):
        watched = watched_airports(rule, [SKY, other])
        span = rule_days(rule, NOW)
        counted = store.coverage_days(watched, span[0], span[-1])
        from_sql = coverage_of(span, watched, counted)
        assert from_sql == ledger_coverage(rule, [SKY, other], ledger)
        assert from_sql.missing == (days[3],)
        assert set(from_sql.gaps) == {days[5], days[40]} & set(span)
    for operator in (None, "BRU", "XYZ"):
        start, end = NOW - timedelta(days=30), NOW
        listed = store.flights_between(["HLLB"], ["UMMS"], start, end, operator)
        assert store.count_flights_between(["HLLB"], ["UMMS"], start, end, operator) == len(listed)
        assert len(listed) == {None: 10, "BRU": 5, "XYZ": 0}[operator]


def test_the_ledger_knows_which_failed_days_were_attempted_only_once(store: Store) -> None:
    """`Store.unretried_days`: days with a failed or rate-limited row fetched once; a second
    attempt (failed again or not) or a later success takes the day off the list."""
    days = rule_days(AT_LEAST, NOW)
    watched = watched_airports(AT_LEAST, [SKY])
    failed, limited, other = days[3], days[7], days[9]
    store.record_day("sky", "UMMS", "arrival", failed, "failed", NOW)
    store.record_day("sky", "HLLB", "departure", limited, "rate_limited", NOW)
    store.record_day("sky", "HLLB", "departure", other, "ok", NOW)
    store.record_day("other", "HLLB", "departure", other, "failed", NOW)  # not watched
    assert store.unretried_days(watched, days[0], days[-1]) == {failed, limited}
    assert store.unretried_days(watched, days[0], days[5]) == {failed}
    store.record_day("sky", "UMMS", "arrival", failed, "failed", NOW)
    store.record_day("sky", "HLLB", "departure", limited, "ok", NOW)
    assert store.unretried_days(watched, days[0], days[-1]) == set()
    assert store.coverage_days(watched, failed, failed) == {failed: (1, 1)}


def test_coverage_waits_for_the_retry_of_each_failed_day() -> None:
    """`retrying` days (failed once) keep a rule from being evaluated and say so; once
    retried they are plain gaps."""
    days = [date(2026, 7, 1) + timedelta(days=n) for n in range(3)]
    watched = [("sky", "HLLB")]
    counts = dict.fromkeys(days, (2, 0)) | {days[1]: (2, 1)}
    waiting = coverage_of(days, watched, counts, {days[1]})
    assert (waiting.ready, waiting.complete, waiting.gaps) == (False, False, (days[1],))
    assert waiting.retrying == (days[1],)
    assert waiting.describe() == "incomplete coverage: 1 failed day to fetch again (2026-07-02)"
    retried = coverage_of(days, watched, counts, set())
    assert (retried.ready, retried.retrying) == (True, ())
    assert retried.describe() == "incomplete coverage: 1 day failed (2026-07-02)"


def test_first_retries_come_first_and_a_retried_day_still_gets_its_recheck() -> None:
    """A day that failed at its only attempt is asked before every other due day; a day
    that needed that retry is still fetched once more a day later for late data."""
    day = date(2026, 7, 8)
    first_fetch = datetime(2026, 7, 9, 5, 0, tzinfo=UTC)
    ledger = [entry(a, d, day - timedelta(days=1)) for a in SKY.airports for d in DIRECTIONS]
    ledger.append(entry("UMMS", "arrival", day - timedelta(days=1), "failed"))
    due = due_queries(SKY, ledger, NOW)
    assert due[0] == DayQuery("UMMS", "arrival", day - timedelta(days=1))
    assert due[1] == DayQuery("HLLB", "departure", date(2026, 7, 9))
    retried = [
        entry(a, d, day, fetches=2, fetched_at=first_fetch)
        for a in SKY.airports
        for d in DIRECTIONS
    ]
    rechecks = [q for q in due_queries(SKY, retried, NOW) if q.day == day]
    assert len(rechecks) == 4
