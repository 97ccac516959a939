"""`each` route rules: which stored flights are new to a rule, and its alerts.

A mixin of `bot.store.Store`. An `each` rule alerts once per flights row, and the store
stores a flight once (`bot.store.flights`: a report of the same flight by another source
merges into its row), so a flight seen by ADS-B and then by OpenSky is one alert: the
alert's (rule, item) match and its dedup key name the row, and neither is ever repeated.

A rule's state (`EachState`) is one meta row, `each:RULE`, written with its alerts and its
`route_state` row (for `/status`) in one transaction. Candidates are read in indexes: rows
added since the rule's last evaluation (the primary key), and rows changed since then that
departed recently (by route or by aircraft), e.g. a live flight whose arrival became known.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.store.base import placeholders
from bot.store.outbox import enqueue
from bot.store.records import EachState, NewAlert, NewFlight, StoredFlight
from bot.timeutil import from_iso, iso

if TYPE_CHECKING:
    from bot.store.base import StoreBase
else:
    StoreBase = object

EACH_META = "each:"  # meta key `each:RULE`: the rule's EachState as JSON
_EACH_END = "each;"  # the first key after every `each:` key


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class EachRecords(StoreBase):
    """The state and alerts of `each` route rules; mixed into `bot.store.Store`."""

    def each_state(self, rule_id: str) -> EachState | None:
        """The rule's state, or None before its first evaluation as an `each` rule."""
        value = self._value("SELECT value FROM meta WHERE key = ?", (EACH_META + rule_id,))
        if value is None:
            return None
        data = json.loads(value)
        return EachState(from_iso(data["since"]), int(data["last_id"]), from_iso(data["at"]))

    def each_rules(self) -> set[str]:
        """The rules that have an `each` state (for `/status`)."""
        rows = self._rows("SELECT key FROM meta WHERE key >= ? AND key < ?", (EACH_META, _EACH_END))
        return {row["key"][len(EACH_META) :] for row in rows}

    def forget_each(self, rule_ids: Collection[str]) -> None:
        """Drop the `each` state of these rules (no longer `each` rules): if one becomes an
        `each` rule again, its first evaluation is silent again."""
        if rule_ids:
            with self._write() as conn:
                conn.executemany(
                    "DELETE FROM meta WHERE key = ?", [(EACH_META + r,) for r in rule_ids]
                )

    def newest_flight_id(self) -> int:
        """The id of the newest flights row (0: none yet); ids are never reused."""
        return int(self._value("SELECT COALESCE(MAX(id), 0) FROM flights"))

    def flights_for_each(
        self,
        *,
        origins: Collection[str],
        destinations: Collection[str],
        operator: str | None,
        icao24: Collection[str],
        state: EachState,
        upto_id: int,
        changed_since: datetime,
        departed_since: datetime,
    ) -> list[NewFlight]:
        """The flights an `each` rule may alert now, oldest departure first.

        Empty `origins` (or `destinations`, or `icao24`) means any. Only flights that
        departed at or after `state.since` count; of them, the rows added after
        `state.last_id` (up to `upto_id`), and the rows changed at or after `changed_since`
        that departed at or after `departed_since` (a merge may complete a flight's route).
        """
        clauses: list[str] = ["departure >= ?"]
        params: list[Any] = [_epoch(state.since)]
        for column, values in (
            ("departure_airport", origins),
            ("arrival_airport", destinations),
            ("icao24", icao24),
        ):
            if values:
                clauses.append(f"{column} IN ({placeholders(len(values))})")
                params.extend(values)
        if operator:
            clauses.append("operator = ?")
            params.append(operator)
        # The rows added since: read by id (the `+` keeps SQLite off the route index, which
        # would scan every flight of the route since the rule started).
        unindexed = " AND ".join(f"+{clause}" for clause in clauses)
        added = self._rows(
            f"SELECT * FROM flights WHERE id > ? AND id <= ? AND {unindexed}",
            [state.last_id, upto_id, *params],
        )
        # The rows changed since that departed recently: by route or aircraft, in its index.
        changed = self._rows(
            f"SELECT * FROM flights WHERE {' AND '.join(clauses)} AND departure >= ? "
            "AND id <= ? AND updated_at >= ?",
            [*params, _epoch(departed_since), state.last_id, iso(changed_since)],
        )
        found = {row["id"]: _new_flight(row) for row in [*added, *changed]}
        return sorted(found.values(), key=lambda f: (f.flight.departure, f.id))

    def record_each(
        self,
        rule_id: str,
        now: datetime,
        *,
        state: EachState,
        alerts: Sequence[tuple[NewAlert, Sequence[NewAlert]]],
        summary: Callable[[int], str],
    ) -> int:
        """Record an `each` rule's evaluation: its alerts, its new state (`state.since` and
        `state.last_id`; evaluated at `now`) and its `route_state` row, whose count is how
        many flights it alerted in all (`summary(count)` is its line in `/status`).

        Each alert is recorded as a (rule, item) match first, as news alerts are: matches
        are never pruned, so a flight alerts once even after its outbox row is pruned. The
        rows paired with an alert (the flight list after a chart) follow it when it is
        added. Returns the alerts added."""
        stamp = iso(now)
        with self._write() as conn:
            first = _first(conn, rule_id)
            added = 0
            for alert, follow in alerts:
                fresh = conn.execute(
                    "INSERT OR IGNORE INTO matches (rule_id, item_key, source_id, matched_at) "
                    "VALUES (?, ?, ?, ?)",
                    (rule_id, alert.item_key, alert.source_id, stamp),
                ).rowcount
                if fresh and enqueue(conn, alert, stamp):
                    added += 1
                    for row in follow:
                        enqueue(conn, row, stamp)
            conn.execute(
                "INSERT INTO route_state (rule_id) VALUES (?) ON CONFLICT (rule_id) DO NOTHING",
                (rule_id,),
            )
            count = int(
                conn.execute(
                    "SELECT count FROM route_state WHERE rule_id = ?", (rule_id,)
                ).fetchone()[0]
            )
            count = added if first else count + added
            conn.execute(
                "UPDATE route_state SET firing = 0, count = ?, previous = NULL, complete = 1, "
                "summary = ?, evaluated_at = ?, episodes = episodes + ?, "
                "fired_at = CASE WHEN ? THEN ? ELSE fired_at END WHERE rule_id = ?",
                (count, summary(count), stamp, added, added, stamp, rule_id),
            )
            value = {"since": iso(state.since), "last_id": state.last_id, "at": stamp}
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (EACH_META + rule_id, json.dumps(value)),
            )
        return added


def _first(conn: sqlite3.Connection, rule_id: str) -> bool:
    """Whether the rule has no `each` state yet (its first evaluation as an `each` rule)."""
    row = conn.execute("SELECT 1 FROM meta WHERE key = ?", (EACH_META + rule_id,)).fetchone()
    return row is None


def _new_flight(row: sqlite3.Row) -> NewFlight:
    flight = StoredFlight(
        icao24=row["icao24"],
        callsign=row["callsign"],
        departure_airport=row["departure_airport"],
        arrival_airport=row["arrival_airport"],
        departure=datetime.fromtimestamp(row["departure"], UTC),
        sources=tuple(row["sources"].split(",")),
        registration=row["registration"],
        aircraft_type=row["aircraft_type"],
        owner=row["owner"],
        military=None if row["military"] is None else bool(row["military"]),
    )
    arrival = row["arrival"]
    return NewFlight(
        int(row["id"]), flight, None if arrival is None else datetime.fromtimestamp(arrival, UTC)
    )
