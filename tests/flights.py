"""The flight half of vedette stepped by hand, shared by the route tests: an OpenSky source on
HLLB and UMMS (and an ADS-B source) against the loopback fakes, the pollers and the route rules
on a clock the test moves, and a live track from Benina to Minsk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from bot.config.types import Config
from bot.config.validate import parse_config
from bot.flights.pollers import AdsbPoller, OpenSkyPoller, RouteEvaluator
from bot.store import Store
from bot.store.records import PollOutcome
from tests.fakes.adsb_api import FakeAdsbApi
from tests.fakes.opensky_api import FakeOpenSky
from tests.helpers import Clock, outbox_rows

HLLB = (32.0968, 20.2695)
UMMS = (53.8825, 28.0307)


def at(day: str, hour: int = 12, minute: int = 0) -> datetime:
    """A UTC moment on an ISO day."""
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


def flight_config(
    opensky: FakeOpenSky,
    rules: str,
    adsb: FakeAdsbApi | None = None,
    *,
    chat_id: int = -1001234567890,
) -> Config:
    """An OpenSky source on HLLB and UMMS (and an ADS-B source on BRU8801), plus `rules`."""
    text = (
        f"[channels.main]\nchat_id = {chat_id}\n\n"
        '[[sources]]\nid = "sky"\nkind = "opensky"\nairports = ["HLLB", "UMMS"]\n'
        f'lookback = "3d"\napi_url = "{opensky.api_url}"\nauth_url = "{opensky.auth_url}"\n\n'
    )
    if adsb is not None:
        text += (
            f'[[sources]]\nid = "live"\nkind = "adsb"\napi_url = "{adsb.api_url}"\n'
            'callsigns = ["BRU8801"]\nevery = "1m"\n\n'
        )
    return parse_config(text + rules, "test.toml")


class Flights:
    """The flight half of a running vedette: its pollers and route rules, stepped by hand.
    `adsb_interval` paces the ADS-B requests (the client's `min_interval`)."""

    def __init__(
        self,
        store: Store,
        cfg: Config,
        clock: Clock,
        client: httpx.AsyncClient,
        *,
        adsb_interval: float = 1.0,
    ) -> None:
        self.clock = clock
        self.sky = OpenSkyPoller(
            store, client, cfg.opensky_sources[0], credentials=None, clock=clock
        )
        self.live = [
            AdsbPoller(store, client, source, clock=clock, min_interval=adsb_interval)
            for source in cfg.adsb_sources
        ]
        self.routes = RouteEvaluator(
            store, cfg.route_rules, cfg.opensky_sources, cfg.channels, clock=clock
        )

    async def poll(self, when: datetime) -> PollOutcome:
        """Move the clock and poll OpenSky once (every due day)."""
        self.clock.now = when
        return await self.sky.poll()

    async def step(self, when: datetime, *, failing: bool = False) -> int:
        """`poll`, asserting it failed exactly when `failing` (some days' fetches fail), then
        evaluate the rules: the number of alerts queued."""
        outcome = await self.poll(when)
        assert (outcome.error is not None) is failing, outcome.error
        return self.routes.evaluate()


def route_alerts(store: Store) -> list[str]:
    """The plain text of every route alert in the outbox, oldest first."""
    return [row["plain"] for row in outbox_rows(store) if row["source_id"] == "routes"]


def track(start: datetime) -> list[tuple[datetime, float, float, int | str]]:
    """BRU8801 from Benina (on the ground, climbing) to Minsk (descending, on the ground),
    a point every 40 minutes from `start`: (time, latitude, longitude, altitude)."""
    points: list[tuple[float, float, int | str]] = [
        (*HLLB, "ground"),
        (32.15, 20.30, 3500),
        (36.0, 22.0, 35000),
        (45.0, 25.0, 37000),
        (53.70, 27.95, 6000),
        (*UMMS, "ground"),
    ]
    return [(start + timedelta(minutes=40 * n), *p) for n, p in enumerate(points)]
