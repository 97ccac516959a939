"""The leg builder: ADS-B sightings of BRU8801 and friends → flights."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from watchers.adsb import RouteHint
from watchers.flights import Flight, Sighting
from watchers.legs import build_legs

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
HEX = "510123"
SOURCE = "adsb-lol"
HLLB = (32.0968, 20.2695)
UMMS = (53.8825, 28.0307)
GROUND = "ground"

Point = tuple[float, float | None, float | None, int | str | None]


def sight(
    minute: float,
    lat: float | None,
    lon: float | None,
    alt: int | str | None,
    *,
    callsign: str | None = "BRU8801",
    icao24: str = HEX,
) -> Sighting:
    """One sighting `minute` minutes after T0; `alt` "ground" means on the ground."""
    on_ground = alt == GROUND
    altitude = 0 if on_ground else alt
    assert altitude is None or isinstance(altitude, int)
    return Sighting(
        icao24, callsign, T0 + timedelta(minutes=minute), lat, lon, altitude, on_ground, "adsb-test"
    )


def track(
    points: list[Point], *, start: float = 0.0, callsign: str | None = "BRU8801", icao24: str = HEX
) -> list[Sighting]:
    """Sightings from (minute, lat, lon, alt) points, shifted by `start` minutes."""
    return [
        sight(start + m, lat, lon, alt, callsign=callsign, icao24=icao24)
        for m, lat, lon, alt in points
    ]


def cruise(
    first: float,
    last: float,
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    every: float = 10.0,
) -> list[Point]:
    """Points at FL360 every `every` minutes from `first` to `last`, flying start → end."""
    points: list[Point] = []
    steps = int((last - first) // every)
    for i in range(steps + 1):
        f = i / steps
        points.append(
            (
                first + i * every,
                start[0] + f * (end[0] - start[0]),
                start[1] + f * (end[1] - start[1]),
                36000,
            )
        )
    return points


# Benghazi → Minsk: taxi at HLLB, climb out, cruise (one fix without position, one without
# altitude), descent and landing at UMMS.
BEN_MSQ: list[Point] = [
    (0, *HLLB, GROUND),
    (3, 32.10, 20.27, GROUND),
    (8, 32.15, 20.30, 3000),
    (12, 32.40, 20.50, 12000),
    *cruise(20, 210, (33.0, 21.0), (53.0, 27.5)),
    (215, None, None, 36000),
    (218, 53.2, 27.6, None),
    (225, 53.60, 27.80, 9000),
    (235, 53.85, 28.01, 2000),
    (240, *UMMS, GROUND),
]


def ben_msq(start: float = 0.0, *, icao24: str = HEX) -> list[Sighting]:
    return track(BEN_MSQ, start=start, icao24=icao24)


def hint(*airports: str, plausible: bool = True) -> dict[str, RouteHint]:
    return {"BRU8801": RouteHint("BRU8801", airports, plausible)}


def legs_of(sightings: list[Sighting], routes: dict[str, RouteHint] | None = None) -> list[Flight]:
    return build_legs(sightings, routes=routes or {}, source=SOURCE)


def test_one_flight_via_routeset_hint() -> None:
    """The whole BEN→MSQ track is one flight HLLB→UMMS from a plausible hint."""
    [flight] = legs_of(ben_msq(), hint("HLLB", "UMMS"))
    assert flight == Flight(
        icao24=HEX,
        callsign="BRU8801",
        operator="BRU",
        departure_airport="HLLB",
        arrival_airport="UMMS",
        departure=T0,
        arrival=T0 + timedelta(minutes=240),
        source=SOURCE,
        quality=(("route", "routeset"), ("sightings", len(BEN_MSQ))),
    )


def test_vrs_direction_is_turned_round_by_positions() -> None:
    """VRS lists BRU8801 as UMMS-HLLB; a track flying north makes it HLLB→UMMS."""
    [flight] = legs_of(ben_msq(), hint("UMMS", "HLLB"))
    assert (flight.departure_airport, flight.arrival_airport) == ("HLLB", "UMMS")
    assert dict(flight.quality)["route"] == "routeset-reversed"


def test_one_flight_via_positions_without_hint() -> None:
    """Without a hint, the airports nearest the first and last low fixes are used."""
    [flight] = legs_of(ben_msq())
    assert (flight.departure_airport, flight.arrival_airport) == ("HLLB", "UMMS")
    assert (flight.departure, flight.arrival) == (T0, T0 + timedelta(minutes=240))
    assert flight.quality == (("route", "positions"), ("sightings", len(BEN_MSQ)))


def test_implausible_hint_is_ignored() -> None:
    """A hint the API calls implausible gives way to positions."""
    [flight] = legs_of(ben_msq(), hint("LTAI", "UUEE", plausible=False))
    assert (flight.departure_airport, flight.arrival_airport) == ("HLLB", "UMMS")
    assert dict(flight.quality)["route"] == "positions"


def test_hint_with_one_airport_is_ignored() -> None:
    """A hint naming a single airport is not a route."""
    [flight] = legs_of(ben_msq(), hint("UUEE"))
    assert dict(flight.quality)["route"] == "positions"


def test_hint_for_another_callsign_is_ignored() -> None:
    """Hints are looked up by the leg's callsign."""
    routes = {"BRU8802": RouteHint("BRU8802", ("LTAI", "UUEE"), True)}
    [flight] = legs_of(ben_msq(), routes)
    assert dict(flight.quality)["route"] == "positions"


def test_cruise_only_leg_takes_airports_from_the_hint() -> None:
    """Seen only at cruise: the (oriented) hint names the airports, arrival time unknown."""
    middle = track(cruise(60, 120, (40.0, 23.0), (45.0, 25.0)))
    [flight] = legs_of(middle, hint("UMMS", "HLLB"))
    assert (flight.departure_airport, flight.arrival_airport) == ("HLLB", "UMMS")
    assert flight.departure == T0 + timedelta(minutes=60)
    assert flight.arrival is None


def test_cruise_only_leg_without_hint_has_no_airports() -> None:
    """Seen only at cruise and no hint: both airports None."""
    [flight] = legs_of(track(cruise(60, 120, (40.0, 23.0), (45.0, 25.0))))
    assert (flight.departure_airport, flight.arrival_airport, flight.arrival) == (None, None, None)
    assert dict(flight.quality)["route"] == "none"


def test_unknown_positions_give_none_airports() -> None:
    """Ground, climb, cruise, landing without any position: airports and arrival None."""
    blind = track(
        [
            (0, None, None, GROUND),
            (10, None, None, 5000),
            (40, None, None, 36000),
            (80, None, None, 3000),
            (90, None, None, GROUND),
        ]
    )
    [flight] = legs_of(blind)
    assert (flight.departure_airport, flight.arrival_airport, flight.arrival) == (None, None, None)
    assert flight.quality == (("route", "none"), ("sightings", 5))


def test_hint_without_positions_keeps_its_order() -> None:
    """With no positions to check the direction, the hint is taken as listed."""
    blind = track([(0, None, None, 36000), (30, None, None, 36000)])
    [flight] = legs_of(blind, hint("UMMS", "HLLB"))
    assert (flight.departure_airport, flight.arrival_airport) == ("UMMS", "HLLB")


def test_a_gap_splits_two_legs() -> None:
    """Silence longer than `gap` starts a new leg."""
    later = track(cruise(0, 40, (50.0, 27.0), (45.0, 25.0)), start=300)
    first, second = legs_of(ben_msq() + later)
    assert (first.departure_airport, first.arrival_airport) == ("HLLB", "UMMS")
    assert second.departure == T0 + timedelta(minutes=300)
    assert (second.departure_airport, second.arrival_airport, second.arrival) == (None, None, None)


def test_gap_boundary() -> None:
    """Exactly `gap` apart stays one leg; a second more splits."""
    together = track([(0, 40.0, 23.0, 36000), (45, 42.0, 24.0, 36000)])
    assert len(legs_of(together)) == 1
    apart = [*together[:1], sight(45 + 1 / 60, 42.0, 24.0, 36000)]
    assert len(legs_of(apart)) == 2
    assert len(build_legs(apart, routes={}, gap=timedelta(hours=1), source=SOURCE)) == 1


def test_ground_airborne_ground_airborne_splits() -> None:
    """Landing at UMMS, a ground run, then airborne again: two flights."""
    turnaround = track(
        [
            (250, *UMMS, GROUND),
            (260, 53.88, 28.03, GROUND),
            (270, 53.885, 28.035, GROUND),
            (275, 53.90, 28.05, 2000),
            (285, 54.2, 28.4, 15000),
            (300, 55.0, 30.0, 36000),
        ]
    )
    first, second = legs_of(ben_msq() + turnaround)
    assert (first.departure_airport, first.arrival_airport) == ("HLLB", "UMMS")
    assert first.arrival == T0 + timedelta(minutes=270)
    assert dict(first.quality)["sightings"] == len(BEN_MSQ) + 3
    assert (second.departure_airport, second.arrival_airport) == ("UMMS", None)
    assert (second.departure, second.arrival) == (T0 + timedelta(minutes=275), None)


def test_missing_altitude_does_not_split() -> None:
    """A fix without altitude between ground fixes is neither a take-off nor a landing."""
    taxi = track([(0, *HLLB, GROUND), (2, *HLLB, None), (4, *HLLB, GROUND), (10, 32.3, 20.4, 8000)])
    assert len(legs_of(taxi)) == 1


def test_ground_only_leg_is_not_a_flight() -> None:
    """An aircraft only ever seen on the ground has not flown."""
    parked = track([(0, *HLLB, GROUND), (20, *HLLB, GROUND)])
    assert legs_of(parked) == []


def test_ending_low_far_from_airports_has_no_arrival() -> None:
    """Last seen low over the sea: no arrival airport, no arrival time."""
    ditch = track([(0, *HLLB, GROUND), (10, 32.4, 20.5, 9000), (40, 35.0, 18.0, 5000)])
    [flight] = legs_of(ditch)
    assert (flight.departure_airport, flight.arrival_airport, flight.arrival) == (
        "HLLB",
        None,
        None,
    )


def test_first_fix_at_cruise_gives_no_departure_airport() -> None:
    """First heard high: the departure airport is not guessed from a later low fix."""
    arriving = track([(0, 50.0, 26.0, 36000), (30, 53.6, 27.8, 9000), (40, *UMMS, GROUND)])
    [flight] = legs_of(arriving)
    assert (flight.departure_airport, flight.arrival_airport) == (None, "UMMS")
    assert flight.arrival == T0 + timedelta(minutes=40)


def test_callsign_is_the_most_frequent() -> None:
    """The leg's callsign is the one reported most; the operator follows from it."""
    sightings = ben_msq()
    sightings[:2] = [
        sight(0, *HLLB, GROUND, callsign=None),
        sight(3, 32.10, 20.27, GROUND, callsign="EW546PA"),
    ]
    [flight] = legs_of(sightings)
    assert (flight.callsign, flight.operator) == ("BRU8801", "BRU")


def test_no_callsign_gives_none() -> None:
    """Without any callsign, callsign and operator are None and no hint applies."""
    [flight] = legs_of(track(BEN_MSQ, callsign=None), hint("LTAI", "UUEE"))
    assert (flight.callsign, flight.operator) == (None, None)
    assert dict(flight.quality)["route"] == "positions"


def test_aircraft_are_grouped_by_icao24() -> None:
    """Two aircraft interleaved give one flight each, ordered by departure."""
    flights = legs_of(ben_msq(30, icao24="510200") + ben_msq(0))
    assert [(f.icao24, f.departure) for f in flights] == [
        (HEX, T0),
        ("510200", T0 + timedelta(minutes=30)),
    ]
    assert all((f.departure_airport, f.arrival_airport) == ("HLLB", "UMMS") for f in flights)


def test_input_order_and_duplicates_do_not_matter() -> None:
    """Shuffled, reversed or repeated sightings give the same flights."""
    sightings = ben_msq() + ben_msq(400) + ben_msq(60, icao24="510200")
    expected = legs_of(sightings)
    assert len(expected) == 3
    shuffled = list(sightings)
    random.Random(8801).shuffle(shuffled)
    assert legs_of(shuffled) == expected
    assert legs_of(sightings[::-1]) == expected
    assert legs_of(sightings + shuffled) == expected


def test_no_sightings_no_flights() -> None:
    """Nothing in, nothing out."""
    assert legs_of([]) == []
