"""Field trial extras: `vedette init` and its packaged example, compose.yaml, the OpenSky
backfill's progress and source line, counted nouns in /status, and the README's /status."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, date, datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath

import httpx
import pytest

from bot import __version__, init
from bot.cli import main
from bot.config.types import Config
from bot.config.validate import parse_config
from bot.flights.pollers import OpenSkyPoller, RouteEvaluator
from bot.status import gather, render_status
from bot.store import Store
from bot.store.records import PruneReport
from bot.timeutil import iso
from tests.dockerfile import exec_form, final, final_env
from tests.fakes.opensky_api import FakeOpenSky
from tests.helpers import Clock, new_alert, outbox_rows
from watchers.discover import feed_links
from watchers.errors import ParseError
from watchers.feeds import parse_feed
from watchers.flights import Flight
from watchers.http import Validators
from watchers.items import NewsItem

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


# ── vedette init and the packaged example ──


def test_packaged_example_is_the_shipped_rules_toml() -> None:
    """One source of truth: the example in the package is the top-level rules.toml."""
    packaged = ROOT / "bot" / "data" / init.EXAMPLE
    assert packaged.read_bytes() == (ROOT / "rules.toml").read_bytes(), (
        "rules.toml changed: copy it to bot/data/rules.example.toml (`vedette init` writes it)"
    )


def test_importlib_resources_finds_the_example() -> None:
    assert init.example_text() == (ROOT / "rules.toml").read_text(encoding="utf-8")


def wheel_files() -> list[PurePosixPath]:
    """The files a wheel built from pyproject.toml holds: the modules of every package that
    `[tool.setuptools.packages.find]` includes (a folder with an `__init__.py` whose dotted
    name matches a pattern) and its package-data globs."""
    tool = PYPROJECT["tool"]["setuptools"]
    include = tool["packages"]["find"]["include"]
    data = tool.get("package-data", {})
    packages = sorted(
        ".".join(init_file.parent.relative_to(ROOT).parts)
        for init_file in ROOT.glob("**/__init__.py")
        if ".git" not in init_file.parts
    )
    found: list[PurePosixPath] = []
    for package in packages:
        if not any(fnmatch(package, pattern) for pattern in include):
            continue
        directory = ROOT / package.replace(".", "/")
        base = PurePosixPath(*package.split("."))
        found += [base / p.name for p in directory.glob("*.py")]
        for pattern in data.get(package, []):
            found += [base / p.relative_to(directory).as_posix() for p in directory.glob(pattern)]
    return found


def test_the_wheel_carries_the_example() -> None:
    assert PurePosixPath("bot", "data", init.EXAMPLE) in wheel_files()


def test_the_wheel_carries_the_chart_font_and_its_licence() -> None:
    fonts = PurePosixPath("bot", "data", "fonts")
    assert {fonts / "DejaVuSans.ttf", fonts / "DejaVuSans-LICENSE.txt"} <= set(wheel_files())


def test_init_works_from_an_installed_copy(tmp_path: Path) -> None:
    """`python -m bot init` from a copy of exactly what the wheel holds (not the source tree)
    writes the example, and it passes `vedette check`."""
    site = tmp_path / "site"
    for file in wheel_files():
        (site / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / file, site / file)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEDETTE_")}
    env["PYTHONPATH"] = str(site)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    where = run("-c", "import bot; print(bot.__file__)")
    assert Path(where.stdout.strip()).is_relative_to(site), where
    written = run("-m", "bot", "init")
    assert written.returncode == 0, written.stderr
    assert (work / "rules.toml").read_bytes() == (ROOT / "rules.toml").read_bytes()
    checked = run("-m", "bot", "check")
    assert checked.returncode == 0, checked.stderr


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VEDETTE_CONFIG", raising=False)
    return tmp_path


def test_init_writes_an_example_that_passes_check(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("wrote rules.toml: the commented example configuration. Next:")
    assert "\n  vedette check\n" in out
    assert (workdir / "rules.toml").read_bytes() == (ROOT / "rules.toml").read_bytes()
    assert main(["check"]) == 0


def test_init_elsewhere_names_the_file_in_the_next_steps(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory gets PATH/rules.toml; missing parents are created; --config is named."""
    assert main(["init", "my config/sub"]) == 0
    target = workdir / "my config" / "sub"
    assert target.is_file()
    assert "vedette check --config 'my config/sub'" in capsys.readouterr().out
    (workdir / "conf").mkdir()
    assert main(["init", "conf"]) == 0
    assert (workdir / "conf" / "rules.toml").is_file()
    assert main(["check", "--config", "conf/rules.toml"]) == 0


def test_init_never_overwrites_a_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "rules.toml").write_text("# mine\n", encoding="utf-8")
    assert main(["init"]) == 1
    err = capsys.readouterr().err
    assert "rules.toml already exists: not overwritten" in err
    assert (workdir / "rules.toml").read_text(encoding="utf-8") == "# mine\n"


def test_init_into_an_unwritable_place_is_one_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "file").write_text("", encoding="utf-8")
    assert main(["init", "file/rules.toml"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "vedette init: cannot write file/rules.toml: file is not a directory\n"
    assert "Traceback" not in captured.err


# ── compose.yaml ──


def parse_yaml(text: str) -> object:
    """The block YAML subset compose.yaml uses (mappings, `- ` lists of scalars, `[a, b]`,
    comments); anything else fails the test, so the file stays within what is checked."""
    lines: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s+)#.*$", "", raw).rstrip()
        if line.strip():
            assert "\t" not in line, f"compose.yaml:{number}: tab"
            lines.append((len(line) - len(line.lstrip(" ")), line.strip()))

    def scalar(value: str) -> object:
        if value.startswith("[") and value.endswith("]"):
            return [part.strip() for part in value[1:-1].split(",") if part.strip()]
        return {"true": True, "false": False}.get(value, value)

    def block(index: int, indent: int) -> tuple[object, int]:
        if lines[index][1].startswith("- "):
            items: list[object] = []
            while (
                index < len(lines)
                and lines[index][0] == indent
                and lines[index][1].startswith("- ")
            ):
                items.append(scalar(lines[index][1][2:].strip()))
                index += 1
            return items, index
        mapping: dict[str, object] = {}
        while index < len(lines) and lines[index][0] == indent:
            key, colon, rest = lines[index][1].partition(": ")
            if not colon:
                assert lines[index][1].endswith(":"), lines[index]
                key, rest = lines[index][1][:-1], ""
            index += 1
            if rest:
                mapping[key] = scalar(rest.strip())
            elif index < len(lines) and lines[index][0] > indent:
                mapping[key], index = block(index, lines[index][0])
            else:
                mapping[key] = None
        return mapping, index

    parsed, end = block(0, 0)
    assert end == len(lines), f"compose.yaml: cannot read {lines[end]}"
    return parsed


COMPOSE_TEXT = (ROOT / "compose.yaml").read_text(encoding="utf-8")


def test_readme_shows_compose_yaml_as_it_is() -> None:
    section = README.split("\n## Deployment\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    assert block == COMPOSE_TEXT, "copy compose.yaml into the README's Deployment section"
    assert "(compose.yaml)" in section


def test_compose_runs_the_image_as_the_dockerfile_expects() -> None:
    """One service built from this Dockerfile: the database volume on the image's VOLUME, the
    configuration where VEDETTE_CONFIG looks, secrets from an env file kept out of git and the
    build, the image's own healthcheck, and a writable /tmp beside a read-only root."""
    compose = parse_yaml(COMPOSE_TEXT)
    assert isinstance(compose, dict)
    (service,) = compose["services"].values()
    assert service["build"] == "."
    assert (ROOT / "Dockerfile").is_file()
    assert service["init"] is True
    assert service["restart"] == "unless-stopped"
    mounts = {m.split(":")[1]: m.split(":") for m in service["volumes"]}
    (data_volume,) = [exec_form(i.args) for i in final("VOLUME")]
    assert mounts[data_volume[0]][0] in compose["volumes"], "a named volume on /data"
    config_dir = str(PurePosixPath(final_env()["VEDETTE_CONFIG"]).parent)
    assert mounts[config_dir][2:] == ["ro"]
    env_file = service["env_file"]
    assert any(fnmatch(env_file, p) for p in (ROOT / ".gitignore").read_text().split())
    assert "**/*.env" in (ROOT / ".dockerignore").read_text().split()
    assert "healthcheck" not in service
    (check,) = final("HEALTHCHECK")
    assert exec_form(check.args.partition("CMD ")[2])[:2] == ["vedette", "healthcheck"]
    assert service["read_only"] is True
    assert any(t.startswith("/tmp:") for t in service["tmpfs"])
    assert service["cap_drop"] == ["ALL"]


# ── OpenSky: progress, source line after a 429, counted nouns ──


NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def sky_config(opensky: FakeOpenSky, lookback: str) -> Config:
    return parse_config(
        "[channels.main]\nchat_id = -1001234567890\n\n"
        '[[sources]]\nid = "opensky"\nkind = "opensky"\nairports = ["HLLB", "UMMS"]\n'
        f'lookback = "{lookback}"\napi_url = "{opensky.api_url}"\n'
        f'auth_url = "{opensky.auth_url}"\n',
        "test.toml",
    )


async def test_after_a_429_the_source_line_agrees_with_the_storage_line(
    store: Store, opensky_api: FakeOpenSky, caplog: pytest.LogCaptureFixture
) -> None:
    """13 day-queries, then 429 for 50000 s: `never succeeded`, the one flight stored, the
    backfill so far and when the next attempt is; the log says where the backfill stands."""
    opensky_api.credits = 13 * 30
    opensky_api.refill_after = 50_000
    opensky_api.add_flight(
        icao24="510207",
        first_seen=NOW - timedelta(days=2, hours=3),
        last_seen=NOW - timedelta(days=2),
        callsign="BRU8802",
    )
    clock = Clock(NOW)
    caplog.set_level(logging.INFO, logger="bot")
    async with httpx.AsyncClient() as client:
        poller = OpenSkyPoller(
            store,
            client,
            sky_config(opensky_api, "35d").opensky_sources[0],
            credentials=None,
            clock=clock,
        )
        outcome = await poller.poll()
    assert outcome.retry_after == 50_000
    text = render_status(gather(store, ["opensky"]), NOW + timedelta(minutes=2))
    line = next(line for line in text.splitlines() if line.startswith("✗ opensky"))
    assert line == (
        "✗ opensky (opensky): never succeeded, 1 flight, last day fetched 2026-12-05, "
        "0 credits left (390 spent)"
    )
    assert "ok never" not in text
    assert ", 1 flight, 0 sightings" in text  # the storage line
    assert (
        "   backfill: 3 of 35 days fetched, 32 to go; next attempt in ~13h (rate limited)" in text
    )
    assert "source opensky: 1 new flight" in caplog.messages
    assert (
        "source opensky: backfill 3 of 35 days fetched, 32 to go, 390 credits spent; "
        "rate limited, next attempt in ~13h" in caplog.messages
    )
    # Once the wait is over, the line no longer promises an attempt in the past.
    later = render_status(gather(store, ["opensky"]), NOW + timedelta(hours=15))
    assert "   backfill: 3 of 35 days fetched, 32 to go\n" in later + "\n"


async def test_a_long_backfill_logs_its_progress_then_a_day_a_poll_is_quiet(
    store: Store, opensky_api: FakeOpenSky, caplog: pytest.LogCaptureFixture
) -> None:
    """Every 10 days fetched and at the end; a routine poll of one new day logs no progress,
    and /status shows no backfill line once it is complete."""
    opensky_api.credits = 10**6
    clock = Clock(NOW)
    caplog.set_level(logging.INFO, logger="bot")
    source = sky_config(opensky_api, "25d").opensky_sources[0]
    async with httpx.AsyncClient() as client:
        poller = OpenSkyPoller(store, client, source, credentials=None, clock=clock)
        assert (await poller.poll()).error is None
        progress = [m for m in caplog.messages if "backfill" in m]
        assert progress == [
            "source opensky: backfill 10 of 25 days fetched, 15 to go, 1200 credits spent",
            "source opensky: backfill 20 of 25 days fetched, 5 to go, 2400 credits spent",
            "source opensky: backfill complete, 25 days fetched, 3000 credits spent",
        ]
        caplog.clear()
        clock.now = NOW + timedelta(days=1)
        assert (await poller.poll()).error is None
    assert [m for m in caplog.messages if "backfill" in m] == []
    text = render_status(gather(store, ["opensky"]), clock.now)
    assert "backfill" not in text
    assert "next attempt" not in text


def test_counted_nouns_in_status_lines(store: Store) -> None:
    """`1 item, 1 alert`, `1 flight`, `1 credit left`, `1 seen item` — not `1 items`."""
    item = NewsItem("b", "k1", "Title", "https://example.org/1", "", "", None)
    alert = new_alert("k1", source="b")
    store.record_success("b", "rss", NOW, validators=Validators(), items=[item], alerts=[alert])
    flight = Flight(
        "510207", "BRU8802", "BRU", "HLLB", "UMMS", NOW - timedelta(days=1), None, "sky"
    )
    store.record_flights([flight], NOW)
    store.record_success("sky", "opensky", NOW, validators=Validators())
    store.update_flight_source("sky", credits_left=1, credits_spent=30, last_day=date(2026, 12, 5))
    text = render_status(gather(store), NOW)
    assert "✓ b (rss): ok 0s ago, 1 item, 1 alert" in text
    assert (
        "✓ sky (opensky): ok 0s ago, 1 flight, last day fetched 2026-12-05, 1 credit left (30 spent)"
        in text
    )
    assert "; 1 alert, 1 seen item, 1 flight, 0 sightings" in text


# ── the README's example /status is real output ──

EXAMPLE_CONFIG = """
[channels.main]
chat_id = -1001234567890

[[sources]]
id = "opensky"
kind = "opensky"
airports = ["HLLB", "UMMS"]

[[rules]]
id = "ben-msq"
kind = "route"
from = "BEN"
to = "MSQ"
window = "30d"
at_least = 3
channel = "main"
"""

README_NOW = datetime(2026, 7, 5, 14, 2, tzinfo=UTC)


def readme_status_example() -> str:
    (block,) = re.findall(r"Example `/status`:\n\n```\n(.*?)```", README, flags=re.DOTALL)
    return block.rstrip("\n")


def fill_readme_store(store: Store) -> None:
    """The state the README's example describes, written through the store's own calls."""
    now, started = README_NOW, README_NOW - timedelta(hours=3, minutes=5)
    store.set_meta(
        {
            "version": __version__,
            "started_at": iso(started),
            "heartbeat_at": iso(now - timedelta(seconds=20)),
            "retention": "90d",
            "prune_every": "6h",
            "pruned_at": iso(started + timedelta(minutes=1)),
            "pruned": PruneReport(0, 0, 0, 0).describe(),
        }
    )

    def news(source: str, items: int, alerts: int, when: datetime) -> None:
        batch = [NewsItem(source, f"{source}-{n}", f"t{n}", "", "", "", None) for n in range(items)]
        queued = [
            new_alert(f"{source}-{n}", source=source, chat=-1001234567890) for n in range(alerts)
        ]
        store.record_success(
            source, "rss", when, validators=Validators(), items=batch, alerts=queued
        )

    news("ukr-pravda-en", 310, 9, now - timedelta(minutes=2))
    news("meduza-ru", 250, 4, now - timedelta(hours=1))
    for _ in range(3):
        store.record_failure(
            "meduza-ru",
            "rss",
            now - timedelta(minutes=4),
            "meduza-ru: HTTP 503 Service Unavailable (https://meduza.io/rss/all)",
        )
    config = parse_config(EXAMPLE_CONFIG, "rules.toml")
    sky = config.opensky_sources[0]
    first = now - timedelta(days=40)
    flights = [
        Flight(
            f"51{n:04x}",
            f"BRU{8800 + n}",
            "BRU",
            "UMMS",
            "EVRA",
            first + timedelta(days=n),
            None,
            "opensky",
        )
        for n in range(28)
    ] + [
        Flight(
            "510207",
            "BRU8802",
            "BRU",
            "HLLB",
            "UMMS",
            datetime(2026, 6, d, 9, tzinfo=UTC),
            None,
            "opensky",
        )
        for d in (8, 19, 30)
    ]
    store.record_flights(flights, now)
    days = [date(2026, 7, 4) - timedelta(days=n) for n in range(sky.history_days)]
    for day in days:
        for airport in sky.airports:
            for direction in ("departure", "arrival"):
                store.record_day("opensky", airport, direction, day, "ok", now)
    store.record_success("opensky", "opensky", now - timedelta(minutes=40), validators=Validators())
    store.update_flight_source("opensky", credits_left=3520, credits_spent=480, last_day=days[0])
    store.record_progress("opensky", fetched=len(days), total=len(days), next_attempt_at=None)
    store.record_schedule("ukr-pravda-en", "rss", interval=200.0, rate=41.2, adaptive=True)
    store.record_schedule("meduza-ru", "rss", interval=1200.0, rate=18.6, adaptive=True)
    store.record_schedule("opensky", "opensky", interval=3600.0, rate=None, adaptive=False)
    RouteEvaluator(
        store, config.route_rules, config.opensky_sources, config.channels, clock=lambda: now
    ).evaluate()
    for row in outbox_rows(store):
        assert store.claim(row["id"]) is not None
        store.mark_sent(row["id"], now - timedelta(minutes=30), 1)


def test_readme_status_example_is_real_output(store: Store) -> None:
    fill_readme_store(store)
    real = render_status(gather(store, ["meduza-ru", "opensky", "ukr-pravda-en"]), README_NOW)
    size = re.compile(r"storage: [0-9.]+ MB")
    shown = readme_status_example()
    assert size.search(real)
    assert size.sub("storage: N MB", shown) == size.sub("storage: N MB", real), real


# ── feed autodiscovery in the "HTML page" error ──

PAGE = b"""<!DOCTYPE html><html><head><title>News</title>
<link rel="stylesheet" href="/site.css">
<link rel="alternate" type="application/rss+xml; charset=utf-8" title="All news" href="/rss/all">
<link rel="Alternate" type="application/atom+xml" href="https://example.org/atom.xml">
<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
</head><body><p>Hello</p></body></html>"""


def test_an_html_page_that_links_to_a_feed_names_it() -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed("s", PAGE, content_type="text/html", url="https://example.org/news/", now=NOW)
    assert str(caught.value).startswith(
        "s: not a feed: the server sent an HTML page; it links to a feed: "
        "https://example.org/rss/all (and 1 more) — use that as url (https://example.org/news/)"
    )


def test_feed_links_resolve_against_base_and_skip_the_rest() -> None:
    page = b'<head><base href="https://cdn.example.net/x/"><link rel="alternate feed" type="application/feed+json" href="feed.json"><link rel="alternate" type="text/html" href="/en/">'
    assert feed_links(page, "https://example.org/") == ["https://cdn.example.net/x/feed.json"]
    assert feed_links(b"<html><head></head></html>", "https://example.org/") == []
    assert feed_links(b"<link rel=alternate type=application/rss+xml href=", "https://e.org/") == []


def test_an_html_page_without_feed_links_keeps_the_plain_message() -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(
            "s",
            b"<html><head><title>x</title></head></html>",
            content_type="text/html",
            url="https://example.org/",
            now=NOW,
        )
    assert "not a feed: the server sent an HTML page (" in str(caught.value)
    assert "links to a feed" not in str(caught.value)
