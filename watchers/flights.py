"""The one flight record every flight source yields, and the helpers that normalise it.

OpenSky reports whole flights; ADS-B aggregators report live sightings that
`watchers.legs` turns into flights. Either way the bot stores `Flight`s, and the same flight
seen by two sources or two polls is stored once (icao24 + departure within 90 minutes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

_HEX = re.compile(r"^~?[0-9a-f]{6}$")
_OPERATOR = re.compile(r"^([A-Z]{3})\d")


@dataclass(frozen=True, slots=True)
class Flight:
    """One flight, normalised.

    `icao24`: lower-case hex (a leading `~` marks a non-ICAO address). `callsign`: trimmed,
    upper-case, or None. `operator`: the ICAO airline designator from the callsign prefix
    (`BRU8801` → `BRU`), or None. Airports are ICAO codes or None when the source could not
    tell. Times are aware UTC datetimes; `departure` is always known (OpenSky's `firstSeen`,
    or the first sighting), `arrival` may not be. `quality` holds what the source says about
    its own certainty, e.g. `("dep_horiz_distance_m", 1200)`, `("arr_candidates", 3)`.
    `registration`, `aircraft_type` (ICAO type code), `owner` (owner or operator name) and
    `military` describe the aircraft where a source or an aircraft database knows them
    (None: unknown).
    """

    icao24: str
    callsign: str | None
    operator: str | None
    departure_airport: str | None
    arrival_airport: str | None
    departure: datetime
    arrival: datetime | None
    source: str
    quality: tuple[tuple[str, int | float | str | None], ...] = field(default=())
    registration: str | None = None
    aircraft_type: str | None = None
    owner: str | None = None
    military: bool | None = None


@dataclass(frozen=True, slots=True)
class Sighting:
    """One aircraft in one live snapshot of an ADS-B aggregator.

    `altitude_ft` is barometric feet, 0 when the aircraft reports "ground", None when
    unknown; `on_ground` is True for "ground". Position may be unknown (None). The aircraft
    fields are what the aggregator's database says (`r`, `t`, `ownOp`, `dbFlags & 1`).
    """

    icao24: str
    callsign: str | None
    seen_at: datetime
    lat: float | None
    lon: float | None
    altitude_ft: int | None
    on_ground: bool
    source: str
    registration: str | None = None
    aircraft_type: str | None = None
    owner: str | None = None
    military: bool | None = None


@dataclass(frozen=True, slots=True)
class Aircraft:
    """What an aircraft database knows of one aircraft (None: unknown)."""

    registration: str | None = None
    aircraft_type: str | None = None
    owner: str | None = None
    military: bool | None = None


def with_aircraft(flight: Flight, known: Aircraft | None) -> Flight:
    """`flight` with its unknown aircraft fields filled from `known` (known ones are kept)."""
    if known is None:
        return flight
    return replace(
        flight,
        registration=flight.registration or known.registration,
        aircraft_type=flight.aircraft_type or known.aircraft_type,
        owner=flight.owner or known.owner,
        military=flight.military if flight.military is not None else known.military,
    )


def normal_text(value: object) -> str | None:
    """A database string trimmed, or None when it is missing or blank."""
    if not isinstance(value, str):
        return None
    return value.strip() or None


def normal_icao24(value: object) -> str | None:
    """`value` as lower-case hex with an optional leading `~`, or None if it is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    return text if _HEX.match(text) else None


def normal_callsign(value: object) -> str | None:
    """A callsign trimmed and upper-cased (OpenSky and readsb pad to 8), or None."""
    if not isinstance(value, str):
        return None
    text = value.strip().upper()
    return text or None


def operator_of(callsign: str | None) -> str | None:
    """The ICAO airline designator of a callsign (`BRU8801` → `BRU`), or None."""
    if not callsign:
        return None
    match = _OPERATOR.match(callsign)
    return match.group(1) if match else None


def normal_airport(value: object) -> str | None:
    """An ICAO airport code upper-cased, or None (OpenSky sends null for unknown)."""
    if not isinstance(value, str):
        return None
    text = value.strip().upper()
    return text if re.match(r"^[A-Z0-9]{4}$", text) else None
