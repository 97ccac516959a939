"""The proof of issue 13: 100 days of OpenSky traffic at Benghazi (HLLB) and Minsk (UMMS),
2025-04-24 to 2025-08-01 (tests/data/flights/hllb-umms-2025.csv; its README says where each
identity and pattern comes from), replayed day by day through the loopback fake OpenSky,
real httpx and a real SQLite file, on a clock the test moves. Belavia's Benghazi → Minsk
flights follow the European Commission's figures (2 in May, 5 in June, 4 in July 2025) among
the airports' other traffic, with OpenSky's quirks: a take-off not heard, a flight only in
UMMS's arrival list, padded callsigns, flights across midnight UTC, a charter by another
operator on the route, one airport-day answering 500 and then 200 on its retry.

Checked: `vedette route BEN MSQ --operator BRU --by month` (the real CLI) prints 2, 5, 4 with
complete coverage; without `--operator` the charter counts; `/route BEN MSQ BRU` (the real
python-telegram-bot application against the fake Bot API) answers with one PNG photo; an
`each` rule alerts each Belavia flight once, also across a restart; the `ben-msq` rule
(at least 3 in 30 days) fires once, with 3 flights."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image

from bot.cli import main
from bot.config.types import Config
from bot.config.validate import parse_config
from bot.store import Store
from bot.telegram.commands import build_application, route_chart
from tests.fakes.opensky_api import FakeOpenSky
from tests.fakes.telegram_api import TEST_TOKEN, FakeTelegramAPI
from tests.flights import Flights
from tests.helpers import ADMIN, Clock, eventually, make_config, outbox_rows, serving

DATA = Path(__file__).parent / "data" / "flights" / "hllb-umms-2025.csv"
FIRST, LAST = date(2025, 4, 24), date(2025, 8, 1)  # the days of traffic in the file
FAILING_DAY = date(2025, 6, 13)  # its HLLB departures answer 500 once (fetched on the 14th)

RULES = """
[[rules]]
id = "ben-msq"
kind = "route"
from = "BEN"
to = "MSQ"
window = "30d"
at_least = 3
channel = "main"

[[rules]]
id = "bru-each"
kind = "route"
from = "BEN"
to = "MSQ"
operator = "BRU"
each = true
channel = "main"
"""

# Belavia BRU8802 Benghazi → Minsk, by UTC departure day (the data's README).
BELAVIA = [
    date(2025, 5, 16),
    date(2025, 5, 30),
    date(2025, 6, 6),
    date(2025, 6, 13),
    date(2025, 6, 20),
    date(2025, 6, 27),
    date(2025, 6, 30),  # departs 22:40 UTC, lands in Minsk on 1 July
    date(2025, 7, 4),
    date(2025, 7, 11),
    date(2025, 7, 18),
    date(2025, 7, 25),
]


@dataclass(frozen=True)
class Record:
    """One row of the data file: an OpenSky flight record (callsign not padded yet)."""

    icao24: str
    callsign: str
    first_seen: datetime
    dep: str | None
    last_seen: datetime
    arr: str | None
    note: str


def records() -> list[Record]:
    with DATA.open(encoding="utf-8", newline="") as file:
        return [
            Record(
                row["icao24"],
                row["callsign"],
                datetime.fromisoformat(row["firstSeen"]),
                row["estDepartureAirport"] or None,
                datetime.fromisoformat(row["lastSeen"]),
                row["estArrivalAirport"] or None,
                row["note"],
            )
            for row in csv.DictReader(file)
        ]


def morning(day: date) -> datetime:
    """06:00 UTC on `day`: OpenSky's nightly lists of the day before are out."""
    return datetime(day.year, day.month, day.day, 6, tzinfo=UTC)


def config(opensky: FakeOpenSky) -> Config:
    text = (
        "[channels.main]\nchat_id = -1001234567890\n\n"
        '[[sources]]\nid = "sky"\nkind = "opensky"\nairports = ["BEN", "MSQ"]\n'
        f'lookback = "3d"\napi_url = "{opensky.api_url}"\nauth_url = "{opensky.auth_url}"\n'
    )
    return parse_config(text + RULES, "rules.toml")


def client_without_keepalive() -> httpx.AsyncClient:
    """A client opening a connection per request: on a kept-alive loopback connection each
    answer with a body waits for a delayed ACK (up to 40 ms; Nagle), which made the replay's
    ~900 requests take 25 s; fresh connections start in quick-ACK mode."""
    return httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0))


def alerts(store: Store, rule: str) -> list[dict[str, object]]:
    return [
        row
        for row in outbox_rows(store)
        if row["kind"] == "alert" and str(row["dedup_key"]).split("|")[1] == rule
    ]


@dataclass
class Replay:
    """What the replay left: its database, and what the rules queued on which morning."""

    path: Path
    each: dict[date, int] = field(default_factory=dict)  # `each` alerts, by the day before
    fired: list[tuple[date, str]] = field(default_factory=list)  # ben-msq: morning, text


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Replay:
    """The database after the replay (and a restart); the replay's own checks inside."""
    done = Replay(tmp_path_factory.mktemp("replay") / "vedette.db")
    asyncio.run(replay(done))
    return done


async def replay(done: Replay) -> None:
    path = done.path
    opensky = FakeOpenSky().start()
    try:
        opensky.credits = 10**6
        for r in records():
            opensky.add_flight(
                icao24=r.icao24,
                first_seen=r.first_seen,
                last_seen=r.last_seen,
                callsign=r.callsign.ljust(8),  # OpenSky pads callsigns to 8 characters
                dep=r.dep,
                arr=r.arr,
            )
        cfg = config(opensky)
        store = Store.open(path)
        async with client_without_keepalive() as client:
            bot = Flights(store, cfg, Clock(morning(FIRST)), client)
            # The first evaluation comes before any Belavia flight: the `each` rule starts.
            assert await bot.step(morning(FIRST)) == 0
            day = FIRST + timedelta(days=1)
            while day <= LAST + timedelta(days=1):
                before = len(alerts(store, "bru-each"))
                if day == FAILING_DAY + timedelta(days=1):
                    opensky.fail_next("500")  # the first query: HLLB departures of the 13th
                    error = (await bot.poll(morning(day))).error
                    bot.routes.evaluate()
                    assert error is not None
                    assert "HTTP 500" in error, error
                    gap = [e for e in store.coverage(["sky"]) if e.status == "failed"]
                    assert [(e.airport, e.direction, e.day) for e in gap] == [
                        ("HLLB", "departure", FAILING_DAY)
                    ]
                    # Its UMMS half alone has no departure airport: no alert yet.
                    assert len(alerts(store, "bru-each")) == before
                    await bot.step(morning(day) + timedelta(hours=1))  # the retry: no error
                else:
                    await bot.step(morning(day))  # no error
                done.each[day - timedelta(days=1)] = len(alerts(store, "bru-each")) - before
                fired = alerts(store, "ben-msq")
                if len(fired) > len(done.fired):
                    done.fired += [(day, str(row["plain"])) for row in fired[len(done.fired) :]]
                day += timedelta(days=1)
        store.close()

        # A restart: a new poller and evaluator on the reopened database repeat nothing.
        store = Store.open(path)
        async with client_without_keepalive() as client:
            again = Flights(store, cfg, Clock(morning(LAST + timedelta(days=2))), client)
            assert await again.step(morning(LAST + timedelta(days=2))) == 0
            assert await again.step(morning(LAST + timedelta(days=3))) == 0
        store.close()
    finally:
        opensky.stop()


def route(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, str]:
    """`vedette route BEN MSQ ARGS --by month` for May to July 2025: {month: "count status"}."""
    argv = ["route", "BEN", "MSQ", *args, "--by", "month", "--from", "2025-05-01"]
    assert main([*argv, "--to", "2025-07-31", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    rows = [line.split(maxsplit=2) for line in out.splitlines() if line.startswith("2025-0")]
    table = {label: f"{count} {status}" for label, count, status in rows if len(label) == 7}
    total = next(line for line in out.splitlines() if line.startswith("total"))
    table["total"] = " ".join(total.split()[1:])
    return table


def test_belavia_counts_2_5_4_by_month_with_complete_coverage(
    replayed: Replay, capsys: pytest.CaptureFixture[str]
) -> None:
    assert route(replayed.path, capsys, "--operator", "BRU") == {
        "2025-05": "2 complete",
        "2025-06": "5 complete",
        "2025-07": "4 complete",
        "total": "11 complete",
    }


def test_without_operator_the_charter_counts(
    replayed: Replay, capsys: pytest.CaptureFixture[str]
) -> None:
    """Afriqiyah's charter of 24 June is on the route too; the Antalya flight whose take-off
    no receiver heard (only in UMMS's arrivals) is on no route."""
    assert route(replayed.path, capsys) == {
        "2025-05": "2 complete",
        "2025-06": "6 complete",
        "2025-07": "4 complete",
        "total": "12 complete",
    }


def test_the_flights_listed_are_belavias_with_padding_stripped(
    replayed: Replay, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["route", "BEN", "MSQ", "--operator", "BRU", "--from", "2025-05-01"]
    assert main([*argv, "--to", "2025-07-31", "--db", str(replayed.path)]) == 0
    out = capsys.readouterr().out
    listed = [line.split() for line in out.splitlines() if "HLLB→UMMS" in line]
    assert [date.fromisoformat(fields[0]) for fields in listed] == BELAVIA
    assert {fields[2] for fields in listed} == {"BRU8802"}
    # The split flight: its HLLB half failed first, so its UMMS half (first seen 09:05) was
    # stored first; the HLLB half (08:25, heard at the departure airport) merged into it on
    # the retry and its take-off time won.
    assert listed[3][:2] == ["2025-06-13", "08:25"]
    assert listed[6][:2] == ["2025-06-30", "22:40"]  # across midnight: counted in June


def test_each_rule_alerted_every_belavia_flight_once(replayed: Replay) -> None:
    """One alert for each of the 11 Belavia flights, the morning after it departed (the
    split flight of 13 June on its retry); the charter, the return legs and the Antalya
    flight none; nothing again after the restart."""
    assert {day for day, added in replayed.each.items() if added} == set(BELAVIA)
    assert all(added in (0, 1) for added in replayed.each.values())
    store = Store.open(replayed.path)
    try:
        rows = alerts(store, "bru-each")
    finally:
        store.close()
    assert len(rows) == 11
    assert len({row["dedup_key"] for row in rows}) == 11
    departed = [str(row["plain"]).splitlines()[2] for row in rows]
    assert [line[len("departed ") :][:10] for line in departed] == [d.isoformat() for d in BELAVIA]
    assert all(str(row["plain"]).startswith("✈ BEN→MSQ: new flight BRU8802 (") for row in rows)


def test_the_route_rule_fired_once_with_three_flights(replayed: Replay) -> None:
    """30 days back from the morning of 7 June hold 16 and 30 May and 6 June: the rule
    fires with 3; the count never falls below 3 again, so it does not fire twice."""
    ((morning_of, text),) = replayed.fired
    assert morning_of == date(2025, 6, 7)
    assert text.splitlines()[:5] == [
        "✈ BEN→MSQ: 3 flights in the last 30 days",
        "Benghazi (HLLB) → Minsk (UMMS)",
        "• 2025-05-16 BRU8802 5100b2",
        "• 2025-05-30 BRU8802 5100a8",
        "• 2025-06-06 BRU8802 5100b2",
    ]
    assert "at least 3 · complete coverage (30 days)" in text


NOW = datetime(2025, 8, 2, 12, tzinfo=UTC)


async def test_route_command_answers_with_one_png(
    replayed: Replay, telegram_api: FakeTelegramAPI
) -> None:
    """/route BEN MSQ BRU and /route BEN MSQ through the real PTB application: one photo
    each, a PNG (decoded, not judged by its pixels), its caption the table: 2, 5, 4 for
    Belavia, and the charter in June for all operators."""
    store = Store.open(replayed.path)
    settings = make_config(telegram_api.url, {"news": "http://127.0.0.1:9/feed"})
    app = build_application(
        TEST_TOKEN,
        telegram_api.url,
        [ADMIN],
        store,
        clock=lambda: NOW,
        config=lambda: settings,
        chart=route_chart,
    )
    try:
        async with serving(app):
            telegram_api.push_message(ADMIN, ADMIN, "/route BEN MSQ BRU")
            telegram_api.push_message(ADMIN, ADMIN, "/route BEN MSQ")
            await eventually(lambda: len(telegram_api.photos_to(ADMIN)) == 2, what="2 charts")
    finally:
        store.close()
    counts = []
    for photo in telegram_api.photos_to(ADMIN):
        image = Image.open(io.BytesIO(photo.data))
        image.load()
        assert image.format == "PNG"
        assert min(image.size) > 100
        rows = dict(
            line.split()[:2]
            for line in photo.visible_caption.splitlines()
            if line.startswith("2025-0")
        )
        counts.append((rows["2025-05"], rows["2025-06"], rows["2025-07"]))
    assert counts == [("2", "5", "4"), ("2", "6", "4")]  # Belavia; all operators
    assert telegram_api.violations == []


def test_the_readme_chart_is_drawn_from_this_replay(
    replayed: Replay, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README shows the chart `--chart` draws on the replay's database: the picture in
    tests/data/flights/ is that command's output (same size; pixels may differ with the
    Pillow version), and the README names the command and the file."""
    drawn = tmp_path / "ben-msq.png"
    argv = ["route", "BEN", "MSQ", "--operator", "BRU", "--by", "month", "--from", "2025-05-01"]
    assert (
        main([*argv, "--to", "2025-07-31", "--db", str(replayed.path), "--chart", str(drawn)]) == 0
    )
    capsys.readouterr()
    shown = Path(__file__).parent / "data" / "flights" / "ben-msq-bru-2025.png"
    with Image.open(drawn) as new, Image.open(shown) as old:
        assert (new.format, new.size) == (old.format, old.size) == ("PNG", (900, 500))
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert "(tests/data/flights/ben-msq-bru-2025.png)" in readme
    assert "--by month --from\n2025-05-01 --to 2025-07-31 --chart ben-msq.png" in readme
