"""Flights end to end: a loopback fake OpenSky (and ADS-B API) through real httpx into SQLite,
route rules evaluated on a clock the test moves, alerts in the outbox and in /status."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx

from bot.config.validate import parse_config
from bot.flights.pollers import AdsbPoller
from bot.status import gather, render_status
from bot.store import Store
from tests.fakes.adsb_api import FakeAdsbApi as FakeAdsb
from tests.fakes.opensky_api import FakeOpenSky
from tests.fakes.telegram_api import TEST_CHAT_ID, TEST_TOKEN, FakeTelegramAPI
from tests.flights import Flights, at, flight_config, route_alerts, track
from tests.helpers import Clock, fast_options, start

AT_LEAST = """
[[rules]]
id = "ben-msq"
kind = "route"
from = "BEN"
to = "MSQ"
window = "90d"
at_least = 3
channel = "main"
"""

SPIKE = """
[[rules]]
id = "surge"
kind = "route"
from = "BEN"
to = "MSQ"
window = "30d"
spike = 2.0
min_count = 3
channel = "main"
"""


def series(opensky: FakeOpenSky, *days: str, icao: str = "510123") -> None:
    """BRU8801 flights HLLB→UMMS departing at 09:00 on each day."""
    for day in days:
        opensky.add_flight(
            icao24=icao, first_seen=at(day, 9), last_seen=at(day, 13), callsign="BRU8801 "
        )


async def test_may_june_july_series_fires_once_then_again_after_falling_below(
    tmp_path: Path, store: Store, opensky_api: FakeOpenSky
) -> None:
    """at_least 3 fires when the third flight lands in the window, once; again after re-arming,
    and a restart keeps the state without repeating the alert."""
    opensky_api.credits = 10**6
    series(opensky_api, "2026-05-02", "2026-06-05", "2026-07-04")
    cfg = flight_config(opensky_api, AT_LEAST)
    clock = Clock(at("2026-07-03"))
    async with httpx.AsyncClient() as client:
        bot = Flights(store, cfg, clock, client)
        assert await bot.step(at("2026-07-03")) == 0
        assert store.route_state("ben-msq").firing is False
        assert await bot.step(at("2026-07-05")) == 1
        assert await bot.step(at("2026-07-06")) == 0
        assert await bot.step(at("2026-07-20")) == 0
        assert await bot.step(at("2026-08-01")) == 0
        assert store.route_state("ben-msq").firing is False
        series(opensky_api, "2026-08-03")
        assert await bot.step(at("2026-08-05")) == 1
    first, second = route_alerts(store)
    assert first.splitlines()[:5] == [
        "✈ BEN→MSQ: 3 flights in the last 90 days",
        "Benghazi (HLLB) → Minsk (UMMS)",
        "• 2026-05-02 BRU8801 510123",
        "• 2026-06-05 BRU8801 510123",
        "• 2026-07-04 BRU8801 510123",
    ]
    assert "at least 3 · complete coverage" in first
    assert "• 2026-08-03 BRU8801 510123" in second

    store.close()
    reopened = Store.open(tmp_path / "vedette.db")
    async with httpx.AsyncClient() as client:
        again = Flights(reopened, cfg, Clock(at("2026-08-06")), client)
        assert await again.step(at("2026-08-06")) == 0
    assert len(route_alerts(reopened)) == 2
    assert reopened.route_state("ben-msq").firing is True
    report = render_status(gather(reopened), at("2026-08-06"))
    assert "ben-msq [FIRING]: BEN→MSQ: 3 in 90 days (alerts at 3) · complete coverage" in report
    assert "sky (opensky): ok" in report
    assert "last day fetched 2026-08-05" in report
    reopened.close()


async def test_backfill_never_fires_a_partial_count(store: Store, opensky_api: FakeOpenSky) -> None:
    """While some days of the window are not fetched yet, the rule is not evaluated."""
    series(opensky_api, "2026-05-02", "2026-06-05", "2026-07-04")
    opensky_api.credits = 30 * 40  # 40 calls, then 429: the backfill stops part way
    cfg = flight_config(opensky_api, AT_LEAST)
    async with httpx.AsyncClient() as client:
        bot = Flights(store, cfg, Clock(at("2026-07-10")), client)
        outcome = await bot.sky.poll()
        assert outcome.retry_after is not None
        assert bot.routes.evaluate() == 0
    state = next(iter(store.route_states()))
    assert "not evaluated until every day was fetched once" in state["summary"]
    assert route_alerts(store) == []


async def test_spike_against_the_previous_window_with_min_count(
    store: Store, opensky_api: FakeOpenSky
) -> None:
    """4 flights after 2 fires a ×2 spike; 2 after 1 does not (min_count 3)."""
    opensky_api.credits = 10**6
    series(
        opensky_api,
        "2026-05-10",
        "2026-05-20",
        "2026-06-10",
        "2026-06-15",
        "2026-06-20",
        "2026-06-25",
    )
    cfg = flight_config(opensky_api, SPIKE)
    async with httpx.AsyncClient() as client:
        bot = Flights(store, cfg, Clock(at("2026-06-12")), client)
        assert await bot.step(at("2026-06-12")) == 0  # 2 now vs 1 before: under min_count
        assert await bot.step(at("2026-06-22")) == 0  # 3 now vs 2 before: not doubled
        assert await bot.step(at("2026-06-27")) == 1  # 4 now vs 2 before
    (alert,) = route_alerts(store)
    assert alert.startswith("✈ BEN→MSQ: 4 flights in the last 30 days, 2 in the 30 days before")
    assert "spike ×2 with at least 3" in alert


async def test_rate_limited_and_empty_days_in_the_ledger(
    store: Store, opensky_api: FakeOpenSky
) -> None:
    """A 404 day is empty (fetched); a 429 marks the day rate-limited and pauses the source."""
    opensky_api.credits = 10**6
    cfg = flight_config(opensky_api, AT_LEAST)
    async with httpx.AsyncClient() as client:
        bot = Flights(store, cfg, Clock(at("2026-07-10")), client)
        opensky_api.rate_limit(3600)
        outcome = await bot.sky.poll()
        assert outcome.retry_after == 3600
        (limited,) = store.coverage(["sky"])
        assert limited.status == "rate_limited"
        opensky_api.lift_rate_limit()
        assert await bot.step(at("2026-07-10")) == 0
    statuses = {entry.status for entry in store.coverage(["sky"])}
    assert statuses == {"empty"}
    health = store.source_health()[0]
    assert health.consecutive_failures == 0
    assert health.credits_spent > 0


async def test_adsb_sightings_become_one_flight_counted_once_with_opensky(
    store: Store, opensky_api: FakeOpenSky, adsb_api: FakeAdsb
) -> None:
    """Live sightings become one HLLB→UMMS flight; OpenSky's report of it merges into it."""
    adsb_api.routes = {"BRU8801": ("HLLB-UMMS", True)}
    opensky_api.credits = 10**6
    cfg = flight_config(opensky_api, AT_LEAST, adsb_api)
    clock = Clock(at("2026-07-04", 9))
    async with httpx.AsyncClient() as client:
        live = AdsbPoller(store, client, cfg.adsb_sources[0], clock=clock, min_interval=0.01)
        for when, lat, lon, alt in track(at("2026-07-04", 9)):
            clock.now = when
            adsb_api.now_ms = int(when.timestamp() * 1000)
            adsb_api.set_aircraft(
                [
                    {
                        "hex": "510123",
                        "flight": "BRU8801 ",
                        "lat": lat,
                        "lon": lon,
                        "alt_baro": alt,
                        "seen": 0,
                        "seen_pos": 0,
                    }
                ]
            )
            outcome = await live.poll()
            assert outcome.error is None
        (flight,) = store.flights_between(["HLLB"], ["UMMS"], at("2026-07-01"), at("2026-07-10"))
        assert (flight.icao24, flight.callsign, flight.sources) == ("510123", "BRU8801", ("live",))
        assert flight.departure == at("2026-07-04", 9)

        opensky_api.add_flight(
            icao24="510123",
            first_seen=at("2026-07-04", 9) + timedelta(minutes=25),
            last_seen=at("2026-07-04", 13),
            dep="HLLB",
            arr=None,
        )
        bot = Flights(store, cfg, clock, client)
        await bot.step(at("2026-07-06"))
    (merged,) = store.flights_between(["HLLB"], ["UMMS"], at("2026-07-01"), at("2026-07-10"))
    assert merged.sources == ("live", "sky")
    assert merged.arrival_airport == "UMMS"
    assert store.flight_count() == 1


async def test_run_once_posts_a_route_alert_to_telegram(
    tmp_path: Path, opensky_api: FakeOpenSky, telegram_api: FakeTelegramAPI
) -> None:
    """`vedette run --once` fetches OpenSky, evaluates the rule and delivers its alert."""
    opensky_api.credits = 10**6
    series(opensky_api, "2026-05-02", "2026-06-05", "2026-07-04")
    text = (
        f'[telegram]\napi_url = "{telegram_api.url}"\n\n'
        f"[channels.main]\nchat_id = {TEST_CHAT_ID}\n\n"
        '[[sources]]\nid = "sky"\nkind = "opensky"\nairports = ["BEN", "MSQ"]\n'
        f'api_url = "{opensky_api.api_url}"\nauth_url = "{opensky_api.auth_url}"\n' + AT_LEAST
    )
    cfg = parse_config(text, "test.toml")
    bot = start(
        cfg, tmp_path / "v.db", TEST_TOKEN, fast_options(once=True, clock=Clock(at("2026-07-06")))
    )
    assert await bot.finish() == 0
    (message,) = telegram_api.messages_to(TEST_CHAT_ID)
    assert message.visible_text.startswith("✈ BEN→MSQ: 3 flights in the last 90 days")
    assert "Benghazi (HLLB) → Minsk (UMMS)" in message.visible_text
    assert telegram_api.violations == []
