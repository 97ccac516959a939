"""ADS-B sightings → flights (pure: no I/O, no clock).

The leg builder, per aircraft (`icao24`):

- Sightings are de-duplicated and sorted by time, so the same sightings in any order give the
  same flights.
- A new leg starts after a silence longer than `gap`, or when the aircraft is airborne again
  after having landed in the current leg (airborne, then on the ground). A sighting without
  altitude changes neither state. The ground run between two flights stays with the earlier.
- A leg never seen off the ground is not a flight and is dropped.
- Departure time: the first sighting. Arrival time: the last sighting, when the leg ended low
  (on the ground or below `low_ft`) within `near_km` of an airport; else None.
- Airports: from the callsign's route hint when it is `plausible` and names at least two
  airports (first and last). The route database lists one direction per callsign and
  `plausible` only checks that the position lies on the path, so the pair is turned round when
  the leg's first and last positions clearly run the other way. Without a usable hint: the
  airport (with an IATA code) nearest to the first positioned low sighting before the aircraft
  is first seen above `low_ft`, and to the last positioned low sighting after it was last seen
  above it, within `near_km`. Else None.
- `quality`: `("route", "routeset" | "routeset-reversed" | "positions" | "none")` and
  `("sightings", n)`.
- Aircraft: the most frequent registration, type and owner among the leg's sightings;
  military when any sighting says so.

Counts built from these flights are lower bounds where coverage is thin: a take-off or landing
nobody heard leaves an airport None, and a turnaround unheard on the ground and shorter than
`gap` merges two flights into one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from watchers.adsb import RouteHint
from watchers.airports import airport, distance_km, nearest
from watchers.flights import Flight, Sighting, operator_of

REVERSE_MARGIN_KM = 10.0  # a hint is turned round only when positions disagree by more


def build_legs(
    sightings: Sequence[Sighting],
    *,
    routes: Mapping[str, RouteHint],
    gap: timedelta = timedelta(minutes=45),
    low_ft: int = 10000,
    near_km: float = 30.0,
    source: str,
) -> list[Flight]:
    """Flights from sightings of any number of aircraft, sorted by departure then icao24."""
    by_aircraft: dict[str, set[Sighting]] = {}
    for sighting in sightings:
        by_aircraft.setdefault(sighting.icao24, set()).add(sighting)
    flights = []
    for icao24 in sorted(by_aircraft):
        for leg in _split(sorted(by_aircraft[icao24], key=_order), gap):
            if not all(s.on_ground for s in leg):
                flights.append(_flight(leg, routes, low_ft, near_km, source))
    flights.sort(key=lambda flight: (flight.departure, flight.icao24))
    return flights


def _split(ordered: list[Sighting], gap: timedelta) -> list[list[Sighting]]:
    """Cut one aircraft's time-ordered sightings into legs (gaps; landing then airborne)."""
    legs: list[list[Sighting]] = []
    current: list[Sighting] = []
    airborne = landed = False
    for sighting in ordered:
        silent = bool(current) and sighting.seen_at - current[-1].seen_at > gap
        if silent or (landed and _airborne(sighting)):
            legs.append(current)
            current, airborne, landed = [], False, False
        current.append(sighting)
        if _airborne(sighting):
            airborne = True
        elif sighting.on_ground and airborne:
            landed = True
    if current:
        legs.append(current)
    return legs


def _flight(
    leg: list[Sighting],
    routes: Mapping[str, RouteHint],
    low_ft: int,
    near_km: float,
    source: str,
) -> Flight:
    callsign = _most_common(s.callsign for s in leg)
    start = _low_end(leg, low_ft)
    end = _low_end(reversed(leg), low_ft)
    dep_near = nearest(*start, near_km) if start is not None else None
    arr_near = nearest(*end, near_km) if end is not None else None
    hint = routes.get(callsign) if callsign else None
    dep: str | None
    arr: str | None
    if hint is not None and hint.plausible and len(hint.airports) >= 2:
        dep, arr, how = hint.airports[0], hint.airports[-1], "routeset"
        if _runs_backwards(leg, dep, arr):
            dep, arr, how = arr, dep, "routeset-reversed"
    elif dep_near is not None or arr_near is not None:
        dep = dep_near.icao if dep_near else None
        arr = arr_near.icao if arr_near else None
        how = "positions"
    else:
        dep, arr, how = None, None, "none"
    return Flight(
        icao24=leg[0].icao24,
        callsign=callsign,
        operator=operator_of(callsign),
        departure_airport=dep,
        arrival_airport=arr,
        departure=leg[0].seen_at,
        arrival=leg[-1].seen_at if arr_near is not None else None,
        source=source,
        quality=(("route", how), ("sightings", len(leg))),
        registration=_most_common(s.registration for s in leg),
        aircraft_type=_most_common(s.aircraft_type for s in leg),
        owner=_most_common(s.owner for s in leg),
        military=_military(s.military for s in leg),
    )


def _low_end(sightings: Iterable[Sighting], low_ft: int) -> tuple[float, float] | None:
    """The position of the first positioned low sighting before the first high one, or None."""
    for s in sightings:
        altitude = s.altitude_ft
        if not s.on_ground and altitude is not None and altitude >= low_ft:
            return None
        low = s.on_ground or (altitude is not None and altitude < low_ft)
        if low and s.lat is not None and s.lon is not None:
            return s.lat, s.lon
    return None


def _runs_backwards(leg: list[Sighting], first: str, last: str) -> bool:
    """True when the leg's first and last positions fit last → first clearly better."""
    points = [(s.lat, s.lon) for s in leg if s.lat is not None and s.lon is not None]
    a, b = airport(first), airport(last)
    if len(points) < 2 or a is None or b is None:
        return False
    (lat0, lon0), (lat1, lon1) = points[0], points[-1]
    straight = distance_km(lat0, lon0, a.lat, a.lon) + distance_km(lat1, lon1, b.lat, b.lon)
    swapped = distance_km(lat0, lon0, b.lat, b.lon) + distance_km(lat1, lon1, a.lat, a.lon)
    return swapped + REVERSE_MARGIN_KM < straight


def _airborne(sighting: Sighting) -> bool:
    """Known to be off the ground: not "ground" and an altitude reported."""
    return not sighting.on_ground and sighting.altitude_ft is not None


def _most_common(values: Iterable[str | None]) -> str | None:
    """The most frequent value (a callsign, a registration…; ties: the earliest seen), or
    None."""
    counts = Counter(c for c in values if c)
    return max(counts, key=counts.__getitem__) if counts else None


def _military(flags: Iterable[bool | None]) -> bool | None:
    """True if any sighting says military, False if some say not, None if none knows."""
    known = {flag for flag in flags if flag is not None}
    return (True in known) if known else None


def _order(
    s: Sighting,
) -> tuple[datetime, bool, bool, int, bool, float, bool, float, str, str, str, str, str, int]:
    """A total order on sightings: time first, then every other field."""
    return (
        s.seen_at,
        s.on_ground,
        s.altitude_ft is None,
        s.altitude_ft or 0,
        s.lat is None,
        s.lat or 0.0,
        s.lon is None,
        s.lon or 0.0,
        s.callsign or "",
        s.source,
        s.registration or "",
        s.aircraft_type or "",
        s.owner or "",
        -1 if s.military is None else int(s.military),
    )
