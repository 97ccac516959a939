"""`/status` and `vedette status` at scale (issue 10): 500 sources, half of them failing,
written through the real store into a real SQLite file. Every source is shown, ids whole,
failing ones first with their last error; Telegram gets the summary first and as many
messages (each under the limit) as needed; nothing is cut."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot import __version__
from bot.cli import main
from bot.config.validate import parse_config
from bot.flights.pollers import OpenSkyPoller
from bot.status import MAX_CHARS, gather, render_status, status_data, status_messages
from bot.store import Store
from bot.telegram.commands import build_application
from bot.timeutil import iso
from tests.fakes.opensky_api import FakeOpenSky
from tests.fakes.telegram_api import (
    MAX_MESSAGE_LENGTH,
    TEST_TOKEN,
    FakeTelegramAPI,
    utf16_len,
)
from tests.helpers import ADMIN, eventually, serving
from watchers.flights import Flight
from watchers.http import Validators

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
SOURCES = 500
# Longer than the 44 characters the field trial saw ids cut at.
IDS = [f"regional-news-outlet-{n:03d}-with-a-rather-long-feed-identifier" for n in range(SOURCES)]


def failing(ident: str) -> bool:
    """Every other source fails (interleaved in id order, so the order shown is a choice)."""
    return int(ident.split("-")[3]) % 2 == 1


def error_of(ident: str) -> str:
    return f"{ident}: HTTP 503 Service Unavailable (https://feeds.example/{ident}.xml)"


@pytest.fixture
def big_db(tmp_path: Path) -> Path:
    """A database where 500 sources were polled: 250 ok, 250 failing (2 failures each)."""
    path = tmp_path / "scale.db"
    store = Store.open(path)
    try:
        store.set_meta(
            {
                "version": __version__,
                "started_at": iso(NOW - timedelta(hours=5)),
                "heartbeat_at": iso(NOW - timedelta(seconds=10)),
            }
        )
        for ident in IDS:
            store.record_success(ident, "rss", NOW - timedelta(hours=2), validators=Validators())
            if failing(ident):
                for minutes in (9, 4):
                    store.record_failure(
                        ident, "rss", NOW - timedelta(minutes=minutes), error_of(ident)
                    )
    finally:
        store.close()
    return path


def report_of(path: Path) -> str:
    store = Store.open(path, read_only=True)
    try:
        return render_status(gather(store), NOW)
    finally:
        store.close()


def messages_of(path: Path, limit: int = MAX_CHARS) -> list[str]:
    store = Store.open(path, read_only=True)
    try:
        return status_messages(gather(store), NOW, limit)
    finally:
        store.close()


def source_positions(text: str, mark: str) -> dict[str, int]:
    """Where each source's line (`✗ ID (rss): …`) starts, by id."""
    return {
        m.group(1): m.start()
        for m in re.finditer(rf"^{mark} (\S+) \(rss\): ", text, flags=re.MULTILINE)
    }


def test_the_cli_prints_every_source_whole_failing_first_with_its_error(
    big_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--db", str(big_db)]) == 0
    out = capsys.readouterr().out
    assert "500 sources: 250 ok, 250 failing" in out
    assert "more line" not in out
    bad = source_positions(out, "✗")
    good = source_positions(out, "✓")
    assert set(bad) == {i for i in IDS if failing(i)}
    assert set(good) == {i for i in IDS if not failing(i)}
    assert max(bad.values()) < min(good.values())  # every failing source before any healthy one
    lines = out.splitlines()
    for ident in bad:  # the CLI reads the real clock: ages vary, the rest does not
        [at] = [n for n, line in enumerate(lines) if line.startswith(f"✗ {ident} (rss): ok ")]
        assert lines[at].endswith(" ago, 0 items, 0 alerts")
        assert lines[at + 1].startswith("   2 failures in a row (last ")
        assert lines[at + 1].endswith(f" ago): {error_of(ident)}")
    assert lines.index("failing (250):") < lines.index("ok (250):")


def test_the_cli_json_has_every_source(big_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--db", str(big_db), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == __version__
    assert data["summary"] == {"sources": 500, "ok": 250, "failing": 250, "not_polled": 0}
    assert [s["id"] for s in data["sources"]] == sorted(IDS)
    for source in data["sources"]:
        assert source["kind"] == "rss"
        if failing(source["id"]):
            assert source["state"] == "failing"
            assert source["ok"] is False
            assert source["consecutive_failures"] == 2
            assert source["last_error"] == error_of(source["id"])
            assert source["last_error_at"] == iso(NOW - timedelta(minutes=4))
        else:
            assert source["state"] == "ok"
            assert source["ok"] is True
            assert source["last_error"] is None
        assert source["last_success_at"] == iso(NOW - timedelta(hours=2))
    assert data["outbox"]["pending"] == 0
    assert data["storage"]["rows"]["outbox"] == 0
    assert data["route_rules"] == []


def test_telegram_gets_the_summary_first_then_every_source_in_messages_under_the_limit(
    big_db: Path,
) -> None:
    messages = messages_of(big_db)
    assert len(messages) > 5
    assert all(utf16_len(m) <= MAX_CHARS < MAX_MESSAGE_LENGTH for m in messages)
    summary = messages[0]
    assert summary.startswith(f"vedette {__version__}: up 5h\n")
    assert "outbox: 0 pending, 0 sent, 0 failed" in summary
    assert summary.endswith("500 sources: 250 ok, 250 failing")
    # Nothing cut or left out: the messages put together are the whole report.
    assert "\n".join(messages) == report_of(big_db)
    assert "…" not in "".join(messages)
    every = "\n".join(messages)
    for ident in IDS:
        assert f" {ident} (rss): " in every
    # A failing source's error line stays with its source line; a heading never ends a message.
    for message in messages[1:]:
        assert not message.startswith("   ")
        assert not message.endswith(":")


def test_a_report_that_fits_is_one_message(big_db: Path, store: Store) -> None:
    store.record_success("only", "rss", NOW, validators=Validators())
    store.record_failure("broken", "rss", NOW, "broken: HTTP 404 Not Found")
    report = gather(store)
    [message] = status_messages(report, NOW)
    assert message == render_status(report, NOW)
    assert "2 sources: 1 ok, 1 failing\nfailing (1):\n✗ broken (rss)" in message


def test_an_over_long_error_is_cut_only_within_its_line(store: Store) -> None:
    """A huge error (astral characters count 2 UTF-16 units) is cut with "…" in Telegram,
    printed whole by the CLI; the lines around it are all there."""
    huge = "huge: " + "🛩" * 3000  # 3006 characters, 6006 UTF-16 units
    store.record_failure("huge", "rss", NOW, huge)
    store.record_failure("other", "rss", NOW, "other: timeout")
    report = gather(store)
    messages = status_messages(report, NOW)
    assert all(utf16_len(m) <= MAX_CHARS for m in messages)
    every = "\n".join(messages)
    assert "✗ huge (rss): never succeeded" in every
    assert "✗ other (rss): never succeeded" in every
    assert "   1 failure in a row (last 0s ago): other: timeout" in every
    [cut] = [line for line in every.splitlines() if "🛩" in line]
    assert cut.endswith("…")
    assert cut.startswith("   1 failure in a row (last 0s ago): huge: 🛩")
    assert huge in render_status(report, NOW)


# ── /status through python-telegram-bot and the fake Bot API ──


async def test_status_in_telegram_arrives_as_several_messages_in_order(
    big_db: Path, telegram_api: FakeTelegramAPI
) -> None:
    expected = messages_of(big_db)
    store = Store.open(big_db)
    try:
        app = build_application(TEST_TOKEN, telegram_api.url, [ADMIN], store, clock=lambda: NOW)
        async with serving(app):
            telegram_api.push_message(ADMIN, ADMIN, "/status")
            await eventually(
                lambda: len(telegram_api.messages_to(ADMIN)) >= len(expected),
                what="every /status message",
            )
    finally:
        store.close()
    received = [m.visible_text for m in telegram_api.messages_to(ADMIN)]
    assert received == expected
    assert len(received) > 1
    assert received[0].endswith("500 sources: 250 ok, 250 failing")
    assert telegram_api.violations == []


# ── an OpenSky source counts every flight stored from it ──


async def test_flights_seen_counts_every_stored_flight_after_a_failed_poll(
    store: Store, opensky_api: FakeOpenSky
) -> None:
    """A poll that stores flights, then runs into a rate limit, is recorded as a failure:
    /status still counts every flight stored from the source, as the storage line does."""
    for day in range(1, 4):
        for n in range(5):
            opensky_api.add_flight(
                icao24=f"51{day:02d}{n:02d}",
                first_seen=NOW - timedelta(days=day, hours=n + 1),
                last_seen=NOW - timedelta(days=day, hours=n),
                callsign=f"BRU{day}{n:02d}",
            )
    opensky_api.credits = 13 * 30  # 3 days of 4 queries, then 429
    config = parse_config(
        "[channels.main]\nchat_id = -1001234567890\n\n"
        '[[sources]]\nid = "opensky"\nkind = "opensky"\nairports = ["HLLB", "UMMS"]\n'
        f'lookback = "10d"\napi_url = "{opensky_api.api_url}"\n'
        f'auth_url = "{opensky_api.auth_url}"\n',
        "test.toml",
    )
    async with httpx.AsyncClient() as client:
        poller = OpenSkyPoller(
            store, client, config.opensky_sources[0], credentials=None, clock=lambda: NOW
        )
        outcome = await poller.poll()
    assert outcome.error is not None
    stored = store.flight_count("opensky")
    text = render_status(gather(store, ["opensky"]), NOW)
    assert stored >= 10
    line = next(line for line in text.splitlines() if line.startswith("✗ opensky"))
    assert line.startswith(f"✗ opensky (opensky): never succeeded, {stored} flights, ")
    assert f", {stored} flights, 0 sightings" in text  # the storage line agrees


def test_flights_seen_are_the_flights_stored_not_a_running_total(store: Store) -> None:
    """Flights stored without the poll's tally (a database from before the failure path
    counted them): /status reads the flights table, so the count is still every flight."""
    flights = [
        Flight(
            f"51{n:04x}",
            f"BRU{8800 + n}",
            "BRU",
            "HLLB",
            "UMMS",
            NOW - timedelta(days=1, hours=n),
            None,
            "opensky",
        )
        for n in range(40)
    ]
    assert store.record_flights(flights, NOW) == 40
    store.record_failure("opensky", "opensky", NOW, "opensky: HTTP 429 Too Many Requests")
    report = gather(store)
    text = render_status(report, NOW)
    assert "✗ opensky (opensky): never succeeded, 40 flights" in text
    [source] = status_data(report, NOW)["sources"]
    assert source["items"] == 40
