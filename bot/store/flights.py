"""Flights and the coverage ledger: stored flights, the days fetched, sightings, route state.

A mixin of `bot.store.Store` (see `bot.store.base` for the connection and transactions).

- **Flights** are stored once: a flight whose icao24 matches a stored one departing within
  90 minutes is the same flight. Known values are never overwritten by unknown ones
  (a null airport from one source does not erase another source's airport).
- **Coverage**: one row per (source, airport, direction, UTC day) fetched, with its status:
  `ok` (flights), `empty` (OpenSky's 404), `failed`, or `rate_limited` (never "empty").
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.store.base import placeholders
from bot.store.outbox import enqueue
from bot.store.records import (
    CoverageEntry,
    FlightProgress,
    NewAlert,
    RouteState,
    StoredFlight,
)
from bot.timeutil import from_iso, iso
from watchers.flights import Aircraft, Flight, Sighting

if TYPE_CHECKING:
    from bot.store.base import StoreBase
else:
    StoreBase = object

SAME_FLIGHT_SECONDS = 90 * 60
COVERAGE_STATES = ("ok", "empty", "failed", "rate_limited")  # what `record_day` accepts
_FETCHED = "('ok', 'empty')"  # the states of a day that was fetched (SQL)


_AIRCRAFT = "registration, aircraft_type, owner, military"  # m010's columns, in this order
_PROGRESS = "progress:"  # meta keys `progress:SOURCE:backfill` and `progress:SOURCE:next_attempt`


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _on_route(
    origins: Collection[str],
    destinations: Collection[str],
    start: datetime,
    end: datetime,
    operator: str | None,
) -> tuple[str, list[Any]]:
    """The WHERE clause and its values for flights from `origins` to `destinations`
    departing in [start, end) (of `operator`, if given)."""
    where = (
        f"departure_airport IN ({placeholders(len(origins))}) "
        f"AND arrival_airport IN ({placeholders(len(destinations))}) "
        "AND departure >= ? AND departure < ?"
    )
    params: list[Any] = [*origins, *destinations, _epoch(start), _epoch(end)]
    if operator:
        where += " AND operator = ?"
        params.append(operator)
    return where, params


class FlightRecords(StoreBase):
    """Flights, the coverage ledger, sightings and route state; mixed into `bot.store.Store`."""

    def record_flights(self, flights: Sequence[Flight], now: datetime) -> int:
        """Store flights, merging each with the same stored flight; returns how many are new."""
        added = 0
        with self._write() as conn:
            for flight in flights:
                added += _upsert(conn, flight, iso(now))
        return added

    def flights_between(
        self,
        origins: Collection[str],
        destinations: Collection[str],
        start: datetime,
        end: datetime,
        operator: str | None = None,
    ) -> list[StoredFlight]:
        """Distinct flights from `origins` to `destinations` departing in [start, end)."""
        where, params = _on_route(origins, destinations, start, end, operator)
        rows = self._rows(
            "SELECT icao24, callsign, departure_airport, arrival_airport, departure, sources, "
            f"{_AIRCRAFT} FROM flights WHERE {where} ORDER BY departure",
            params,
        )
        return [
            StoredFlight(
                icao24=row["icao24"],
                callsign=row["callsign"],
                departure_airport=row["departure_airport"],
                arrival_airport=row["arrival_airport"],
                departure=_moment(row["departure"]),
                sources=tuple(row["sources"].split(",")),
                registration=row["registration"],
                aircraft_type=row["aircraft_type"],
                owner=row["owner"],
                military=_flag(row["military"]),
            )
            for row in rows
        ]

    def fill_aircraft(self, known: Callable[[str], Aircraft | None]) -> int:
        """Fill the unknown aircraft fields of stored flights from an aircraft database
        (`known`: icao24 → what it knows, or None); returns how many flights changed."""
        rows = self._rows(
            "SELECT DISTINCT icao24 FROM flights WHERE registration IS NULL "
            "OR aircraft_type IS NULL OR owner IS NULL OR military IS NULL"
        )
        found = [(row["icao24"], known(row["icao24"])) for row in rows]
        changed = 0
        with self._write() as conn:
            for icao24, aircraft in found:
                if aircraft is None:
                    continue
                changed += conn.execute(
                    "UPDATE flights SET registration = COALESCE(registration, ?), "
                    "aircraft_type = COALESCE(aircraft_type, ?), owner = COALESCE(owner, ?), "
                    "military = COALESCE(military, ?) WHERE icao24 = ? AND ("
                    "(registration IS NULL AND ? IS NOT NULL) "
                    "OR (aircraft_type IS NULL AND ? IS NOT NULL) "
                    "OR (owner IS NULL AND ? IS NOT NULL) "
                    "OR (military IS NULL AND ? IS NOT NULL))",
                    (
                        *_aircraft_values(aircraft),
                        icao24,
                        *_aircraft_values(aircraft),
                    ),
                ).rowcount
        return changed

    def count_flights_between(
        self,
        origins: Collection[str],
        destinations: Collection[str],
        start: datetime,
        end: datetime,
        operator: str | None = None,
    ) -> int:
        """How many flights `flights_between` would return (counted in the index)."""
        where, params = _on_route(origins, destinations, start, end, operator)
        return int(self._value(f"SELECT COUNT(*) FROM flights WHERE {where}", params))

    def route_window(
        self,
        origins: Collection[str],
        destinations: Collection[str],
        start: datetime,
        end: datetime,
        operator: str | None = None,
    ) -> tuple[int, str]:
        """How many flights `flights_between` would return, and when the latest of them was
        stored or changed ("" when none): a route alert is rendered again only when these
        change (a flight added, dropped or merged)."""
        where, params = _on_route(origins, destinations, start, end, operator)
        row = self._one(
            f"SELECT COUNT(*) AS n, MAX(updated_at) AS changed FROM flights WHERE {where}", params
        )
        assert row is not None  # noqa: S101 - an aggregate always has a row
        return int(row["n"]), row["changed"] or ""

    def coverage_days(
        self, watched: Collection[tuple[str, str]], first: date, last: date
    ) -> dict[date, tuple[int, int]]:
        """For each day in [first, last] with ledger rows for the (source, airport) pairs
        `watched`: (rows, rows not fetched: failed or rate-limited).

        Counted in SQLite's covering index, so a route rule never reads the whole ledger: one
        count for the span, and the days themselves only when some are missing or failed.
        """
        airports_of: dict[str, list[str]] = {}
        for source_id, airport in dict.fromkeys(watched):
            airports_of.setdefault(source_id, []).append(airport)
        span = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        counts: dict[date, tuple[int, int]] = {}
        for source_id, airports in airports_of.items():
            where = (
                f"source_id = ? AND airport IN ({placeholders(len(airports))}) "
                "AND direction IN ('departure', 'arrival') AND day >= ? AND day <= ?"
            )
            params = [source_id, *airports, first.isoformat(), last.isoformat()]
            per_day = 2 * len(airports)
            total = self._one(
                f"SELECT COUNT(*) AS rows, SUM(status NOT IN {_FETCHED}) AS bad FROM coverage "
                f"WHERE {where}",
                params,
            )
            if total is not None and total["rows"] == per_day * len(span) and not total["bad"]:
                found = {day.isoformat(): (per_day, 0) for day in span}
            else:
                found = {
                    row["day"]: (row["rows"], row["bad"])
                    for row in self._rows(
                        f"SELECT day, COUNT(*) AS rows, SUM(status NOT IN {_FETCHED}) AS bad "
                        f"FROM coverage WHERE {where} GROUP BY day",
                        params,
                    )
                }
            for text, (n, failed) in found.items():
                day = date.fromisoformat(text)
                before = counts.get(day, (0, 0))
                counts[day] = (before[0] + n, before[1] + failed)
        return counts

    def unretried_days(
        self, watched: Collection[tuple[str, str]], first: date, last: date
    ) -> set[date]:
        """The days in [first, last] with a ledger row of the (source, airport) pairs
        `watched` that failed or was rate-limited at its only attempt (`fetches` < 2): a
        route rule waits for that one retry before its first evaluation."""
        days: set[date] = set()
        airports_of: dict[str, list[str]] = {}
        for source_id, airport in dict.fromkeys(watched):
            airports_of.setdefault(source_id, []).append(airport)
        for source_id, airports in airports_of.items():
            rows = self._rows(
                "SELECT DISTINCT day FROM coverage WHERE source_id = ? "
                f"AND airport IN ({placeholders(len(airports))}) AND day >= ? AND day <= ? "
                f"AND status NOT IN {_FETCHED} AND fetches < 2",
                [source_id, *airports, first.isoformat(), last.isoformat()],
            )
            days.update(date.fromisoformat(row["day"]) for row in rows)
        return days

    def coverage_pairs(self, airports: Collection[str]) -> list[tuple[str, str]]:
        """The (source, airport) pairs the ledger holds days of, for these airports: which
        daily flight lists exist for them (`vedette route` reads coverage without a config)."""
        if not airports:
            return []
        rows = self._rows(
            "SELECT DISTINCT source_id, airport FROM coverage "
            f"WHERE airport IN ({placeholders(len(airports))}) ORDER BY source_id, airport",
            list(airports),
        )
        return [(row["source_id"], row["airport"]) for row in rows]

    def flight_count(self, source_id: str | None = None) -> int:
        """How many flights are stored (that `source_id` contributed to, if given)."""
        if source_id is None:
            return int(self._value("SELECT COUNT(*) FROM flights"))
        return int(
            self._value(
                "SELECT COUNT(*) FROM flights WHERE ',' || sources || ',' LIKE ?",
                (f"%,{source_id},%",),
            )
        )

    # -- the coverage ledger --------------------------------------------------------------

    def record_day(
        self,
        source_id: str,
        airport: str,
        direction: str,
        day: date,
        status: str,
        now: datetime,
        *,
        flights: int = 0,
        error: str | None = None,
    ) -> None:
        """Record one day's fetch in the ledger (a later fetch replaces its status).

        `status` is one of `COVERAGE_STATES`; any other is refused (`ValueError`) before
        anything is written: the ledger would count it as a failed day forever.
        """
        if status not in COVERAGE_STATES:
            raise ValueError(
                f"coverage status {status!r} for {source_id} {airport} {direction} {day}: "
                f"not one of {', '.join(COVERAGE_STATES)}"
            )
        with self._write() as conn:
            conn.execute(
                "INSERT INTO coverage (source_id, airport, direction, day, status, flights, "
                "fetches, fetched_at, error) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?) "
                "ON CONFLICT (source_id, airport, direction, day) DO UPDATE SET "
                "status = excluded.status, flights = excluded.flights, "
                "fetches = fetches + 1, fetched_at = excluded.fetched_at, error = excluded.error",
                (source_id, airport, direction, day.isoformat(), status, flights, iso(now), error),
            )

    def coverage(
        self, source_ids: Collection[str] | None = None, since: date | None = None
    ) -> list[CoverageEntry]:
        """Ledger rows (of some sources, from a day on), oldest day first."""
        sql = "SELECT source_id, airport, direction, day, status, fetches, fetched_at FROM coverage"
        clauses: list[str] = []
        params: list[Any] = []
        if source_ids is not None:
            clauses.append(f"source_id IN ({placeholders(len(source_ids))})")
            params.extend(source_ids)
        if since is not None:
            clauses.append("day >= ?")
            params.append(since.isoformat())
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        rows = self._rows(sql + " ORDER BY day", params)
        return [
            CoverageEntry(
                source_id=row["source_id"],
                airport=row["airport"],
                direction=row["direction"],
                day=date.fromisoformat(row["day"]),
                status=row["status"],
                fetches=row["fetches"],
                fetched_at=datetime.fromisoformat(row["fetched_at"]),
            )
            for row in rows
        ]

    def update_flight_source(
        self,
        source_id: str,
        *,
        credits_left: int | None = None,
        credits_spent: int = 0,
        last_day: date | None = None,
        new_flights: int = 0,
    ) -> None:
        """Note credits, the newest day fetched and the flights a poll added, whether it
        ended well or not (source row must exist)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE sources SET credits_left = COALESCE(?, credits_left), "
                "credits_spent = credits_spent + ?, items_seen = items_seen + ?, "
                "last_day = MAX(COALESCE(last_day, ''), COALESCE(?, '')) WHERE id = ?",
                (
                    credits_left,
                    credits_spent,
                    new_flights,
                    last_day.isoformat() if last_day else None,
                    source_id,
                ),
            )

    def credits_spent(self, source_id: str) -> int:
        """The credits a flight source has spent so far (0 for an unknown source)."""
        spent = self._value("SELECT credits_spent FROM sources WHERE id = ?", (source_id,))
        return int(spent or 0)

    def record_progress(
        self,
        source_id: str,
        *,
        fetched: int,
        total: int,
        next_attempt_at: datetime | None,
    ) -> None:
        """Note a source's backfill (days fetched of its history) and its next attempt after
        a rate limit (None: no rate limit pending)."""
        key = f"{_PROGRESS}{source_id}:"
        with self._write() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key + "backfill", f"{fetched}/{total}"),
            )
            if next_attempt_at is None:
                conn.execute("DELETE FROM meta WHERE key = ?", (key + "next_attempt",))
            else:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key + "next_attempt", iso(next_attempt_at)),
                )

    def flight_progress(self) -> dict[str, FlightProgress]:
        """Each flight source's progress as `record_progress` left it."""
        found: dict[str, dict[str, str]] = {}
        rows = self._rows(
            "SELECT key, value FROM meta WHERE key >= ? AND key < ?", (_PROGRESS, "progress;")
        )
        for row in rows:
            source_id, _, what = row["key"][len(_PROGRESS) :].rpartition(":")
            found.setdefault(source_id, {})[what] = row["value"]
        progress: dict[str, FlightProgress] = {}
        for source_id, values in found.items():
            fetched, _, total = values.get("backfill", "").partition("/")
            at = values.get("next_attempt")
            progress[source_id] = FlightProgress(
                int(fetched) if fetched.isdigit() else None,
                int(total) if total.isdigit() else None,
                from_iso(at) if at else None,
            )
        return progress

    # -- live sightings -------------------------------------------------------------------

    def record_sightings(self, sightings: Sequence[Sighting]) -> int:
        """Keep live sightings (duplicates ignored); returns how many are new."""
        with self._write() as conn:
            return sum(
                conn.execute(
                    "INSERT OR IGNORE INTO sightings (icao24, seen_at, callsign, lat, lon, "
                    f"altitude_ft, on_ground, source, {_AIRCRAFT}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        s.icao24,
                        _epoch(s.seen_at),
                        s.callsign,
                        s.lat,
                        s.lon,
                        s.altitude_ft,
                        int(s.on_ground),
                        s.source,
                        *_aircraft_values(s),
                    ),
                ).rowcount
                for s in sightings
            )

    def sightings_since(self, icao24s: Collection[str], since: datetime) -> list[Sighting]:
        """The stored sightings of these aircraft from `since` on, oldest first."""
        if not icao24s:
            return []
        marks = placeholders(len(icao24s))
        rows = self._rows(
            "SELECT icao24, callsign, seen_at, lat, lon, altitude_ft, on_ground, source, "
            f"{_AIRCRAFT} FROM sightings WHERE icao24 IN ({marks}) AND seen_at >= ? "
            "ORDER BY seen_at",
            (*icao24s, _epoch(since)),
        )
        return [
            Sighting(
                icao24=row["icao24"],
                callsign=row["callsign"],
                seen_at=_moment(row["seen_at"]),
                lat=row["lat"],
                lon=row["lon"],
                altitude_ft=row["altitude_ft"],
                on_ground=bool(row["on_ground"]),
                source=row["source"],
                registration=row["registration"],
                aircraft_type=row["aircraft_type"],
                owner=row["owner"],
                military=_flag(row["military"]),
            )
            for row in rows
        ]

    # -- route rule state -----------------------------------------------------------------

    def record_route(
        self,
        rule_id: str,
        now: datetime,
        *,
        firing: bool,
        count: int,
        previous: int | None,
        complete: bool,
        summary: str,
        alert: NewAlert | None = None,
        follow: Sequence[NewAlert] = (),
    ) -> int:
        """Record a route rule's evaluation and, if it fired, its alert, in one transaction;
        the `follow` rows (a chart alert's flight list) are queued after it if it was.

        Returns the number of alerts added (0 or 1; `follow` rows are not counted).
        """
        stamp = iso(now)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO route_state (rule_id) VALUES (?) ON CONFLICT (rule_id) DO NOTHING",
                (rule_id,),
            )
            conn.execute(
                "UPDATE route_state SET firing = ?, count = ?, previous = ?, complete = ?, "
                "summary = ?, evaluated_at = ?, episodes = episodes + ?, "
                "fired_at = CASE WHEN ? THEN ? ELSE fired_at END WHERE rule_id = ?",
                (
                    int(firing),
                    count,
                    previous,
                    int(complete),
                    summary,
                    stamp,
                    int(alert is not None),
                    int(alert is not None),
                    stamp,
                    rule_id,
                ),
            )
            added = enqueue(conn, alert, stamp) if alert is not None else 0
            if added:
                for row in follow:
                    enqueue(conn, row, stamp)
            return added

    def alert_has_photo(self, row_id: int) -> bool:
        """Whether outbox row `row_id` is sent as a photo (its edits change the caption)."""
        row = self._one("SELECT photo IS NOT NULL AS photo FROM outbox WHERE id = ?", (row_id,))
        return row is not None and bool(row["photo"])

    def route_state(self, rule_id: str) -> RouteState:
        """Whether the rule is firing, and how many times it fired."""
        row = self._one("SELECT firing, episodes FROM route_state WHERE rule_id = ?", (rule_id,))
        if row is None:
            return RouteState(firing=False, episodes=0)
        return RouteState(firing=bool(row["firing"]), episodes=int(row["episodes"]))

    def alert_id(self, dedup_key: str) -> int | None:
        """The outbox id of the alert with this dedup key (None: not queued, e.g. held by a
        mute, or pruned)."""
        row = self._one(
            "SELECT id FROM outbox WHERE dedup_key = ? AND kind = 'alert'", (dedup_key,)
        )
        return None if row is None else int(row["id"])

    def route_states(self) -> Iterator[dict[str, Any]]:
        """Every route rule's last evaluation, for `/status`."""
        yield from self.db.table("route_state").rows_where(order_by="rule_id")


def _aircraft_values(known: Flight | Sighting | Aircraft) -> tuple[Any, ...]:
    """The `_AIRCRAFT` columns' values (military as 1, 0 or NULL)."""
    military = None if known.military is None else int(known.military)
    return (known.registration, known.aircraft_type, known.owner, military)


def _flag(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _upsert(conn: sqlite3.Connection, flight: Flight, stamp: str) -> int:
    """Insert `flight` or merge it into the stored same flight; 1 if it was new.

    Merging keeps every known value (a NULL never overwrites one); of two known values the
    stored one stays, except that military wins over not military, and that a departure
    time heard at the departure airport replaces one from a record that did not know it
    (OpenSky's arrival list alone: its first-seen time may be hours after the take-off)."""
    when = _epoch(flight.departure)
    row = conn.execute(
        "SELECT id, callsign, operator, departure_airport, arrival_airport, departure, arrival, "
        f"sources, quality, {_AIRCRAFT} FROM flights "
        "WHERE icao24 = ? AND departure BETWEEN ? AND ? ORDER BY ABS(departure - ?) LIMIT 1",
        (flight.icao24, when - SAME_FLIGHT_SECONDS, when + SAME_FLIGHT_SECONDS, when),
    ).fetchone()
    arrival = _epoch(flight.arrival) if flight.arrival else None
    quality = dict(flight.quality)
    if row is None:
        conn.execute(
            "INSERT INTO flights (icao24, callsign, operator, departure_airport, "
            "arrival_airport, departure, arrival, sources, quality, recorded_at, updated_at, "
            f"{_AIRCRAFT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                flight.icao24,
                flight.callsign,
                flight.operator,
                flight.departure_airport,
                flight.arrival_airport,
                when,
                arrival,
                flight.source,
                json.dumps({flight.source: quality}),
                stamp,
                stamp,
                *_aircraft_values(flight),
            ),
        )
        return 1
    merged_sources = ",".join(dict.fromkeys([*row["sources"].split(","), flight.source]))
    qualities = json.loads(row["quality"])
    qualities.setdefault(flight.source, quality)
    registration, aircraft_type, owner, military = _aircraft_values(flight)
    if row["military"] is not None:
        military = max(row["military"], military or 0)
    departure = row["departure"]
    if row["departure_airport"] is None and flight.departure_airport is not None:
        departure = when
    conn.execute(
        "UPDATE flights SET callsign = ?, operator = ?, departure_airport = ?, "
        "arrival_airport = ?, arrival = ?, sources = ?, quality = ?, updated_at = ?, "
        "registration = ?, aircraft_type = ?, owner = ?, military = ?, departure = ? "
        "WHERE id = ?",
        (
            row["callsign"] or flight.callsign,
            row["operator"] or flight.operator,
            row["departure_airport"] or flight.departure_airport,
            row["arrival_airport"] or flight.arrival_airport,
            row["arrival"] or arrival,
            merged_sources,
            json.dumps(qualities),
            stamp,
            row["registration"] or registration,
            row["aircraft_type"] or aircraft_type,
            row["owner"] or owner,
            military,
            departure,
            row["id"],
        ),
    )
    return 0
