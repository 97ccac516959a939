"""`each` route rules (DESIGN §5, §6 "Route rules"): one alert for every new flight on a route
or of a watched aircraft, from ADS-B as soon as the departure is seen and from OpenSky the
next day, the same flight from both sources one alert; through a loopback fake OpenSky and
ADS-B API into a real SQLite file, on a clock the test moves."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.config.types import ConfigError, RouteRule
from bot.config.validate import parse_config
from bot.flights.pollers import RouteEvaluator
from bot.flights.routes import render_flight
from bot.sources_report import render_sources
from bot.status import gather, render_status, status_data
from bot.store import Store
from bot.store.records import NewFlight, StoredFlight
from tests.fakes.adsb_api import FakeAdsbApi as FakeAdsb
from tests.fakes.opensky_api import FakeOpenSky
from tests.flights import Flights, at, flight_config, route_alerts, track
from tests.helpers import Clock, outbox_rows
from watchers.flights import Flight

CHANNELS = "[channels.main]\nchat_id = -1001234567890\n\n"
LIVE = '\n[[sources]]\nid = "live"\nkind = "adsb"\ncallsigns = ["BRU8801"]\n'
EACH = """
[[rules]]
id = "bru-each"
kind = "route"
from = "BEN"
to = "MSQ"
operator = "BRU"
each = true
channel = "main"
"""
WATCH = """
[[rules]]
id = "watch"
kind = "route"
each = true
icao24 = ["510207", "~0A1B2C"]
channel = "main"
"""


def fly(
    opensky: FakeOpenSky,
    day: str,
    *,
    icao24: str = "510207",
    callsign: str = "BRU8801 ",
    dep: str | None = "HLLB",
    arr: str | None = "UMMS",
    hour: int = 9,
) -> None:
    """One flight in OpenSky's lists, departing at `hour` on `day`, four hours long."""
    opensky.add_flight(
        icao24=icao24,
        first_seen=at(day, hour),
        last_seen=at(day, hour + 4),
        callsign=callsign,
        dep=dep,
        arr=arr,
    )


# -- validation ------------------------------------------------------------------------------


def rule_text(*lines: str) -> str:
    """A route rule (its `[[rules]]` on line 4, `lines` from line 7 on)."""
    return (
        CHANNELS
        + "[[rules]]\n"
        + "\n".join(['id = "r"', 'kind = "route"', *lines])
        + ('\nchannel = "main"\n')
    )


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (
            ('from = "BEN"', 'to = "MSQ"', "each = true", "at_least = 3"),
            "rules.toml:10: rules.r.at_least: does not go with each = true",
        ),
        (
            ('from = "BEN"', 'to = "MSQ"', "each = true", "spike = 2.0", "min_count = 3"),
            "rules.toml:11: rules.r.min_count: does not go with each = true",
        ),
        (
            ('from = "BEN"', 'to = "MSQ"', "each = true", 'window = "30d"'),
            "rules.toml:10: rules.r.window: does not go with each = true",
        ),
        (
            ('from = "BEN"', 'to = "MSQ"', 'window = "30d"', "at_least = 3", 'icao24 = ["510207"]'),
            "rules.toml:11: rules.r.icao24: goes with each = true only",
        ),
        (
            ("each = true", 'icao24 = ["510207", "51020Z"]'),
            'rules.toml:8: rules.r.icao24: "51020z" is not valid (like "510123")',
        ),
        (
            ("each = true", "icao24 = []"),
            "rules.toml:8: rules.r.icao24: must list aircraft",
        ),
        (
            ("each = true", 'operator = "BRU"'),
            "rules.toml:4: rules.r: each needs from and to, or icao24",
        ),
        (
            ('from = "BEN"', "each = true"),
            "rules.toml:4: rules.r.to: is missing",
        ),
        (
            ('from = "BEN"', 'to = "MSQ"', 'each = "yes"'),
            "rules.toml:9: rules.r.each: must be true or false",
        ),
        (
            ('from = "BEN"', 'to = "MSQ"', "each = true", "chart = 1"),
            "rules.toml:10: rules.r.chart: must be true or false",
        ),
        (
            ('from = "BEN"', "each = true", 'icao24 = ["510207"]', "chart = true"),
            "rules.toml:10: rules.r.chart: needs from and to",
        ),
        (
            ('from = "BEN"', 'to = "MSQ"', 'window = "30d"'),
            "rules.toml:4: rules.r: set exactly one of at_least, spike or each = true",
        ),
    ],
)
def test_each_keys_are_checked_with_file_and_line(lines: tuple[str, ...], problem: str) -> None:
    """`each` excludes thresholds and the window; `icao24` goes with `each` and holds 6 hex
    digits; an `each` rule needs a route or aircraft; `each` and `chart` are booleans."""
    with pytest.raises(ConfigError) as caught:
        parse_config(rule_text(*lines), "rules.toml")
    assert problem in str(caught.value)


def test_an_aircraft_watch_list_needs_no_route() -> None:
    """`icao24` is normalised to lower case (`~` kept: a non-ICAO address); `from` or `to`
    alone narrows it; the rule is shown by `vedette sources`."""
    cfg = parse_config(
        rule_text("each = true", 'icao24 = ["51020A", "~0A1B2C"]', 'from = "MSQ"') + LIVE,
        "rules.toml",
    )
    (rule,) = cfg.route_rules
    assert rule.each
    assert rule.icao24 == ("51020a", "~0a1b2c")
    assert (rule.origins, rule.destinations, rule.label) == (("UMMS",), (), "MSQ→any")
    assert (rule.at_least, rule.spike, rule.chart) == (None, None, False)
    bare = parse_config(rule_text("each = true", 'icao24 = ["510207"]') + LIVE, "rules.toml")
    assert bare.route_rules[0].label == "aircraft 510207"
    listed = render_sources(bare, at("2026-07-04"))
    assert (
        "r → main (-1001234567890): route aircraft 510207, each new flight of aircraft 510207"
        in (listed)
    )


# -- evaluation ------------------------------------------------------------------------------


async def test_first_evaluation_is_silent_then_each_new_flight_alerts_once(
    tmp_path: Path, store: Store, opensky_api: FakeOpenSky
) -> None:
    """What is stored when the rule starts is history; later flights alert once each, the
    day after (OpenSky's nightly lists), also after a restart, never twice."""
    opensky_api.credits = 10**6
    fly(opensky_api, "2026-07-01")
    fly(opensky_api, "2026-07-02")
    cfg = flight_config(opensky_api, EACH)
    async with httpx.AsyncClient() as client:
        bot = Flights(store, cfg, Clock(at("2026-07-04")), client, adsb_interval=0.01)
        assert await bot.step(at("2026-07-04")) == 0
        assert store.flight_count() == 2
        fly(opensky_api, "2026-07-04", hour=14)
        fly(opensky_api, "2026-07-04", icao24="510208", callsign="BRU8803", hour=18)
        assert await bot.step(at("2026-07-04", 20)) == 0  # not in OpenSky's lists before 04:00
        assert await bot.step(at("2026-07-05", 6)) == 2
        assert await bot.step(at("2026-07-06", 6)) == 0  # the day is fetched again: merged
    first, second = route_alerts(store)
    assert first.splitlines() == [
        "✈ BEN→MSQ: new flight BRU8801 (510207)",
        "Benghazi (HLLB) → Minsk (UMMS)",
        "departed 2026-07-04 14:00 UTC · arrived 18:00 UTC",
        "seen by sky",
        "each new flight · operator BRU",
        "rule bru-each",
    ]
    assert second.startswith("✈ BEN→MSQ: new flight BRU8803 (510208)")
    report = render_status(gather(store), at("2026-07-06", 6))
    assert "bru-each [each]: BEN→MSQ operator BRU: each new flight, 2 flights alerted" in report
    (line,) = status_data(gather(store), at("2026-07-06", 6))["route_rules"]
    assert line["each"] is True

    store.close()
    reopened = Store.open(tmp_path / "vedette.db")
    fly(opensky_api, "2026-07-06", hour=10)
    async with httpx.AsyncClient() as client:
        again = Flights(reopened, cfg, Clock(at("2026-07-07", 6)), client, adsb_interval=0.01)
        assert await again.step(at("2026-07-07", 6)) == 1  # the new flight only
        assert await again.step(at("2026-07-08", 6)) == 0
    assert len(route_alerts(reopened)) == 3
    assert len({row["dedup_key"] for row in outbox_rows(reopened)}) == 3
    reopened.close()


async def test_a_backfill_of_history_is_silent(store: Store, opensky_api: FakeOpenSky) -> None:
    """Flights that departed before the rule's first evaluation never alert, even when they
    are stored after it (OpenSky's backfill cut short by a rate limit, resumed later)."""
    fly(opensky_api, "2026-07-01")
    fly(opensky_api, "2026-07-02")
    fly(opensky_api, "2026-07-03")
    opensky_api.credits = 30 * 2  # two day queries, then 429
    cfg = flight_config(opensky_api, EACH)
    async with httpx.AsyncClient() as client:
        bot = Flights(store, cfg, Clock(at("2026-07-04", 6)), client, adsb_interval=0.01)
        await bot.sky.poll()
        assert bot.routes.evaluate() == 0
        opensky_api.credits = 10**6
        opensky_api.lift_rate_limit()
        assert await bot.step(at("2026-07-04", 8)) == 0
    assert store.flight_count() == 3
    assert route_alerts(store) == []


async def test_a_live_flight_alerts_at_departure_and_once_with_opensky(
    store: Store, opensky_api: FakeOpenSky, adsb_api: FakeAdsb
) -> None:
    """ADS-B: the alert comes as soon as the departure is seen (the route from the
    provider's lookup), with the aircraft the API knows; OpenSky's report of the same flight
    the next day merges into its row: no second alert. Another flight is another alert."""
    adsb_api.routes = {"BRU8801": ("HLLB-UMMS", True)}
    opensky_api.credits = 10**6
    cfg = flight_config(opensky_api, EACH, adsb_api)
    clock = Clock(at("2026-07-04", 8))
    async with httpx.AsyncClient() as client:
        bot = Flights(store, cfg, clock, client, adsb_interval=0.01)
        assert await bot.step(at("2026-07-04", 8)) == 0  # the first evaluation
        (live,) = bot.live
        added = []
        for when, lat, lon, alt in track(at("2026-07-04", 9)):
            clock.now = when
            adsb_api.now_ms = int(when.timestamp() * 1000)
            plane = {
                "hex": "510207",
                "flight": "BRU8801 ",
                "lat": lat,
                "lon": lon,
                "alt_baro": alt,
                "seen": 0,
                "seen_pos": 0,
                "r": "EW-455PA",
                "t": "B738",
            }
            adsb_api.set_aircraft([plane])
            assert (await live.poll()).error is None
            added.append(bot.routes.evaluate())
        assert added == [0, 1, 0, 0, 0, 0]  # climbing out of Benina: once
        fly(opensky_api, "2026-07-04", hour=9)  # the same flight, from OpenSky
        fly(opensky_api, "2026-07-04", icao24="510208", callsign="BRU8805", hour=19)
        assert await bot.step(at("2026-07-05", 6)) == 1  # the other flight only
    (row,) = [r for r in store.db.table("flights").rows if r["icao24"] == "510207"]
    assert row["sources"] == "live,sky"
    first, second = route_alerts(store)
    assert first.splitlines()[:3] == [
        "✈ BEN→MSQ: new flight BRU8801 (510207)",
        "Benghazi (HLLB) → Minsk (UMMS)",
        "aircraft EW-455PA B738",
    ]
    assert "seen by live" in first
    assert second.startswith("✈ BEN→MSQ: new flight BRU8805 (510208)")


def record(store: Store, when: datetime, *flights: Flight) -> None:
    """Store flights as a poll at `when` would."""
    store.record_flights(list(flights), when)


def flight(
    departure: datetime,
    *,
    icao24: str = "510207",
    callsign: str | None = "BRU8801",
    dep: str | None = "HLLB",
    arr: str | None = "UMMS",
    source: str = "sky",
) -> Flight:
    """A flight as a source reports it (operator from the callsign)."""
    operator = callsign[:3] if callsign else None
    return Flight(icao24, callsign, operator, dep, arr, departure, None, source)


def evaluator(store: Store, rules: str, clock: Clock) -> RouteEvaluator:
    """The route evaluator of a configuration with `rules` (and a live source)."""
    cfg = parse_config(CHANNELS + rules + LIVE, "rules.toml")
    return RouteEvaluator(store, cfg.route_rules, (), cfg.channels, clock=clock)


def test_a_merge_that_completes_the_route_alerts_once(store: Store) -> None:
    """A live flight stored without its arrival matches the route once a second source
    names it (its row changed, not added): one alert, and none when it changes again."""
    clock = Clock(at("2026-07-04", 8))
    routes = evaluator(store, EACH, clock)
    assert routes.evaluate() == 0
    record(store, at("2026-07-04", 9, 30), flight(at("2026-07-04", 9), arr=None, source="live"))
    clock.now = at("2026-07-04", 9, 30)
    assert routes.evaluate() == 0  # the arrival is not known yet
    record(store, at("2026-07-05", 6), flight(at("2026-07-04", 9, 20), source="sky"))
    clock.now = at("2026-07-05", 6)
    assert routes.evaluate() == 1
    record(store, at("2026-07-06", 6), flight(at("2026-07-04", 9, 25), source="sky2"))
    clock.now = at("2026-07-06", 6)
    assert routes.evaluate() == 0
    (alert,) = route_alerts(store)
    assert "seen by live, sky" in alert
    assert store.flight_count() == 1


def test_an_aircraft_watch_list_alerts_its_aircraft_on_any_route(store: Store) -> None:
    """`icao24` without a route: a watched aircraft alerts wherever it flies, even with an
    unknown airport; other aircraft never; `~` addresses match as written."""
    clock = Clock(at("2026-07-04", 8))
    routes = evaluator(store, WATCH, clock)
    assert routes.evaluate() == 0
    record(
        store,
        at("2026-07-05", 6),
        flight(at("2026-07-04", 9), dep="UMMS", arr="LTBA"),
        flight(at("2026-07-04", 10), icao24="~0a1b2c", callsign=None, dep=None, arr="HLLB"),
        flight(at("2026-07-04", 11), icao24="4b1812", dep="UMMS", arr="LTBA"),
    )
    clock.now = at("2026-07-05", 6)
    assert routes.evaluate() == 2
    first, second = route_alerts(store)
    assert first.splitlines()[:2] == [
        "✈ aircraft 510207, ~0a1b2c: new flight BRU8801 (510207)",
        "Minsk (UMMS) → Istanbul (LTBA)",
    ]
    assert second.splitlines()[:2] == [
        "✈ aircraft 510207, ~0a1b2c: new flight no callsign (~0a1b2c)",
        "unknown airport → Benghazi (HLLB)",
    ]


def test_a_watch_list_with_a_route_needs_both(store: Store) -> None:
    """`icao24` with `from` and `to`: the aircraft and the route must both hold."""
    rules = WATCH.replace("each = true", 'each = true\nfrom = "BEN"\nto = "MSQ"')
    clock = Clock(at("2026-07-04", 8))
    routes = evaluator(store, rules, clock)
    assert routes.evaluate() == 0
    record(
        store,
        at("2026-07-05", 6),
        flight(at("2026-07-04", 9)),  # watched, on the route
        flight(at("2026-07-04", 15), dep="UMMS", arr="LTBA"),  # watched, another route
        flight(at("2026-07-04", 10), icao24="4b1812"),  # the route, not watched
    )
    clock.now = at("2026-07-05", 6)
    assert routes.evaluate() == 1
    (alert,) = route_alerts(store)
    assert alert.startswith("✈ BEN→MSQ: new flight BRU8801 (510207)")
    assert "each new flight · aircraft 510207, ~0a1b2c" in alert


def test_the_operator_filter(store: Store) -> None:
    """With `operator`, a charter by another airline on the route does not alert."""
    clock = Clock(at("2026-07-04", 8))
    routes = evaluator(store, EACH, clock)
    assert routes.evaluate() == 0
    record(
        store,
        at("2026-07-05", 6),
        flight(at("2026-07-04", 9), icao24="0180a1", callsign="LYW123"),
        flight(at("2026-07-04", 12)),
    )
    clock.now = at("2026-07-05", 6)
    assert routes.evaluate() == 1
    (alert,) = route_alerts(store)
    assert "BRU8801" in alert


def test_a_rule_made_each_again_starts_silent_again(store: Store) -> None:
    """A rule that stops being `each` forgets its state: made `each` again later, its
    first evaluation is silent again (no burst of what it missed meanwhile)."""
    clock = Clock(at("2026-07-04", 8))
    assert evaluator(store, EACH, clock).evaluate() == 0
    at_least = EACH.replace("each = true", 'window = "30d"\nat_least = 5')
    assert evaluator(store, at_least, clock).evaluate() == 0
    assert store.each_rules() == set()
    record(store, at("2026-07-05", 6), flight(at("2026-07-04", 9)))
    clock.now = at("2026-07-05", 6)
    assert evaluator(store, EACH, clock).evaluate() == 0
    record(store, at("2026-07-06", 6), flight(at("2026-07-05", 9)))
    clock.now = at("2026-07-06", 6)
    assert evaluator(store, EACH, clock).evaluate() == 1


def test_each_alert_text_shows_what_is_known() -> None:
    """The alert names the route by city, the aircraft (registration, type, owner, military)
    where known, the arrival with its date when it is another day, the sources, the rule."""
    rule = RouteRule(
        "r", ("HLLB",), ("UMMS",), "BEN→MSQ", 86400.0, "main", each=True, icao24=("510207",)
    )
    stored = StoredFlight(
        "510207",
        "BRU8801",
        "HLLB",
        "UMMS",
        at("2026-07-04", 22, 5),
        ("live", "sky"),
        registration="EW-455PA",
        aircraft_type="B738",
        owner="Belavia",
        military=False,
    )
    text = render_flight(rule, NewFlight(7, stored, at("2026-07-05", 2, 10)))
    assert text.plain.splitlines() == [
        "✈ BEN→MSQ: new flight BRU8801 (510207)",
        "Benghazi (HLLB) → Minsk (UMMS)",
        "aircraft EW-455PA B738 · Belavia",
        "departed 2026-07-04 22:05 UTC · arrived 2026-07-05 02:10 UTC",
        "seen by live, sky",
        "each new flight · aircraft 510207",
        "rule r",
    ]
    assert text.html.startswith("<b>✈ BEN→MSQ: new flight BRU8801 (510207)</b>\n")
    assert "rule <code>r</code>" in text.html
    unknown = StoredFlight("43c6f1", None, "HLLB", None, at("2026-07-04", 9), ("live",))
    military = render_flight(rule, NewFlight(8, replace(unknown, military=True)))
    assert military.plain.splitlines()[1:4] == [
        "Benghazi (HLLB) → unknown airport",
        "aircraft military",
        "departed 2026-07-04 09:00 UTC",
    ]


def test_a_chart_each_rule_sends_the_route_chart_with_its_alert(store: Store) -> None:
    """`chart = true` on an `each` rule: each alert carries the route's chart (a PNG)."""
    clock = Clock(at("2026-07-04", 8))
    routes = evaluator(store, EACH.replace("each = true", "each = true\nchart = true"), clock)
    assert routes.evaluate() == 0
    record(store, at("2026-07-05", 6), flight(at("2026-07-04", 9)))
    clock.now = at("2026-07-05", 6)
    assert routes.evaluate() == 1
    (row,) = outbox_rows(store)
    assert row["photo"][:8] == b"\x89PNG\r\n\x1a\n"
    assert row["plain"].startswith("✈ BEN→MSQ: new flight BRU8801 (510207)")


def test_a_pruned_alert_does_not_let_its_flight_alert_again(store: Store) -> None:
    """The (rule, flight) match outlives the outbox row: with the shortest retention, a
    flight changed after its sent alert was pruned does not alert again."""
    clock = Clock(at("2026-07-04", 8))
    routes = evaluator(store, EACH, clock)
    assert routes.evaluate() == 0
    record(store, at("2026-07-04", 10), flight(at("2026-07-04", 9), source="live"))
    clock.now = at("2026-07-04", 10)
    assert routes.evaluate() == 1
    (row,) = outbox_rows(store)
    store.mark_sent(row["id"], at("2026-07-04", 10), message_id=1)
    pruned = store.prune(at("2026-07-06", 6), timedelta(days=1), timedelta(days=30))
    assert (pruned.alerts, outbox_rows(store)) == (1, [])
    record(store, at("2026-07-06", 6), flight(at("2026-07-04", 9, 20), source="sky"))
    clock.now = at("2026-07-06", 6)
    assert routes.evaluate() == 0
    assert outbox_rows(store) == []


def test_a_watch_list_without_any_flight_source_is_warned_about() -> None:
    """Aircraft can be seen by any flight source; with none at all the rule is a warning."""
    feed = '\n[[sources]]\nid = "news"\nkind = "rss"\nurl = "https://example.org/feed.xml"\n'
    cfg = parse_config(rule_text("each = true", 'icao24 = ["510207"]') + feed, "rules.toml")
    unseen = "rules.toml: rules.r: no flight source: no flight of these aircraft will be seen"
    assert unseen in cfg.warnings
    watched = parse_config(rule_text("each = true", 'icao24 = ["510207"]') + LIVE, "rules.toml")
    assert [w for w in watched.warnings if "rules.r" in w] == []
