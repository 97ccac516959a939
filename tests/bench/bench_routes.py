"""Route counting: 100 route rules over a year of flights at 200 airports (about 1 million).

    python -m tests.bench routes [--runs 5] [--flights-per-day 2740] [--db PATH]

The database is a real vedette database (`Store.open`, so the shipped schema and indexes),
filled with a bulk `executemany` into the same `flights` and `coverage` tables that
`Store.record_flights` and `Store.record_day` write (one row per flight, as the store keeps
them; going through `record_flights` would only take longer to build). The airports are 200
real ICAO codes from `airportsdata` (Benghazi and Minsk among them); flights follow a route
network with hubs, about 2,740 a day for 365 days; the coverage ledger has every airport,
direction and day of the year, a few days failed. `--db` keeps the built database for the
next run.

The 100 rules (the config is parsed from TOML like rules.toml) mix `at_least` and `spike`,
windows of 7 to 90 days, some with an operator or several origins, all on one OpenSky
source that watches the 200 airports. Timed: `RouteEvaluator.evaluate()`, which reads the
coverage ledger, counts every rule's window (twice for spike), renders the alerts of the
rules that fire and records each rule's state, as the runner does after every flight poll:

- first evaluation: no rule state yet, so the rules whose condition holds fire (alerts
  rendered and queued); the state is cleared before each run.
- steady: the next evaluation, nothing changed, nothing fires.

Wall time `time.perf_counter()` (the work is SQLite and Python in this one thread).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

import airportsdata

from bot.config.validate import parse_config
from bot.flights.plan import last_available_day, start_of
from bot.flights.pollers import RouteEvaluator
from bot.store import Store
from bot.timeutil import iso
from tests.bench.report import Row, median, spread, table

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
DAYS = 365
AIRPORT_COUNT = 200
RULES = 100
OPERATORS = ("BRU", "AFL", "THY", "DLH", "UAE", "QTR", "AFR", "BAW", "LOT", "AZA", "RYR", "WZZ")


@dataclass(frozen=True)
class Network:
    """Airports and the routes flown between them (origin, destination, flights a day)."""

    airports: list[str]
    routes: list[tuple[str, str, float]]


def network(flights_per_day: float, seed: int = 11) -> Network:
    """200 real airports; each served by a dozen routes, hubs busier than the rest."""
    rng = random.Random(seed)
    table_ = airportsdata.load("ICAO")
    candidates = sorted(
        code
        for code, row in table_.items()
        if row["iata"] and "International" in row["name"] and code not in ("HLLB", "UMMS")
    )
    airports = ["HLLB", "UMMS", *rng.sample(candidates, AIRPORT_COUNT - 2)]
    weights = list(accumulate(1.0 / (rank + 1) ** 0.7 for rank in range(len(airports))))
    pairs: dict[tuple[str, str], float] = {}
    for origin in airports:
        for destination in rng.choices(airports, cum_weights=weights, k=12):
            if destination != origin:
                pairs[(origin, destination)] = rng.paretovariate(1.5)
                pairs.setdefault((destination, origin), pairs[(origin, destination)])
    pairs[("HLLB", "UMMS")] = pairs[("UMMS", "HLLB")] = 0.0  # a few flights, added by hand
    scale = flights_per_day / sum(pairs.values())
    return Network(airports, [(o, d, f * scale) for (o, d), f in pairs.items()])


def build(path: Path, flights_per_day: float) -> tuple[Network, int]:
    """Create the database at `path`; return the network and how many flights it holds."""
    net = network(flights_per_day)
    rng = random.Random(5)
    first_day = last_available_day(NOW) - timedelta(days=DAYS - 1)
    stamp = iso(NOW)
    store = Store.open(path)
    conn = store.db.conn
    flights = 0
    conn.execute("BEGIN")
    for n, (origin, destination, per_day) in enumerate(net.routes):
        operator = OPERATORS[n % len(OPERATORS)]
        aircraft = [f"{(n * 16 + k) % 0xFFFFFF:06x}" for k in range(4)]
        rows = []
        for day in range(DAYS):
            count = int(per_day) + (rng.random() < per_day % 1)
            midnight = int(start_of(first_day + timedelta(days=day)).timestamp())
            for k in range(count):
                departure = midnight + rng.randrange(86400)
                rows.append(
                    (
                        aircraft[k % 4],
                        f"{operator}{100 + n % 900}",
                        operator,
                        origin,
                        destination,
                        departure,
                        departure + 3600 + rng.randrange(4 * 3600),
                        "opensky",
                        "{}",
                        stamp,
                        stamp,
                    )
                )
        conn.executemany(
            "INSERT INTO flights (icao24, callsign, operator, departure_airport, "
            "arrival_airport, departure, arrival, sources, quality, recorded_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        flights += len(rows)
    belavia = []  # Benghazi <-> Minsk: a handful a month, as in 2025
    for day in range(0, DAYS, 6):
        midnight = int(start_of(first_day + timedelta(days=day)).timestamp())
        for origin, destination in (("HLLB", "UMMS"), ("UMMS", "HLLB")):
            belavia.append(
                ("510207", "BRU8802", "BRU", origin, destination, midnight + 40000, stamp, stamp)
            )
    conn.executemany(
        "INSERT INTO flights (icao24, callsign, operator, departure_airport, arrival_airport, "
        "departure, sources, quality, recorded_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, 'opensky', '{}', ?, ?)",
        belavia,
    )
    flights += len(belavia)
    ledger = []
    for day in range(DAYS):
        when = first_day + timedelta(days=day)
        fetched = iso(start_of(when) + timedelta(days=2, hours=5))
        for airport in net.airports:
            for direction in ("departure", "arrival"):
                status = "failed" if rng.random() < 0.002 else "ok"
                ledger.append(("opensky", airport, direction, when.isoformat(), status, 2, fetched))
    conn.executemany(
        "INSERT INTO coverage (source_id, airport, direction, day, status, fetches, "
        "fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        ledger,
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return net, flights


def rules_toml(net: Network, seed: int = 3) -> str:
    """rules.toml: one OpenSky source on the 200 airports and 100 route rules."""
    rng = random.Random(seed)
    busy = sorted(net.routes, key=lambda r: -r[2])[:400]
    parts = [
        "[channels.main]\nchat_id = -1001234567890\n\n",
        f'[[sources]]\nid = "opensky"\nkind = "opensky"\nairports = {net.airports!r}\n'.replace(
            "'", '"'
        )
        + 'lookback = "35d"\n\n',
    ]
    for n in range(RULES):
        origin, destination, per_day = rng.choice(busy)
        if n == 0:
            origin, destination, per_day = "HLLB", "UMMS", 1 / 6
        window = rng.choice((7, 14, 30, 60, 90))
        source = f'"{origin}"'
        if n % 10 == 3:  # several origins
            other = rng.choice([o for o, d, _ in net.routes if d == destination and o != origin])
            source = f'["{origin}", "{other}"]'
        lines = [
            f'[[rules]]\nid = "route-{n:03d}"\nkind = "route"\nfrom = {source}\n'
            f'to = "{destination}"\nwindow = "{window}d"\nchannel = "main"\n'
        ]
        if n % 5 == 1:
            lines.append(f'operator = "{OPERATORS[n % len(OPERATORS)]}"\n')
        if n % 3 == 2:
            lines.append(f"spike = 2.0\nmin_count = {rng.randint(2, 5)}\n")
        else:
            expected = per_day * window
            lines.append(f"at_least = {max(1, int(expected * rng.uniform(0.8, 1.2)))}\n")
        parts.append("".join(lines) + "\n")
    return "".join(parts)


def run(runs: int = 5, flights_per_day: float = 2740.0, db: Path | None = None) -> list[Row]:
    """Run the route benchmark, print its table, return its rows."""
    with tempfile.TemporaryDirectory(prefix="vedette-bench-") as tmp:
        path = db or Path(tmp) / "routes.db"
        if path.exists():
            net = network(flights_per_day)
            print(f"route counting: reusing {path}", flush=True)
        else:
            print("route counting: building a year of flights at 200 airports…", flush=True)
            started = time.perf_counter()
            net, _ = build(path, flights_per_day)
            print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
        config = parse_config(rules_toml(net), "bench.toml")
        store = Store.open(path)
        try:
            flights, ledger, size = _sizes(store, path)
            evaluator = RouteEvaluator(
                store,
                config.route_rules,
                config.opensky_sources,
                config.channels,
                clock=lambda: NOW,
            )
            first: list[float] = []
            steady: list[float] = []
            fired = 0
            for number in range(runs):
                store.db.conn.execute("DELETE FROM route_state")
                store.db.conn.execute("DELETE FROM outbox WHERE source_id = 'routes'")
                started = time.perf_counter()
                fired = evaluator.evaluate()
                first.append(time.perf_counter() - started)
                started = time.perf_counter()
                again = evaluator.evaluate()
                steady.append(time.perf_counter() - started)
                if again:
                    raise AssertionError("a second evaluation fired again")
                print(
                    f"  run {number + 1}/{runs}: first {first[-1] * 1000:.1f} ms "
                    f"({fired} alerts), steady {steady[-1] * 1000:.1f} ms",
                    flush=True,
                )
            states = list(store.route_states())
        finally:
            store.close()
    rules = config.route_rules
    complete = sum(1 for s in states if s["complete"])
    notes = [
        f"{flights:,} flights over {DAYS} days at {len(net.airports)} airports, "
        f"{ledger:,} coverage rows, database {size / 1e6:,.0f} MB (bulk-loaded, Store schema)",
        f"{len(rules)} rules: {sum(1 for r in rules if r.at_least is not None)} at_least, "
        f"{sum(1 for r in rules if r.spike is not None)} spike, windows 7-90 days, "
        f"{sum(1 for r in rules if r.operator)} with an operator; "
        f"{fired} fire on the first evaluation; {complete} with complete coverage",
        f"median of {runs} runs (min-max in brackets); wall time, one thread",
    ]
    rows = [
        Row(
            "evaluate() 100 rules, first (rules fire)",
            f"{median(first) * 1000:.1f} ms ({spread([f * 1000 for f in first], '{:.1f}')})",
            "≤ 50 ms",
            median(first) <= 0.05,
        ),
        Row(
            "evaluate() 100 rules, steady",
            f"{median(steady) * 1000:.1f} ms ({spread([s * 1000 for s in steady], '{:.1f}')})",
            "≤ 50 ms",
            median(steady) <= 0.05,
        ),
    ]
    print(table("Route counting (python -m tests.bench routes)", notes, rows), flush=True)
    return rows


def _sizes(store: Store, path: Path) -> tuple[int, int, int]:
    conn = store.db.conn
    (flights,) = conn.execute("SELECT COUNT(*) FROM flights").fetchone()
    (ledger,) = conn.execute("SELECT COUNT(*) FROM coverage").fetchone()
    return int(flights), int(ledger), path.stat().st_size


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench routes")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--flights-per-day", type=float, default=2740.0)
    parser.add_argument("--db", type=Path, default=None, help="build here once, reuse after")
    options = parser.parse_args(argv)
    run(options.runs, options.flights_per_day, options.db)


if __name__ == "__main__":
    main()
