"""Aircraft details (issue 13, bullet 5): ADS-B v2's `r`, `t`, `ownOp` and `dbFlags` kept on
sightings and flights, the `[aircraft] database` file (OpenSky's and tar1090's formats) filling
OpenSky flights by icao24, and both shown in `vedette route` and route alerts.

The database samples below are written by hand in each format's real layout (headers, quoting,
separators) with made-up rows: no real data is copied."""

from __future__ import annotations

import gzip
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.aircraft import AircraftDatabase, AircraftDatabaseError, load_database, read_database
from bot.cli import main
from bot.config.types import AircraftSettings, ConfigError
from bot.config.validate import parse_config
from bot.flights.evidence import aircraft as evidence_aircraft
from bot.flights.pollers import AdsbPoller, OpenSkyPoller
from bot.flights.routes import flight_bullet
from bot.store import Store
from bot.store.records import StoredFlight
from tests.fakes.adsb_api import FakeAdsbApi
from tests.fakes.opensky_api import FakeOpenSky
from tests.fakes.telegram_api import TEST_CHAT_ID, TEST_TOKEN, FakeTelegramAPI
from tests.helpers import Clock, fast_options, start
from watchers.flights import Aircraft, Flight, Sighting
from watchers.legs import build_legs

# OpenSky's monthly file (aircraft-database-complete-YYYY-MM.csv): every column, quoted with '.
OPENSKY_COMPLETE = (
    "'icao24','timestamp','acars','adsb','built','categoryDescription','country','engines',"
    "'firstFlightDate','firstSeen','icaoAircraftClass','lineNumber','manufacturerIcao',"
    "'manufacturerName','model','modes','nextReg','notes','operator','operatorCallsign',"
    "'operatorIata','operatorIcao','owner','prevReg','regUntil','registered','registration',"
    "'selCal','serialNumber','status','typecode','vdl'\n"
    "'510207','2024-06-01 00:00:00',0,0,,'Landplane','Testland',,,,'L2J',,'BOEING',"
    "'Boeing','737-8ZM',0,,,'Example Air','EXAMPLE','','EXA','Example Leasing',,,,"
    "'EW-455PA',,'12345',,'B738',0\n"
    "'0a1b2c','2024-06-01 00:00:00',0,0,,'Landplane','Testland',,,,'L2J',,'AIRBUS',"
    "'Airbus','A320-214',0,,,'','','','','Private Owner',,,,'5A-XYZ',,'678',,'A320',0\n"
    "'4b1f00','2024-06-01 00:00:00',0,0,,'',,,,,,,,,,0,,,'',,'','','',,,,'',,,,'',0\n"
)
# The older aircraftDatabase.csv: lower-case column names, quoted with ".
OPENSKY_LEGACY = (
    '"icao24","registration","manufacturericao","manufacturername","model","typecode",'
    '"serialnumber","linenumber","icaoaircrafttype","operator","operatorcallsign",'
    '"operatoricao","operatoriata","owner","testreg","registered","reguntil","status","built",'
    '"firstflightdate","seatconfiguration","engines","modes","adsb","acars","notes",'
    '"categoryDescription"\n'
    '"510207","EW-455PA","BOEING","Boeing","737-8ZM","B738","12345","","L2J","Example Air",'
    '"EXAMPLE","EXA","","Example Leasing, Ltd","","","","","","","","","false","false",'
    '"false","",""\n'
)
# tar1090-db's aircraft.csv: no header, icao;reg;type;flags;desc;year;ownop; (upper-case hex).
TAR1090 = (
    "0A1B2C;5A-XYZ;A320;00;AIRBUS A-320;2011;Private Owner;\n"
    "510207;EW-455PA;B738;00;BOEING 737-800;2016;Example Air;\n"
    "7C0001;A97-001;C30J;10;LOCKHEED C-130J Hercules;;Example Air Force;\n"
)

NOW = datetime(2026, 7, 6, 12, tzinfo=UTC)


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def sky_flight(icao24: str = "510207", **aircraft: Any) -> Flight:
    """A BRU8801 HLLB→UMMS flight from OpenSky ("sky"), with these aircraft fields."""
    base = Flight(icao24, "BRU8801", "BRU", "HLLB", "UMMS", at("2026-07-04"), None, "sky")
    return replace(base, **aircraft)


# ───────────────────────────── the database file ─────────────────────────────


@pytest.mark.parametrize(
    ("name", "text", "owner"),
    [
        ("aircraft-database-complete-2024-06.csv", OPENSKY_COMPLETE, "Example Air"),
        ("aircraftDatabase.csv", OPENSKY_LEGACY, "Example Air"),
        ("saved-by-excel.csv", "\ufeff" + OPENSKY_COMPLETE, "Example Air"),
        ("aircraft.csv", TAR1090, "Example Air"),
        ("aircraft.csv.gz", TAR1090, "Example Air"),
    ],
)
def test_both_formats_are_read_by_icao24(tmp_path: Path, name: str, text: str, owner: str) -> None:
    database = load_database(write(tmp_path, name, text))
    known = database.get("510207")
    assert known is not None
    assert (known.registration, known.aircraft_type, known.owner) == ("EW-455PA", "B738", owner)
    assert database.get("510207") == database.get("510207".upper())
    assert database.get("510208") is None
    assert database.get("~510207") is None  # a non-ICAO address is in no database


def test_format_is_told_from_the_first_line(tmp_path: Path) -> None:
    assert load_database(write(tmp_path, "a.csv", OPENSKY_COMPLETE)).kind == "opensky"
    assert load_database(write(tmp_path, "b.csv", TAR1090)).kind == "tar1090"


def test_opensky_owner_stands_in_when_no_operator_and_blank_rows_know_nothing(
    tmp_path: Path,
) -> None:
    database = load_database(write(tmp_path, "a.csv", OPENSKY_COMPLETE))
    assert database.get("0a1b2c") == Aircraft("5A-XYZ", "A320", "Private Owner", None)
    assert database.get("4b1f00") == Aircraft(None, None, None, None)
    assert len(database) == 3


def test_tar1090_military_flag_is_the_first_flag(tmp_path: Path) -> None:
    database = load_database(write(tmp_path, "aircraft.csv.gz", TAR1090))
    c130, airliner = database.get("7c0001"), database.get("510207")
    assert c130 == Aircraft("A97-001", "C30J", "Example Air Force", military=True)
    assert airliner == Aircraft("EW-455PA", "B738", "Example Air", military=False)


def test_unsorted_rows_and_repeats_are_found_first_row_winning(tmp_path: Path) -> None:
    text = (
        "ffff01;N1;B744;00;;;Cargo One;\n"
        "000001;D-AAAA;A321;00;;;First;\n"
        "800123;VT-ABC;B77W;00;;;Middle;\n"
        "000001;D-BBBB;A321;00;;;Second;\n"
    )
    database = load_database(write(tmp_path, "aircraft.csv", text))
    assert len(database) == 3
    assert [database.get(h).registration for h in ("000001", "800123", "ffff01")] == [  # type: ignore[union-attr]
        "D-AAAA",
        "VT-ABC",
        "N1",
    ]


def test_bad_rows_are_skipped_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = TAR1090 + "not-hex;X;Y;00;;;Z;\n12;short\n"
    caplog.set_level(logging.WARNING)
    database = load_database(write(tmp_path, "aircraft.csv", text))
    assert len(database) == 3
    [record] = caplog.records
    assert "aircraft.csv: skipped 2 malformed rows" in record.getMessage()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "not found"),
        (b"", "neither OpenSky's aircraft database"),
        (b"name,reg,type\nfoo,bar,baz\n", "neither OpenSky's aircraft database"),
        (b"'icao24','model'\n'510207','737'\n", "names neither registration nor typecode"),
        (b"\x1f\x8b\x08\x00garbage", "cannot read"),
        (b"'icao24','registration'\n", "no aircraft rows"),
        (bytes(range(256)) * 4, "neither OpenSky's aircraft database"),
    ],
)
def test_a_missing_or_malformed_file_is_one_warning_and_no_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "aircraft.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AircraftDatabaseError, match=problem):
        load_database(path)
    caplog.set_level(logging.WARNING)
    database = read_database(str(path))
    assert len(database) == 0
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert str(path) in record.getMessage()
    assert problem in record.getMessage()


def test_a_directory_is_a_warning_too(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    assert len(read_database(str(tmp_path))) == 0
    [record] = caplog.records
    assert f"{tmp_path}: cannot read" in record.getMessage()


def test_no_path_is_an_empty_database_without_a_word(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert len(read_database(None)) == 0
    assert caplog.records == []


def test_fill_keeps_what_the_flight_knows(tmp_path: Path) -> None:
    database = load_database(write(tmp_path, "aircraft.csv", TAR1090))
    [filled, kept, unknown] = database.fill(
        [sky_flight(), sky_flight(registration="EW-999PA"), sky_flight("abcdef")]
    )
    assert (filled.registration, filled.aircraft_type, filled.owner, filled.military) == (
        "EW-455PA",
        "B738",
        "Example Air",
        False,
    )
    assert (kept.registration, kept.aircraft_type) == ("EW-999PA", "B738")
    assert unknown == sky_flight("abcdef")
    assert AircraftDatabase.empty().fill([sky_flight()]) == [sky_flight()]


# ───────────────────────────── configuration ─────────────────────────────

BASE = '[[sources]]\nid = "f"\nkind = "rss"\nurl = "https://example.org/feed"\n\n'


def test_config_aircraft_database() -> None:
    assert parse_config(BASE).aircraft == AircraftSettings(None)
    config = parse_config(BASE + '[aircraft]\ndatabase = "/data/aircraft.csv"\n')
    assert config.aircraft.database == "/data/aircraft.csv"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[aircraft]\ndatabase = 3\n", "aircraft.database: must be the path"),
        ('[aircraft]\ndatabase = ""\n', "aircraft.database: must be the path"),
        ('[aircraft]\nfile = "x.csv"\n', "aircraft.file: unknown key (allowed here: database)"),
        ('aircraft = "x.csv"\n', "aircraft: must be a table"),
    ],
)
def test_config_aircraft_mistakes(table: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(table + BASE, "rules.toml")
    assert message in str(caught.value)
    assert "rules.toml:" in str(caught.value)


def test_check_warns_about_an_unreadable_database_but_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.toml"
    missing = tmp_path / "nowhere.csv"
    rules.write_text(f'[aircraft]\ndatabase = "{missing}"\n\n' + BASE, encoding="utf-8")
    assert main(["check", "--config", str(rules)]) == 0
    captured = capsys.readouterr()
    assert f"warning: aircraft.database: {missing}: not found\n" in captured.err
    assert "ok" in captured.out
    write(tmp_path, "nowhere.csv", TAR1090)
    assert main(["check", "--config", str(rules)]) == 0
    assert "aircraft" not in capsys.readouterr().err


# ───────────────────────────── sightings, legs, the store ─────────────────────────────


def sighting(minute: int, **aircraft: Any) -> Sighting:
    """A sighting of 510207 in flight, `minute`s after 09:00, with these aircraft fields."""
    when = at("2026-07-04") + timedelta(minutes=minute)
    base = Sighting("510207", "BRU8801", when, None, None, 30000, False, "live")
    return replace(base, **aircraft)


def test_legs_carry_the_aircraft_of_their_sightings() -> None:
    sightings = [
        sighting(0, registration="EW-455PA", aircraft_type="B738", military=False),
        sighting(5, registration="EW-455PA", owner="Example Air", military=True),
        sighting(10),
        sighting(15, registration="EW-OTHER"),
    ]
    [flight] = build_legs(sightings, routes={}, source="live")
    assert (flight.registration, flight.aircraft_type, flight.owner, flight.military) == (
        "EW-455PA",
        "B738",
        "Example Air",
        True,
    )
    [unknown] = build_legs([sighting(0), sighting(5)], routes={}, source="live")
    assert (unknown.registration, unknown.military) == (None, None)


def test_sightings_keep_their_aircraft_in_the_store(store: Store) -> None:
    kept = sighting(0, registration="EW-455PA", aircraft_type="B738", owner="Ex", military=True)
    store.record_sightings([kept, sighting(5)])
    assert store.sightings_since(["510207"], at("2026-07-04", 0)) == [kept, sighting(5)]


def test_merging_two_sources_keeps_every_known_value(store: Store) -> None:
    """A NULL never overwrites a known value; the first known value stays; military wins."""
    store.record_flights([sky_flight(registration="EW-455PA", military=False)], NOW)
    later = sky_flight(aircraft_type="B738", owner="Example Air", military=True)
    store.record_flights([replace(later, source="live")], NOW)
    store.record_flights([sky_flight(registration="EW-OTHER", military=False)], NOW)
    store.record_flights([sky_flight()], NOW)
    [flight] = store.flights_between(["HLLB"], ["UMMS"], at("2026-07-01"), at("2026-07-10"))
    assert flight.sources == ("sky", "live")
    assert (flight.registration, flight.aircraft_type, flight.owner, flight.military) == (
        "EW-455PA",
        "B738",
        "Example Air",
        True,
    )


def test_fill_aircraft_fills_stored_flights_once(store: Store, tmp_path: Path) -> None:
    store.record_flights([sky_flight(), sky_flight("abcdef", registration="N1")], NOW)
    database = load_database(write(tmp_path, "aircraft.csv", TAR1090))
    assert store.fill_aircraft(database.get) == 1
    assert store.fill_aircraft(database.get) == 0
    flights = store.flights_between(["HLLB"], ["UMMS"], at("2026-07-01"), at("2026-07-10"))
    assert [(f.icao24, f.registration, f.aircraft_type) for f in flights] == [
        ("510207", "EW-455PA", "B738"),
        ("abcdef", "N1", None),
    ]


# ───────────────────────────── the pollers ─────────────────────────────


async def test_adsb_answers_give_the_stored_flight_its_aircraft(
    store: Store, adsb_api: FakeAdsbApi
) -> None:
    """r, t, ownOp and dbFlags & 1 from the ADS-B API end up on the stored flight."""
    cfg = parse_config(
        f'[[sources]]\nid = "live"\nkind = "adsb"\napi_url = "{adsb_api.api_url}"\n'
        'callsigns = ["BRU8801"]\n',
        "test.toml",
    )
    adsb_api.routes = {"BRU8801": ("HLLB-UMMS", True)}
    start_at = at("2026-07-04")
    clock = Clock(start_at)
    positions = [(32.10, 20.27, "ground"), (32.2, 20.4, 5000), (45.0, 25.0, 37000)]
    async with httpx.AsyncClient() as client:
        live = AdsbPoller(store, client, cfg.adsb_sources[0], clock=clock, min_interval=0.01)
        for n, (lat, lon, alt) in enumerate(positions):
            clock.now = start_at + timedelta(minutes=10 * n)
            adsb_api.now_ms = int(clock.now.timestamp() * 1000)
            adsb_api.set_aircraft(
                [
                    {
                        "hex": "510207",
                        "flight": "BRU8801 ",
                        "r": "EW-455PA",
                        "t": "B738",
                        "ownOp": "Example Air",
                        "dbFlags": 1,
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
    [flight] = store.flights_between(["HLLB"], ["UMMS"], at("2026-07-01"), at("2026-07-10"))
    assert (flight.registration, flight.aircraft_type, flight.owner, flight.military) == (
        "EW-455PA",
        "B738",
        "Example Air",
        True,
    )


async def test_an_opensky_flight_gets_its_aircraft_from_the_database(
    store: Store, opensky_api: FakeOpenSky, tmp_path: Path
) -> None:
    opensky_api.credits = 10**6
    opensky_api.add_flight(
        icao24="510207", first_seen=at("2026-07-04"), last_seen=at("2026-07-04", 13),
        callsign="BRU8801 ",
    )  # fmt: skip
    cfg = parse_config(
        '[[sources]]\nid = "sky"\nkind = "opensky"\nairports = ["HLLB", "UMMS"]\n'
        f'lookback = "3d"\napi_url = "{opensky_api.api_url}"\n'
        f'auth_url = "{opensky_api.auth_url}"\n',
        "test.toml",
    )
    database = load_database(write(tmp_path, "aircraft-database.csv", OPENSKY_COMPLETE))
    async with httpx.AsyncClient() as client:
        sky = OpenSkyPoller(
            store,
            client,
            cfg.opensky_sources[0],
            credentials=None,
            clock=Clock(NOW),
            aircraft=database,
        )
        assert (await sky.poll()).error is None
    [flight] = store.flights_between(["HLLB"], ["UMMS"], at("2026-07-01"), at("2026-07-10"))
    assert (flight.registration, flight.aircraft_type, flight.owner) == (
        "EW-455PA",
        "B738",
        "Example Air",
    )


# ───────────────────────────── shown ─────────────────────────────


def test_vedette_route_shows_registration_and_type(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    store.record_flights(
        [sky_flight(registration="EW-455PA", aircraft_type="B738"), sky_flight("510208")], NOW
    )
    argv = ["route", "BEN", "MSQ", "--from", "2026-07-01", "--to", "2026-07-05"]
    assert main([*argv, "--db", str(store.path)]) == 0
    out = capsys.readouterr().out
    assert "2026-07-04 09:00  BRU8801  510207  HLLB→UMMS  EW-455PA B738  sky\n" in out
    assert "2026-07-04 09:00  BRU8801  510208  HLLB→UMMS                 sky" in out


async def test_route_alert_shows_the_aircraft_from_the_configured_database(
    tmp_path: Path, opensky_api: FakeOpenSky, telegram_api: FakeTelegramAPI
) -> None:
    """`vedette run --once` reads `[aircraft] database` at start; the alert's flight lines show
    registration and type (flights it does not know show none)."""
    opensky_api.credits = 10**6
    for day, icao24 in (
        ("2026-05-02", "510207"),
        ("2026-06-05", "510207"),
        ("2026-07-04", "ffff01"),
    ):
        opensky_api.add_flight(
            icao24=icao24, first_seen=at(day), last_seen=at(day, 13), callsign="BRU8801 "
        )
    database = write(tmp_path, "aircraft.csv.gz", TAR1090)
    text = (
        f'[telegram]\napi_url = "{telegram_api.url}"\n\n'
        f"[channels.main]\nchat_id = {TEST_CHAT_ID}\n\n"
        f'[aircraft]\ndatabase = "{database}"\n\n'
        '[[sources]]\nid = "sky"\nkind = "opensky"\nairports = ["BEN", "MSQ"]\n'
        f'api_url = "{opensky_api.api_url}"\nauth_url = "{opensky_api.auth_url}"\n\n'
        '[[rules]]\nid = "ben-msq"\nkind = "route"\nfrom = "BEN"\nto = "MSQ"\n'
        'window = "90d"\nat_least = 3\nchannel = "main"\n'
    )
    cfg = parse_config(text, "test.toml")
    bot = start(
        cfg, tmp_path / "v.db", TEST_TOKEN, fast_options(once=True, clock=Clock(at("2026-07-06")))
    )
    assert await bot.finish() == 0
    (message,) = telegram_api.messages_to(TEST_CHAT_ID)
    lines = message.visible_text.splitlines()
    assert "• 2026-05-02 BRU8801 510207 EW-455PA B738" in lines
    assert "• 2026-06-05 BRU8801 510207 EW-455PA B738" in lines
    assert "• 2026-07-04 BRU8801 ffff01" in lines


@pytest.mark.parametrize(
    ("registration", "aircraft_type", "line"),
    [
        ("EW-455PA", "B738", "• 2026-07-04 BRU8801 510207 EW-455PA B738"),
        (None, "B738", "• 2026-07-04 BRU8801 510207 B738"),
        ("EW-455PA", None, "• 2026-07-04 BRU8801 510207 EW-455PA"),
        (None, None, "• 2026-07-04 BRU8801 510207"),
    ],
)
def test_alert_flight_lines_show_what_is_known(
    registration: str | None, aircraft_type: str | None, line: str
) -> None:
    stored = StoredFlight(
        "510207",
        "BRU8801",
        "HLLB",
        "UMMS",
        at("2026-07-04"),
        ("sky",),
        registration=registration,
        aircraft_type=aircraft_type,
        owner="Example Air",
    )
    assert flight_bullet(stored) == line
    assert evidence_aircraft(stored) == line.split("510207")[1].strip()
