"""The `vedette` command line (`python -m bot` is the same): run, check, status, healthcheck,
sources, test-rule, route, retry-failed and init; `vedette --help` lists them with the variables and
exit codes."""

from __future__ import annotations

from bot import hangup  # first of all: SIGHUP is queued, not fatal, from here on

# isort: split
import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sqlite3
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

from bot import __version__
from bot.aircraft import AircraftDatabaseError, load_database
from bot.config.flights import BAD_OPERATOR, operator_code
from bot.config.types import Config, ConfigError
from bot.config.validate import load_config, parse_duration
from bot.flights.evidence import (
    BY,
    DEFAULT_DAYS,
    RouteReport,
    airports_of,
    chart_bars,
    chart_subtitle,
    report_data,
    report_text,
    route_report,
    span,
)
from bot.init import init_command
from bot.logs import setup_logging
from bot.retry import retry_failed_command
from bot.rulecheck import Request, test_rule_command
from bot.runner import EXIT_FATAL, EXIT_PENDING, EXIT_SOURCE_FAILED, Runner, RunOptions, run
from bot.settings import VARIABLES, Settings, SettingsError, load_paths, load_settings
from bot.sources_report import sources_command
from bot.status import gather, health, render_status, status_data
from bot.store import Store
from bot.store.base import StoreError, database_error
from bot.words import plural
from watchers.clock import utcnow
from watchers.opensky_auth import OpenSkyCredentials

log = logging.getLogger("bot")
T = TypeVar("T")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, EXIT_FATAL, 2

ENVIRONMENT = {
    "TELEGRAM_BOT_TOKEN": "the bot's token; unset: alerts are printed to stdout",
    "TELEGRAM_BOT_TOKEN_FILE": "a file holding the token (wins over TELEGRAM_BOT_TOKEN)",
    "VEDETTE_CONFIG": "default for --config",
    "VEDETTE_DB": "default for --db",
    "VEDETTE_LOG_LEVEL": "DEBUG, INFO (default), WARNING or ERROR",
    "OPENSKY_CLIENT_ID": "OpenSky API client (optional; anonymous otherwise)",
    "OPENSKY_CLIENT_SECRET": "its secret: set both or neither",
}
EPILOG = f"""\
environment (only `run` reads the token, OpenSky and log level variables):
{chr(10).join(f"  {name:<25}{ENVIRONMENT.get(name, '')}" for name in VARIABLES)}

exit codes:
  0  ok (healthcheck: healthy)
  {EXIT_FATAL}  failed: unusable database, token rejected, another vedette uses the database,
     no database (status, route), unhealthy (healthcheck), an expectation failed (test-rule),
     the chart could not be drawn or written (route --chart; the table is printed)
  {EXIT_CONFIG}  bad configuration, environment variable or option (route: airport code, date)
  {EXIT_SOURCE_FAILED}  run --once: a source failed (the others were polled); not with --dry-run
  {EXIT_PENDING}  run --once: alerts stay pending (Telegram unreachable); the next run sends them
     (4 wins over 3)

examples:
  vedette check                      # validate rules.toml, no network
  vedette run --once --dry-run       # try the rules: alerts on stdout, database untouched
  vedette run                        # the service: one per database
  vedette status --db /data/vedette.db
  vedette test-rule RULE --near      # a rule over the last 30 days of items, near misses too
  vedette route BEN MSQ --operator BRU --by month --chart route.png
  vedette status --json | jq '.sources[] | select(.state == "failing") | .id'
"""


def _parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vedette",
        description="News and flight alerts, posted once to Telegram.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vedette {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_help = f"rules file (default: $VEDETTE_CONFIG or {settings.config_path})"
    db_help = f"database file (default: $VEDETTE_DB or {settings.db_path})"

    run_ = commands.add_parser("run", help="watch sources and deliver alerts until stopped")
    run_.add_argument("--config", default=settings.config_path, help=config_help)
    run_.add_argument("--db", default=settings.db_path, help=db_help)
    run_.add_argument(
        "--once",
        action="store_true",
        help="poll every source once, deliver, exit (3: a source failed, 4: alerts pending)",
    )
    run_.add_argument(
        "--dry-run",
        action="store_true",
        help="print alerts to stdout instead of sending them, working on an in-memory copy "
        "of the database: nothing is written to it (and a running vedette is not disturbed)",
    )
    check = commands.add_parser("check", help="validate the configuration (no network I/O)")
    check.add_argument("--config", default=settings.config_path, help=config_help)
    status = commands.add_parser(
        "status", help="print the whole /status report from the database (every source)"
    )
    status.add_argument("--db", default=settings.db_path, help=db_help)
    status.add_argument(
        "--json", action="store_true", help="print it as JSON (for scripts and monitoring)"
    )
    health = commands.add_parser(
        "healthcheck", help="exit 0 if a running bot wrote its heartbeat recently (for Docker)"
    )
    health.add_argument("--db", default=settings.db_path, help=db_help)
    health.add_argument(
        "--max-age", default="2m", help="how old the heartbeat may be (default: 2m)"
    )
    sources = commands.add_parser(
        "sources", help="list every source (with its health, given a database) and every rule"
    )
    sources.add_argument("--config", default=settings.config_path, help=config_help)
    sources.add_argument("--db", default=settings.db_path, help=db_help)
    retry = commands.add_parser(
        "retry-failed", help="send alerts that failed for good again (after fixing a chat id)"
    )
    retry.add_argument("--db", default=settings.db_path, help=db_help)
    retry.add_argument("--rule", metavar="ID", help="only the alerts of this rule")
    test_rule = commands.add_parser(
        "test-rule",
        help="run a keyword rule (or a query) over stored items and feeds; writes nothing",
    )
    test_rule.add_argument(
        "rule_id", nargs="?", metavar="RULE_ID", help="a keyword rule of the configuration"
    )
    test_rule.add_argument(
        "--query", metavar="Q", help="a query instead of a rule (term lists of --config apply)"
    )
    test_rule.add_argument("--config", default=settings.config_path, help=config_help)
    test_rule.add_argument("--db", default=settings.db_path, help=db_help)
    test_rule.add_argument(
        "--since", default="30d", metavar="D", help="items first seen within D (default: 30d)"
    )
    test_rule.add_argument(
        "--feed",
        action="append",
        default=[],
        metavar="URL|FILE",
        help="also a feed, fetched once or read from a file (repeat for more)",
    )
    test_rule.add_argument(
        "--near", action="store_true", help="also list items that miss one branch of an AND"
    )
    test_rule.add_argument(
        "--expect",
        metavar="FILE",
        help='JSON lines {"title", "summary", "expect": "match"|"no"}; exit 1 if any fails',
    )
    test_rule.add_argument("--json", action="store_true", help="print the report as JSON")
    route = commands.add_parser(
        "route",
        help="flights per day, week or month on a route, with coverage, from the database",
    )
    codes = "airport code: IATA or ICAO (BEN, HLLB), comma-separated for several"
    route.add_argument("origins", metavar="FROM", help=codes)
    route.add_argument("destinations", metavar="TO", help=codes)
    route.add_argument(
        "--operator", metavar="X", help="only this airline's flights (ICAO designator, e.g. BRU)"
    )
    route.add_argument(
        "--by", choices=BY, default="month", help="one row per day, ISO week or month (default)"
    )
    route.add_argument(
        "--since", metavar="D", help=f"the last D up to today (default: {DEFAULT_DAYS}d)"
    )
    route.add_argument("--from", dest="first", metavar="DATE", help="first UTC day, YYYY-MM-DD")
    route.add_argument(
        "--to", dest="last", metavar="DATE", help="last UTC day, YYYY-MM-DD (default: today)"
    )
    route.add_argument("--db", default=settings.db_path, help=db_help)
    route.add_argument("--json", action="store_true", help="print the report as JSON")
    route.add_argument(
        "--chart",
        metavar="FILE.png",
        help="also draw the counts as a bar chart into FILE.png (exit 1 if it cannot be drawn)",
    )
    init = commands.add_parser("init", help="write a commented example rules.toml")
    init.add_argument(
        "path", nargs="?", metavar="PATH", help=f"where (default: {settings.config_path})"
    )
    return parser


def _load(path: str) -> Config | None:
    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{path}: {plural(len(exc.problems), 'problem')}", file=sys.stderr)
        return None
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return config


def _check_aircraft(config: Config) -> None:
    """Warn when `[aircraft] database` cannot be read (optional: never an error)."""
    if config.aircraft.database is None:
        return
    try:
        load_database(config.aircraft.database)
    except AircraftDatabaseError as exc:
        print(f"warning: aircraft.database: {exc}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader of stdout went away (`vedette status | head -3`): stop quietly. Python
        # flushes stdout again at exit, so point it at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED


def _main(argv: Sequence[str] | None) -> int:
    # Only the default paths here: a bad token or log level must not break `--help`,
    # `--version` or the commands that do not use them (`_run` reads the rest).
    settings = load_paths()
    args = _parser(settings).parse_args(argv)
    if args.command == "check":
        config = _load(args.config)
        if config is None:
            return EXIT_CONFIG
        _check_aircraft(config)
        print(
            f"{args.config}: ok — {plural(len(config.sources), 'source')}, "
            f"{plural(len(config.rules), 'rule')}, {plural(len(config.channels), 'channel')}"
        )
        return EXIT_OK
    if args.command == "status":
        return _status(args.db, as_json=args.json)
    if args.command == "healthcheck":
        return _healthcheck(args.db, args.max_age)
    if args.command == "init":
        return init_command(args.path, settings.config_path)
    if args.command == "sources":
        config = _load(args.config)
        return EXIT_CONFIG if config is None else sources_command(config, args.db)
    if args.command == "retry-failed":
        return retry_failed_command(args.db, args.rule, utcnow())
    if args.command == "test-rule":
        return _test_rule(args)
    if args.command == "route":
        return _route(args, utcnow())
    return _run(args)


def _test_rule(args: argparse.Namespace) -> int:
    try:
        since = parse_duration(args.since)
    except ValueError as exc:
        print(f"vedette: --since: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    request = Request(
        rule_id=args.rule_id,
        query=args.query,
        db=args.db,
        since=since,
        since_text=args.since,
        feeds=tuple(args.feed),
        near=args.near,
        expect=args.expect,
        as_json=args.json,
    )
    return test_rule_command(config, request, utcnow())


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    bad = ValueError(f'{option}: "{text}" is not a date (YYYY-MM-DD, e.g. 2025-05-01)')
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        raise bad
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise bad from None


def _route(args: argparse.Namespace, now: datetime) -> int:
    """`vedette route`: the report from the database opened read-only (exit 2: a bad code,
    operator or date; 1: no database, or the chart could not be drawn or written)."""
    try:
        origins = airports_of(args.origins)
    except ValueError as exc:
        print(f"vedette: FROM: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        destinations = airports_of(args.destinations)
    except ValueError as exc:
        print(f"vedette: TO: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    operator = None
    if args.operator is not None:
        operator = operator_code(args.operator)
        if operator is None:
            print(f'vedette: --operator "{args.operator}" {BAD_OPERATOR}', file=sys.stderr)
            return EXIT_CONFIG
    try:
        since = None if args.since is None else _duration(args.since, "--since")
        start, end = span(
            now, since=since, first=_day(args.first, "--from"), last=_day(args.last, "--to")
        )
    except ValueError as exc:
        print(f"vedette: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if not Path(args.db).is_file():
        print(
            f"vedette: no database at {args.db} (has `vedette run` used it yet?)", file=sys.stderr
        )
        return EXIT_FAILED

    def read(store: Store) -> RouteReport:
        return route_report(
            store,
            origins,
            destinations,
            operator=operator,
            by=args.by,
            start=start,
            end=end,
            now=now,
        )

    try:
        report = _read(args.db, read)
    except StoreError as exc:
        print(f"vedette: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(report_data(report), ensure_ascii=False, indent=2))
    else:
        print(report_text(report))
    return EXIT_OK if args.chart is None else _chart(report, args.chart)


def _duration(text: str, option: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"{option}: {exc}") from exc


def _chart(report: RouteReport, path: str) -> int:
    """Draw the report's bar chart into `path`; a failure is one line and exit 1."""
    from bot.chart import ChartError, bar_chart  # Pillow is loaded only for a chart

    try:
        png = bar_chart(report.title, chart_bars(report), subtitle=chart_subtitle(report))
    except ChartError as exc:
        print(f"vedette: --chart {path}: the chart could not be drawn: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        Path(path).write_bytes(png)
    except OSError as exc:
        print(f"vedette: --chart {path}: cannot write it: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _status(db_path: str, *, as_json: bool = False) -> int:
    if not Path(db_path).is_file():
        print(
            f"vedette: no database at {db_path} (has `vedette run` used it yet?)", file=sys.stderr
        )
        return EXIT_FAILED
    try:
        report = _read(db_path, gather)
    except StoreError as exc:
        print(f"vedette: {exc}", file=sys.stderr)
        return EXIT_FAILED
    now = utcnow()
    if as_json:
        print(json.dumps(status_data(report, now), ensure_ascii=False, indent=2))
    else:
        print(render_status(report, now))
    return EXIT_OK


def _read(db_path: str, read: Callable[[Store], T]) -> T:
    """`read` over the database opened read-only: nothing is created, migrated or written.
    Every SQLite error (a corrupted file) becomes a `StoreError` naming the file."""
    store = Store.open(db_path, read_only=True)
    try:
        return read(store)
    except sqlite3.Error as exc:
        raise database_error(db_path, exc) from exc
    finally:
        store.close()


def _healthcheck(db_path: str, max_age: str) -> int:
    try:
        limit = parse_duration(max_age)
    except ValueError as exc:
        print(f"vedette: --max-age: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if not Path(db_path).is_file():
        print(f"unhealthy: no database at {db_path}")
        return EXIT_FAILED
    try:
        meta = _read(db_path, Store.meta)
    except StoreError as exc:
        print(f"unhealthy: {exc}")
        return EXIT_FAILED
    verdict = health(meta, utcnow(), limit)
    print(verdict.reason)
    return EXIT_OK if verdict.healthy else EXIT_FAILED


def _run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(token=not args.dry_run)
    except SettingsError as exc:
        print(f"vedette: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(
        settings.log_level,
        secrets=[settings.token or "", settings.opensky_client_secret or ""],
    )
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    options = RunOptions(once=args.once, dry_run=args.dry_run)

    async def main_task() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        opensky = None
        if settings.opensky_client_id and settings.opensky_client_secret:
            opensky = OpenSkyCredentials(settings.opensky_client_id, settings.opensky_client_secret)

        def ready(runner: Runner) -> None:
            loop.add_signal_handler(signal.SIGHUP, runner.request_reload)
            if hangup.take():
                log.info("SIGHUP during start-up: reloading the configuration")
                runner.request_reload()

        return await run(
            config, args.db, settings.token, options, stop, on_ready=ready, opensky=opensky
        )

    try:
        return asyncio.run(main_task())
    except StoreError as exc:
        log.error("%s", exc)
        return EXIT_FAILED
    finally:
        hangup.install()  # closing the loop restored SIGHUP's default action
