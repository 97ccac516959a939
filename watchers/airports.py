"""Airport reference data: IATA↔ICAO codes, names, coordinates, and the nearest airport.

Wraps the `airportsdata` package (pinned: closed airports disappear from it, and it keeps no
history). The table is read once, on first use. `nearest` only considers airports that have
an IATA code, which leaves out private strips and heliports.
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass

import airportsdata

EARTH_RADIUS_KM = 6371.0088
_KM_PER_DEGREE_LAT = math.pi * EARTH_RADIUS_KM / 180.0


@dataclass(frozen=True, slots=True)
class Airport:
    """One airport. `iata` is "" when the airport has no IATA code; `country` is ISO alpha-2."""

    icao: str
    iata: str
    name: str
    city: str
    country: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class _Index:
    by_icao: dict[str, Airport]
    by_iata: dict[str, Airport]
    served: tuple[Airport, ...]  # airports with an IATA code, sorted by latitude
    served_lats: tuple[float, ...]


def resolve(code: str) -> Airport | None:
    """The airport for a 4-character ICAO or 3-letter IATA code (any case), or None."""
    text = code.strip().upper()
    if len(text) == 4:
        return _index().by_icao.get(text)
    if len(text) == 3:
        return _index().by_iata.get(text)
    return None


def airport(icao: str) -> Airport | None:
    """The airport with this ICAO code (any case), or None."""
    return _index().by_icao.get(icao.strip().upper())


def nearest(lat: float, lon: float, within_km: float) -> Airport | None:
    """The nearest airport with an IATA code at most `within_km` away, or None.

    Only airports inside the latitude band `lat ± within_km` are measured, so a call costs a
    few dozen distance computations for radii of tens of kilometres.
    """
    if not (math.isfinite(lat) and math.isfinite(lon) and within_km >= 0):
        return None
    index = _index()
    band = within_km / _KM_PER_DEGREE_LAT
    low = bisect.bisect_left(index.served_lats, lat - band)
    high = bisect.bisect_right(index.served_lats, lat + band)
    best: Airport | None = None
    best_km = within_km
    for candidate in index.served[low:high]:
        km = distance_km(lat, lon, candidate.lat, candidate.lon)
        if km <= best_km:
            best, best_km = candidate, km
    return best


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres (haversine, mean Earth radius)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@functools.cache
def _index() -> _Index:
    """Read `airportsdata` once and build the lookups."""
    by_icao: dict[str, Airport] = {}
    for code, row in airportsdata.load("ICAO").items():
        by_icao[code.upper()] = Airport(
            icao=code.upper(),
            iata=row["iata"].upper(),
            name=row["name"],
            city=row["city"],
            country=row["country"],
            lat=float(row["lat"]),
            lon=float(row["lon"]),
        )
    by_iata = {entry.iata: entry for entry in by_icao.values() if entry.iata}
    served = tuple(sorted(by_iata.values(), key=lambda entry: (entry.lat, entry.icao)))
    return _Index(by_icao, by_iata, served, tuple(entry.lat for entry in served))
