"""Route evidence: `bot.flights.evidence` over a real SQLite store (periods, counts, coverage,
text, JSON, chart bars) and `vedette route` through `bot.cli.main` (exit codes, messages,
`--json`, `--chart`)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.chart import Bar
from bot.cli import main
from bot.flights.evidence import (
    RouteReport,
    airports_of,
    chart_bars,
    periods,
    report_data,
    report_text,
    route_report,
    span,
)
from bot.store import Store
from tests.process import vedette
from watchers.flights import Flight

NOW = datetime(2025, 8, 2, 12, 0, tzinfo=UTC)  # OpenSky has published up to 2025-08-01
BEN, MJI, MSQ = "HLLB", "HLLM", "UMMS"


def flight(
    icao24: str,
    callsign: str | None,
    when: datetime,
    origin: str = BEN,
    destination: str = MSQ,
    source: str = "opensky",
) -> Flight:
    operator = callsign[:3] if callsign else None
    return Flight(icao24, callsign, operator, origin, destination, when, None, source)


def at(day: str, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


def days(first: str, last: str) -> list[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def fetched(
    store: Store,
    span_days: Iterable[date],
    airports: Iterable[str] = (BEN, MSQ),
    *,
    status: str = "ok",
    source: str = "sky",
) -> None:
    """Ledger rows: both directions of each airport fetched with `status` on each day."""
    for day in span_days:
        for airport in airports:
            for direction in ("departure", "arrival"):
                store.record_day(source, airport, direction, day, status, NOW)


BELAVIA = [  # 2 in May, 5 in June, 4 in July: the pattern of issue 13
    flight("510207", "BRU842", at("2025-05-03")),
    flight("510207", "BRU842", at("2025-05-31", 23, 50)),  # late on the last day of May
    *[flight("510208", "BRU842", at(f"2025-06-{d:02d}", 14)) for d in (1, 9, 16, 23, 30)],
    *[flight("510209", "BRU844", at(f"2025-07-{d:02d}", 23)) for d in (5, 12, 19, 26)],
]
OTHERS = [
    flight("4b1801", "SWR123", at("2025-06-10")),  # another operator on the route
    flight("510210", "BRU850", at("2025-06-11"), origin=MJI),  # another origin
    flight("510211", "BRU852", at("2025-06-12"), destination="EGLL"),  # another destination
    flight("510212", None, at("2025-07-01")),  # no callsign, so no operator
]


@pytest.fixture
def belavia(store: Store) -> Store:
    store.record_flights([*BELAVIA, *OTHERS], NOW)
    fetched(store, days("2025-05-01", "2025-07-31"))
    return store


# --- periods --------------------------------------------------------------------------------


def test_months_are_labelled_and_clipped_to_the_span() -> None:
    assert periods("month", date(2025, 5, 15), date(2025, 7, 10)) == [
        ("2025-05", date(2025, 5, 15), date(2025, 5, 31)),
        ("2025-06", date(2025, 6, 1), date(2025, 6, 30)),
        ("2025-07", date(2025, 7, 1), date(2025, 7, 10)),
    ]
    assert periods("month", date(2024, 12, 31), date(2025, 1, 1)) == [
        ("2024-12", date(2024, 12, 31), date(2024, 12, 31)),
        ("2025-01", date(2025, 1, 1), date(2025, 1, 1)),
    ]


def test_weeks_are_iso_weeks_with_the_iso_year() -> None:
    """2024-12-30 is in week 1 of 2025; weeks run Monday to Sunday, clipped at both ends."""
    assert periods("week", date(2024, 12, 28), date(2025, 1, 8)) == [
        ("2024-W52", date(2024, 12, 28), date(2024, 12, 29)),
        ("2025-W01", date(2024, 12, 30), date(2025, 1, 5)),
        ("2025-W02", date(2025, 1, 6), date(2025, 1, 8)),
    ]


def test_days_are_one_period_each() -> None:
    assert periods("day", date(2025, 6, 30), date(2025, 7, 1)) == [
        ("2025-06-30", date(2025, 6, 30), date(2025, 6, 30)),
        ("2025-07-01", date(2025, 7, 1), date(2025, 7, 1)),
    ]
    assert [p[0] for p in periods("month", date(2025, 6, 5), date(2025, 6, 5))] == ["2025-06"]
    with pytest.raises(ValueError, match="by must be one of day, week, month"):
        periods("year", date(2025, 6, 5), date(2025, 6, 5))


# --- counts ---------------------------------------------------------------------------------


def report_of(
    store: Store,
    by: str = "month",
    operator: str | None = "BRU",
    *,
    origins: tuple[str, ...] = (BEN,),
    destinations: tuple[str, ...] = (MSQ,),
    start: date = date(2025, 5, 1),
    end: date = date(2025, 7, 31),
) -> RouteReport:
    return route_report(
        store, origins, destinations, operator=operator, by=by, start=start, end=end, now=NOW
    )


def test_flights_are_counted_per_month_by_utc_departure_day(belavia: Store) -> None:
    report = report_of(belavia)
    assert [(p.label, p.count) for p in report.periods] == [
        ("2025-05", 2),
        ("2025-06", 5),
        ("2025-07", 4),
    ]
    assert report.total == 11
    assert [f.icao24 for f in report.flights][:2] == ["510207", "510207"]
    assert report.title == "Benghazi (HLLB) → Minsk (UMMS) · operator BRU"


def test_weeks_and_days_count_the_same_flights(belavia: Store) -> None:
    weeks = report_of(belavia, by="week", start=date(2025, 6, 1), end=date(2025, 6, 15))
    assert [(p.label, p.start, p.count) for p in weeks.periods] == [
        ("2025-W22", date(2025, 6, 1), 1),  # Sunday 1 June, the week clipped to it
        ("2025-W23", date(2025, 6, 2), 0),
        ("2025-W24", date(2025, 6, 9), 1),
    ]
    by_day = report_of(belavia, by="day", start=date(2025, 5, 31), end=date(2025, 6, 1))
    assert [(p.label, p.count) for p in by_day.periods] == [("2025-05-31", 1), ("2025-06-01", 1)]


def test_without_operator_every_airline_counts(belavia: Store) -> None:
    report = report_of(belavia, operator=None)
    assert [p.count for p in report.periods] == [2, 6, 5]  # + SWR123, + the one without callsign
    assert report.title == "Benghazi (HLLB) → Minsk (UMMS)"


def test_lists_of_codes_count_every_pair(belavia: Store) -> None:
    report = report_of(belavia, origins=(BEN, MJI), destinations=(MSQ, "EGLL"))
    assert [p.count for p in report.periods] == [2, 7, 4]
    assert report.title == (
        "Benghazi (HLLB) / Tripoli (HLLM) → Minsk (UMMS) / London (EGLL) · operator BRU"
    )


def test_codes_are_read_as_rules_read_them() -> None:
    assert airports_of("BEN") == (BEN,)
    assert airports_of("hllb, MJI,BEN") == (BEN, MJI)
    with pytest.raises(ValueError, match='unknown airport code "XXX"'):
        airports_of("BEN,XXX")
    with pytest.raises(ValueError, match='unknown airport codes "XXX", "QQQQ"'):
        airports_of("XXX,QQQQ")


# --- coverage -------------------------------------------------------------------------------


def test_coverage_complete_missing_failed_and_not_fetched_yet(store: Store) -> None:
    """June fetched, one day failed; July fetched up to the 28th; OpenSky has published up
    to 2025-08-01 at NOW, so 29..31 July are missing, 2 August is not published yet."""
    fetched(store, days("2025-06-01", "2025-07-28"))
    fetched(store, [date(2025, 6, 14)], [MSQ], status="rate_limited")
    report = report_of(store, start=date(2025, 5, 30), end=date(2025, 8, 2))
    may, june, july, august = report.periods
    assert may.missing == (date(2025, 5, 30), date(2025, 5, 31))
    assert may.pending == ()
    assert june.gaps == (date(2025, 6, 14),)
    assert not june.missing
    assert not june.complete
    assert july.missing == tuple(days("2025-07-29", "2025-07-31"))
    assert august.missing == (date(2025, 8, 1), date(2025, 8, 2))
    assert august.pending == (date(2025, 8, 2),)
    complete = report_of(store, start=date(2025, 7, 1), end=date(2025, 7, 28))
    assert complete.periods[0].complete
    assert complete.complete
    text = report_text(report)
    assert "2025-05        0  2 days not fetched (2025-05-30, 2025-05-31)\n" in text
    assert "2025-06        0  1 day failed (2025-06-14)\n" in text
    assert "2025-07        0  3 days not fetched (2025-07-29, 2025-07-30…)\n" in text
    assert (
        "2025-08        0  1 day not fetched (2025-08-01), 1 day not fetched yet (2025-08-02)"
        in (text)
    )
    assert (
        "total          0  incomplete: 6 days not fetched, 1 day not fetched yet, 1 day failed"
        in (text)
    )


def test_a_day_is_covered_only_when_every_listed_airport_is(store: Store) -> None:
    """Two sources hold days of these airports: a day is complete when both have it."""
    fetched(store, days("2025-06-01", "2025-06-02"), [BEN], source="sky")
    fetched(store, [date(2025, 6, 1)], [MSQ], source="sky-minsk")
    report = report_of(store, by="day", start=date(2025, 6, 1), end=date(2025, 6, 2))
    assert [p.complete for p in report.periods] == [True, False]


def test_airports_with_no_daily_list_are_live_only(store: Store) -> None:
    store.record_flights([flight("510207", "BRU842", at("2025-06-03"), source="adsb")], NOW)
    fetched(store, days("2025-06-01", "2025-06-30"), ["EGLL"])  # another airport's lists
    report = report_of(store, start=date(2025, 6, 1), end=date(2025, 6, 30))
    (june,) = report.periods
    assert june.unchecked
    assert not june.complete
    assert june.count == 1
    text = report_text(report)
    assert "2025-06        1  live only (no daily flight lists)" in text
    assert "total          1  live only (no daily flight lists)" in text


# --- text, JSON, chart bars -----------------------------------------------------------------


def test_the_text_is_a_table_then_the_flights(belavia: Store) -> None:
    belavia.record_flights([flight("510208", "BRU842", at("2025-06-01", 14), source="adsb")], NOW)
    report = report_of(belavia, start=date(2025, 5, 20), end=date(2025, 6, 9))
    assert report_text(report) == "\n".join(
        [
            "Benghazi (HLLB) → Minsk (UMMS) · operator BRU",
            "flights per month, 2025-05-20 to 2025-06-09 (UTC days)",
            "",
            "period   flights  coverage",
            "2025-05        1  complete",
            "2025-06        2  complete",
            "total          3  complete",
            "",
            "3 flights (UTC):",
            "2025-05-31 23:50  BRU842  510207  HLLB→UMMS  opensky",
            "2025-06-01 14:00  BRU842  510208  HLLB→UMMS  opensky,adsb",
            "2025-06-09 14:00  BRU842  510208  HLLB→UMMS  opensky",
        ]
    )


def test_an_empty_result_is_a_table_of_zeros_with_its_coverage(store: Store) -> None:
    fetched(store, days("2025-06-01", "2025-06-30"))
    report = report_of(store, start=date(2025, 6, 1), end=date(2025, 7, 3))
    assert [(p.label, p.count, p.complete) for p in report.periods] == [
        ("2025-06", 0, True),
        ("2025-07", 0, False),
    ]
    text = report_text(report)
    assert "2025-07        0  3 days not fetched (2025-07-01, 2025-07-02…)" in text
    assert text.endswith("\n\nNo flights.")


def test_json_holds_the_periods_coverage_and_flights(store: Store) -> None:
    known = replace(
        flight("510207", "BRU842", at("2025-06-03", 7, 5)),
        registration="EW-455PA",
        aircraft_type="B738",
        owner="Belavia",
        military=False,
    )
    store.record_flights([known], NOW)
    fetched(store, [date(2025, 6, 2)])
    fetched(store, [date(2025, 6, 3)], status="failed")
    report = report_of(store, by="day", start=date(2025, 6, 2), end=date(2025, 6, 3))
    data = json.loads(json.dumps(report_data(report)))
    assert data == {
        "title": "Benghazi (HLLB) → Minsk (UMMS) · operator BRU",
        "from": ["HLLB"],
        "to": ["UMMS"],
        "operator": "BRU",
        "by": "day",
        "start": "2025-06-02",
        "end": "2025-06-03",
        "total": 1,
        "complete": False,
        "periods": [
            {
                "label": "2025-06-02",
                "start": "2025-06-02",
                "end": "2025-06-02",
                "flights": 0,
                "complete": True,
                "missing": [],
                "pending": [],
                "gaps": [],
                "unchecked": False,
            },
            {
                "label": "2025-06-03",
                "start": "2025-06-03",
                "end": "2025-06-03",
                "flights": 1,
                "complete": False,
                "missing": [],
                "pending": [],
                "gaps": ["2025-06-03"],
                "unchecked": False,
            },
        ],
        "flights": [
            {
                "departure": "2025-06-03T07:05:00+00:00",
                "callsign": "BRU842",
                "icao24": "510207",
                "from": "HLLB",
                "to": "UMMS",
                "registration": "EW-455PA",
                "type": "B738",
                "owner": "Belavia",
                "military": False,
                "sources": ["opensky"],
            }
        ],
    }


def test_chart_bars_are_the_periods_marked_when_incomplete(store: Store) -> None:
    store.record_flights(BELAVIA, NOW)
    fetched(store, days("2025-05-01", "2025-06-30"))
    report = report_of(store)
    assert chart_bars(report) == [
        Bar("2025-05", 2, True),
        Bar("2025-06", 5, True),
        Bar("2025-07", 4, False),
    ]


def test_the_span_defaults_to_180_days_up_to_today() -> None:
    assert span(NOW) == (date(2025, 2, 3), date(2025, 8, 2))
    assert span(NOW, since=30 * 86400) == (date(2025, 7, 3), date(2025, 8, 2))
    assert span(NOW, first=date(2025, 7, 1)) == (date(2025, 7, 1), date(2025, 8, 2))
    assert span(NOW, last=date(2025, 7, 1)) == (date(2025, 1, 2), date(2025, 7, 1))
    with pytest.raises(ValueError, match="--since counts back from today"):
        span(NOW, since=86400, last=date(2025, 7, 1))


# --- vedette route --------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def on(store: Store, *args: str) -> list[str]:
    return ["route", *args, "--db", str(store.path)]


def test_route_prints_the_table_from_the_database(
    belavia: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    before = Path(belavia.path).read_bytes()
    argv = on(
        belavia, "BEN", "MSQ", "--operator", "bru", "--from", "2025-05-01", "--to", "2025-07-31"
    )
    code, out, err = run_cli(capsys, *argv)
    assert (code, err) == (0, "")
    assert out.startswith("Benghazi (HLLB) → Minsk (UMMS) · operator BRU\n")
    assert (
        "2025-05        2  complete\n2025-06        5  complete\n2025-07        4  complete\n"
        in out
    )
    assert "total         11  complete" in out
    assert "2025-07-26 23:00  BRU844  510209  HLLB→UMMS  opensky" in out
    assert Path(belavia.path).read_bytes() == before  # read-only: nothing written


def test_route_reads_lists_of_codes_and_weeks(
    belavia: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = on(
        belavia, "BEN,MJI", "UMMS", "--by", "week", "--from", "2025-06-09", "--to", "2025-06-15"
    )
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0
    assert "Benghazi (HLLB) / Tripoli (HLLM) → Minsk (UMMS)\n" in out
    assert "2025-W24        3  complete" in out  # SWR123, BRU850 from HLLM, BRU842 on the 9th


def test_route_json(belavia: Store, capsys: pytest.CaptureFixture[str]) -> None:
    argv = on(
        belavia,
        "BEN",
        "MSQ",
        "--operator",
        "BRU",
        "--from",
        "2025-05-01",
        "--to",
        "2025-07-31",
        "--json",
    )
    code, out, _ = run_cli(capsys, *argv)
    data = json.loads(out)
    assert code == 0
    assert [(p["label"], p["flights"], p["complete"]) for p in data["periods"]] == [
        ("2025-05", 2, True),
        ("2025-06", 5, True),
        ("2025-07", 4, True),
    ]
    assert data["total"] == 11
    assert set(data["flights"][0]) == {
        "departure",
        "callsign",
        "icao24",
        "from",
        "to",
        "registration",
        "owner",
        "military",
        "type",
        "sources",
    }


def test_route_by_default_covers_180_days_up_to_today(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """No flights: zeros; one day fetched, the others not, and today not fetched yet
    (OpenSky lists it tomorrow)."""
    today = datetime.now(UTC).date()
    fetched(store, [today - timedelta(days=100)])
    code, out, _ = run_cli(capsys, *on(store, "BEN", "MSQ", "--json"))
    data = json.loads(out)
    assert code == 0
    assert data["end"] == today.isoformat()
    assert data["start"] == (today - timedelta(days=180)).isoformat()
    assert data["total"] == 0
    assert data["periods"][-1]["pending"][-1] == today.isoformat()
    code, out, _ = run_cli(capsys, *on(store, "BEN", "MSQ", "--since", "2d"))
    assert code == 0
    assert "not fetched yet" in out
    assert out.endswith("No flights.\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["XXX", "MSQ"], 'vedette: FROM: unknown airport code "XXX" (use an IATA code like BEN'),
        (["BEN", "MSQ,ZZZZ"], 'vedette: TO: unknown airport code "ZZZZ"'),
        (["BEN", ","], "vedette: TO: no airport code"),
        (["BEN", "MSQ", "--operator", "B1"], 'vedette: --operator "B1" must be a 3-letter ICAO'),
        (["BEN", "MSQ", "--from", "2025-13-01"], 'vedette: --from: "2025-13-01" is not a date'),
        (["BEN", "MSQ", "--to", "1 May"], 'vedette: --to: "1 May" is not a date (YYYY-MM-DD'),
        (
            ["BEN", "MSQ", "--from", "2025-08-01", "--to", "2025-07-31"],
            "vedette: --from 2025-08-01 is after --to 2025-07-31",
        ),
        (["BEN", "MSQ", "--from", "2999-01-01"], "vedette: --from 2999-01-01 is after today ("),
        (
            ["BEN", "MSQ", "--since", "30d", "--from", "2025-07-01"],
            "vedette: --since counts back from today: give it alone, or --from/--to",
        ),
        (["BEN", "MSQ", "--since", "a week"], 'vedette: --since: bad duration "a week"'),
    ],
)
def test_a_bad_code_or_date_exits_2_naming_it(
    store: Store, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run_cli(capsys, *on(store, *args))
    assert (code, out) == (2, "")
    assert err.startswith(message)
    assert len(err.splitlines()) == 1


def test_a_bad_period_is_refused_by_the_parser(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(on(store, "BEN", "MSQ", "--by", "year"))
    assert exit_.value.code == 2
    assert "invalid choice: 'year'" in capsys.readouterr().err


def test_no_database_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.db"
    code, out, err = run_cli(capsys, "route", "BEN", "MSQ", "--db", str(missing))
    assert (code, out) == (1, "")
    assert err == f"vedette: no database at {missing} (has `vedette run` used it yet?)\n"
    assert not missing.exists()


def test_chart_writes_a_png(
    belavia: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "route.png"
    argv = on(
        belavia, "BEN", "MSQ", "--from", "2025-05-01", "--to", "2025-07-31", "--chart", str(png)
    )
    code, out, err = run_cli(capsys, *argv)
    assert (code, err) == (0, "")
    assert "total" in out
    with Image.open(io.BytesIO(png.read_bytes())) as image:
        assert image.format == "PNG"
        assert image.width > 300
        assert image.height > 200
        assert len(image.convert("L").getcolors(maxcolors=1 << 16) or []) > 2  # not blank


def test_a_chart_that_cannot_be_drawn_still_prints_the_table_and_exits_1(
    belavia: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "route.png"
    argv = on(
        belavia,
        "BEN",
        "MSQ",
        "--by",
        "day",
        "--from",
        "2024-01-01",
        "--to",
        "2025-07-31",
        "--chart",
        str(png),
    )
    code, out, err = run_cli(capsys, *argv)
    assert code == 1
    assert "total            13  incomplete: 486 days not fetched\n" in out
    assert err.startswith(f"vedette: --chart {png}: the chart could not be drawn: 578 bars")
    assert not png.exists()
    unwritable = tmp_path / "no-such-folder" / "route.png"
    argv = on(
        belavia,
        "BEN",
        "MSQ",
        "--from",
        "2025-05-01",
        "--to",
        "2025-07-31",
        "--chart",
        str(unwritable),
    )
    code, out, err = run_cli(capsys, *argv)
    assert code == 1
    assert "total" in out
    assert err == f"vedette: --chart {unwritable}: cannot write it: No such file or directory\n"


def test_route_runs_as_a_process(belavia: Store, tmp_path: Path) -> None:
    """`python -m bot route`, the default database of its directory, up to today."""
    proc = vedette(tmp_path, "route", "BEN", "MSQ", "--operator", "BRU", "--from", "2025-06-01")
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (0, "")
    assert "\n2025-06        5  complete\n2025-07        4  complete\n2025-08        0  " in out
    assert "not fetched yet" in out
