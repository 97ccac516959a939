"""Source faults against the real bot: hostile or broken feeds next to a good one, OpenSky down.

Each news test serves a few bad feeds beside one good feed that gets new matching items. The
good feed must alert (each item once); each bad one must show its own clear error in
`/status`, naming the source, while nothing else is affected. The body cap is 1 MiB here
(fast_options) instead of 10 MiB, so 50 MB bodies and gzip bombs are cut quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config.validate import parse_config
from bot.runner import RunOptions, run
from bot.status import gather, render_status
from bot.store import Store
from tests.fakes.feed_server import FeedServer, gzip_bomb, rss
from tests.fakes.opensky_api import TEST_CLIENT_ID, TEST_CLIENT_SECRET
from tests.fakes.telegram_api import TEST_CHAT_ID, TEST_TOKEN, FakeTelegramAPI
from tests.faults import (
    FaultyOpenSky,
    assert_db_has_no_secret,
    assert_no_loss_no_dup,
    assert_no_secret,
    bot_logs,
    closed_port,
    delivered,
    faulty_opensky_fixture,  # noqa: F401
    finish,
    running,
    story,
    vedette,
)
from tests.helpers import Clock, eventually, fast_options, make_config
from watchers.clock import utcnow
from watchers.opensky_auth import OpenSkyCredentials

FEEDS = Path(__file__).parent / "data" / "feeds"
MB50 = 50 * 1024 * 1024


@dataclass(frozen=True)
class Bad:
    """A bad source: where it is, and what its error must say."""

    url: str
    says: str


async def bad_feeds_beside_a_good_one(
    tmp_path: Path,
    feed_server: FeedServer,
    telegram_api: FakeTelegramAPI,
    bad: Mapping[str, Bad],
) -> tuple[str, dict[str, str]]:
    """Run the bot on `bad` plus a good feed that gets new items; check the good one alerted
    once per item and each bad one failed with its error in /status. Returns the /status
    report and the error of every source."""
    feed_server.route("/good", body=rss([story(2), story(1)]))
    feeds = {"good": feed_server.url("/good"), **{ident: b.url for ident, b in bad.items()}}
    config = make_config(telegram_api.url, feeds, alert_existing=True)
    db = tmp_path / "v.db"
    store = Store.open(db)

    def failing() -> set[str]:
        return {h.id for h in store.source_health() if h.consecutive_failures}

    try:
        async with running(config, db, TEST_TOKEN, fast_options()) as bot:
            await eventually(lambda: len(delivered(telegram_api)) == 2, what="the first alerts")
            feed_server.route("/good", body=rss([story(n) for n in (4, 3, 2, 1)]))
            await eventually(
                lambda: failing() == set(bad) and len(delivered(telegram_api)) == 4,
                what="every bad source failing and the new alerts",
            )
            report = render_status(gather(store, list(feeds)), utcnow())
            assert await bot.stop() == 0
        errors = {h.id: h.last_error or "" for h in store.source_health()}
    finally:
        store.close()
    assert_no_loss_no_dup(delivered(telegram_api), range(1, 5))
    assert errors["good"] == ""
    assert "✓ good (rss): ok" in report
    for ident, source in bad.items():
        error = errors[ident]
        assert error.startswith(f"{ident}: "), error
        assert f"({source.url})" in error, error
        assert source.says in error, (ident, error)
        assert f"✗ {ident} (rss)" in report
        assert error in report, ident
    assert f"{len(bad) + 1} sources: 1 ok, {len(bad)} failing" in report
    assert telegram_api.violations == []
    assert_no_secret(report)
    assert_db_has_no_secret(db)
    return report, errors


async def test_malformed_and_non_feed_documents_fail_alone(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """Malformed XML, XML cut off before its items, an HTML page, 0 bytes, a path-like body,
    a feedparser crash and a 404 each show their own error; the good feed alerts."""
    routes = {
        "malformed": b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</b></channel>',
        "cut-off": b'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>',
        "html": (FEEDS / "html_page.html").read_bytes(),
        "empty": b"",
        "dev-zero": b"/dev/zero",
        "crash": (FEEDS / "crash_surrogate_char_ref.xml").read_bytes(),
    }
    for name, body in routes.items():
        feed_server.route(f"/{name}", body=body)
    feed_server.route("/gone", status=404, body=b"no such feed", content_type="text/plain")
    bad = {
        "malformed": Bad(feed_server.url("/malformed"), "malformed XML and no items"),
        "cut-off": Bad(feed_server.url("/cut-off"), "malformed XML and no items"),
        "html": Bad(feed_server.url("/html"), "not a feed: the server sent an HTML page"),
        "empty": Bad(feed_server.url("/empty"), "empty response body"),
        "dev-zero": Bad(feed_server.url("/dev-zero"), "not a feed: no RSS, Atom or JSON Feed"),
        "crash": Bad(feed_server.url("/crash"), "feedparser failed on this document"),
        "gone": Bad(feed_server.url("/gone"), "HTTP 404 Not Found"),
    }
    await bad_feeds_beside_a_good_one(tmp_path, feed_server, telegram_api, bad)


async def test_huge_bodies_bombs_and_entity_attacks_fail_at_their_limits(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """50 MB bodies (with and without Content-Length), a 50 MB gzip bomb, billion laughs and
    external entities (a local file, a remote DTD on our own server) are refused with errors
    naming the cap or the entity; the remote DTD is never fetched and no file is read."""
    block = b" " * 65536
    feed_server.route("/huge", body=block, repeat=MB50 // len(block), content_length=None)
    feed_server.route("/huge-declared", body=block, repeat=MB50 // len(block))
    feed_server.route("/bomb", body=gzip_bomb(MB50), headers={"Content-Encoding": "gzip"})
    feed_server.route("/laughs", body=(FEEDS / "billion_laughs_oneline.xml").read_bytes())
    feed_server.route("/xxe", body=(FEEDS / "xxe_file.xml").read_bytes())
    dtd = feed_server.url("/evil.dtd")
    feed_server.route(
        "/xxe-remote",
        body=(
            f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY % remote SYSTEM "{dtd}">\n'
            f'%remote;\n]>\n<rss version="2.0"><channel><title>x</title><item>'
            "<title>Haftar remote</title><guid>r1</guid></item></channel></rss>"
        ).encode(),
    )
    feed_server.route("/evil.dtd", body=b'<!ENTITY leak "Haftar leak">', content_type="text/xml")
    bad = {
        "huge": Bad(feed_server.url("/huge"), "response body larger than 1 MiB"),
        "huge-declared": Bad(
            feed_server.url("/huge-declared"),
            f"response body larger than 1 MiB (Content-Length: {MB50})",
        ),
        "bomb": Bad(feed_server.url("/bomb"), "response body larger than 1 MiB"),
        "laughs": Bad(
            feed_server.url("/laughs"), "XML entities that would expand to more than 1 MiB"
        ),
        "xxe": Bad(feed_server.url("/xxe"), "feed declares an external XML entity 'xxe'"),
        "xxe-remote": Bad(
            feed_server.url("/xxe-remote"), "feed declares a parameter entity 'remote'"
        ),
    }
    _, errors = await bad_feeds_beside_a_good_one(tmp_path, feed_server, telegram_api, bad)
    assert not [path for path, _ in feed_server.requests if path == "/evil.dtd"]
    assert "root:" not in "".join(errors.values())


async def test_network_misbehaviour_fails_alone_and_vedette_status_says_so(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """A server that accepts and never answers, one that drips, a redirect loop, a refused
    port and a body shorter than its Content-Length each fail with their own error, also in
    `vedette status`; the good feed alerts."""
    feed_server.route("/hang", hang=True)
    feed_server.route("/drip", body=rss([story(99)]), drip=0.4)
    feed_server.route("/loop", redirect_to="/loop")
    feed_server.route("/short", body=b"<rss", content_length=100_000)
    refused = f"http://127.0.0.1:{closed_port()}/feed"
    bad = {
        "hang": Bad(feed_server.url("/hang"), "read timeout: the server sent nothing for 1 s"),
        "drip": Bad(
            feed_server.url("/drip"), "timeout: no complete response within the overall deadline"
        ),
        "loop": Bad(feed_server.url("/loop"), "more than 5 redirects"),
        "refused": Bad(refused, "connection refused"),
        "short": Bad(feed_server.url("/short"), "the server broke the connection"),
    }
    report, _ = await bad_feeds_beside_a_good_one(tmp_path, feed_server, telegram_api, bad)
    status = vedette(tmp_path, "status", "--db", str(tmp_path / "v.db"))
    out, err = finish(status, 30)
    assert status.returncode == 0, err
    for line in report.splitlines()[3:]:  # the source lines (times may differ by a second)
        if line.startswith("   "):
            assert line.split("): ", 1)[1] in out
    assert_no_secret(out, err)


def feed_with(title_bytes: bytes, number: int, declared: str = "utf-8") -> bytes:
    """An RSS document with one item titled by raw bytes and one marker story."""
    return (
        (
            f'<?xml version="1.0" encoding="{declared}"?><rss version="2.0"><channel>'
            "<title>enc</title><item><title>"
        ).encode()
        + title_bytes
        + (
            f"</title><guid>raw-{number}</guid></item><item><title>Haftar story {number}</title>"
            f"<guid>story-{number}</guid></item></channel></rss>"
        ).encode()
    )


async def test_wrong_and_mixed_encodings_parse_with_mojibake_at_worst(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """feedparser decodes a lying declaration or charset, or mixed encodings, without error
    (mojibake at worst): those feeds record their items and alert, like the good one."""
    title = "Мінськ новини"
    feed_server.route("/cp1251-as-utf8", body=feed_with(title.encode("cp1251"), 101))
    feed_server.route(
        "/utf8-as-cp1251", body=feed_with(title.encode(), 102, declared="windows-1251")
    )
    feed_server.route("/mixed", body=feed_with(title.encode() + " café".encode("cp1252"), 103))
    feed_server.route(
        "/charset-lie",
        body=feed_with(title.encode(), 104),
        content_type="application/rss+xml; charset=iso-8859-1",
    )
    names = ("cp1251-as-utf8", "utf8-as-cp1251", "mixed", "charset-lie")
    feed_server.route("/good", body=rss([story(1)]))
    feeds = {"good": feed_server.url("/good"), **{n: feed_server.url(f"/{n}") for n in names}}
    db = tmp_path / "v.db"
    config = make_config(telegram_api.url, feeds, alert_existing=True)
    async with running(config, db, TEST_TOKEN, fast_options()) as bot:
        await eventually(lambda: len(delivered(telegram_api)) == 5, what="five alerts")
        feed_server.route("/good", body=rss([story(2), story(1)]))
        await eventually(lambda: len(delivered(telegram_api)) == 6, what="the new alert")
        assert await bot.stop() == 0
    assert_no_loss_no_dup(delivered(telegram_api), [1, 2, 101, 102, 103, 104])
    store = Store.open(db)
    try:
        assert all(h.last_error is None for h in store.source_health())
    finally:
        store.close()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        titles = dict(conn.execute("SELECT item_key, title FROM seen_items").fetchall())
    assert titles["charset-lie:raw-104"] == title  # the declaration is believed
    assert titles["cp1251-as-utf8:raw-101"] != title  # mojibake, not an error
    assert titles["mixed:raw-103"].endswith("café")


# ───────────────────────────── OpenSky ─────────────────────────────


def sky_config(telegram_url: str, feed_url: str, opensky: FaultyOpenSky) -> str:
    """A news feed and an OpenSky source, a keyword rule and a BEN→MSQ route rule."""
    return (
        f'[telegram]\napi_url = "{telegram_url}"\n\n'
        f"[channels.main]\nchat_id = {TEST_CHAT_ID}\n\n"
        f'[[sources]]\nid = "news"\nkind = "rss"\nurl = "{feed_url}"\nevery = "1s"\n'
        "alert_existing = true\n\n"
        '[[sources]]\nid = "sky"\nkind = "opensky"\nairports = ["HLLB", "UMMS"]\n'
        f'lookback = "3d"\napi_url = "{opensky.api_url}"\nauth_url = "{opensky.auth_url}"\n\n'
        '[[rules]]\nid = "watch"\nkind = "keywords"\nquery = "haftar"\nchannel = "main"\n\n'
        '[[rules]]\nid = "ben-msq"\nkind = "route"\nfrom = "BEN"\nto = "MSQ"\n'
        'window = "4d"\nat_least = 1\nchannel = "main"\n'
    )


def coverage(db: Path, day: str) -> list[tuple[str, str | None]]:
    """(status, error) of every ledger row for `day`."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(
            "SELECT status, error FROM coverage WHERE day = ? ORDER BY airport, direction", (day,)
        ).fetchall()


async def test_opensky_html_truncated_json_and_500_for_a_day(
    tmp_path: Path,
    feed_server: FeedServer,
    telegram_api: FakeTelegramAPI,
    faulty_opensky: FaultyOpenSky,
) -> None:
    """OpenSky answers an HTML page, then truncated JSON, then 500 for the rest of a day: each
    run shows that error for the source, the day's ledger rows are "failed" (never "empty"),
    the route says "incomplete coverage", news alerts keep flowing; the next day it recovers."""
    sky = faulty_opensky
    start = datetime(2026, 7, 6, 12, tzinfo=UTC)
    sky.add_flight(icao24="510123", first_seen=start - timedelta(days=1, hours=3), last_seen=start)
    clock = Clock(start)
    db = tmp_path / "v.db"
    stories: list[int] = []
    text = sky_config(telegram_api.url, feed_server.url("/feed"), sky)
    config = parse_config(text, "test.toml")
    credentials = OpenSkyCredentials(TEST_CLIENT_ID, TEST_CLIENT_SECRET)

    async def once(at: datetime, outage: str | None) -> str:
        """One `run --once` at `at` with OpenSky failing as `outage`; the /status report."""
        stories.append(len(stories) + 1)
        feed_server.route("/feed", body=rss([story(n) for n in reversed(stories)]))
        clock.now = at
        sky.outage(outage)
        options: RunOptions = fast_options(once=True, clock=clock)
        done = run(config, str(db), TEST_TOKEN, options, opensky=credentials)
        assert await asyncio.wait_for(done, 60) == (0 if outage is None else 3)  # 3: failed
        store = Store.open(db)
        try:
            return render_status(gather(store, ["news", "sky"]), at)
        finally:
            store.close()

    with bot_logs("DEBUG") as logs:
        report = await once(start, None)
        assert "✓ sky (opensky): ok" in report
        assert "ben-msq [FIRING]: BEN→MSQ: 1 in 4 days (alerts at 1) · complete coverage" in report
        day = datetime(2026, 7, 7, tzinfo=UTC)  # the 6th is published at 04:00 and fetched
        faults = [
            (day.replace(hour=6), "html", "OpenSky sent an HTML page instead of JSON"),
            (day.replace(hour=12), "truncated", "OpenSky sent invalid JSON (truncated or garbage)"),
            (day.replace(hour=18), "500", "OpenSky answered HTTP 500 Internal Server Error"),
            (day.replace(hour=23), "500", "OpenSky answered HTTP 500 Internal Server Error"),
        ]
        for failures, (at, kind, says) in enumerate(faults, start=1):
            report = await once(at, kind)
            assert "✗ sky (opensky)" in report
            assert f"{failures} failure{'s' if failures > 1 else ''} in a row" in report
            assert f"sky: {says}" in report, report
            assert "ben-msq [FIRING]: BEN→MSQ: 1 in 4 days" in report
            assert "incomplete coverage" in report
            assert "✓ news (rss)" in report
            rows = coverage(db, "2026-07-06")
            assert len(rows) == 3, rows  # a poll gives up after 3 failures
            assert {status for status, _ in rows} == {"failed"}, rows
            assert all(error and says in error for _, error in rows), rows
        report = await once(day + timedelta(days=1, hours=12), None)
    assert "✓ sky (opensky): ok" in report
    assert "complete coverage" in report
    assert {status for status, _ in coverage(db, "2026-07-06")} <= {"ok", "empty"}
    counts = delivered(telegram_api)
    assert_no_loss_no_dup(counts, stories)
    routes = [m for m in telegram_api.messages_to(TEST_CHAT_ID) if "BEN→MSQ" in m.visible_text]
    assert len(routes) == 1
    assert telegram_api.violations == []
    assert_no_secret(logs.getvalue(), report)
    assert_db_has_no_secret(db)
