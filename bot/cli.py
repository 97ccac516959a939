"""The `vedette` command line (`python -m bot` is the same): run, check, status."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bot import __version__
from bot.config import Config, ConfigError, load_config, parse_duration
from bot.logs import setup_logging
from bot.runner import Runner, RunOptions, run
from bot.settings import Settings, SettingsError, load_settings
from bot.status import gather, health, render_status
from bot.store import Store, StoreError
from bot.timeutil import utcnow
from watchers.opensky import OpenSkyCredentials

log = logging.getLogger("bot")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vedette", description="News and flight alerts, posted once to Telegram."
    )
    parser.add_argument("--version", action="version", version=f"vedette {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_help = f"rules file (default: $VEDETTE_CONFIG or {settings.config_path})"
    db_help = f"database file (default: $VEDETTE_DB or {settings.db_path})"

    run_ = commands.add_parser("run", help="watch sources and deliver alerts until stopped")
    run_.add_argument("--config", default=settings.config_path, help=config_help)
    run_.add_argument("--db", default=settings.db_path, help=db_help)
    run_.add_argument("--once", action="store_true", help="poll every source once, deliver, exit")
    run_.add_argument(
        "--dry-run", action="store_true", help="print alerts to stdout even if a token is set"
    )
    check = commands.add_parser("check", help="validate the configuration (no network I/O)")
    check.add_argument("--config", default=settings.config_path, help=config_help)
    status = commands.add_parser("status", help="print the /status report from the database")
    status.add_argument("--db", default=settings.db_path, help=db_help)
    health = commands.add_parser(
        "healthcheck", help="exit 0 if a running bot wrote its heartbeat recently (for Docker)"
    )
    health.add_argument("--db", default=settings.db_path, help=db_help)
    health.add_argument(
        "--max-age", default="2m", help="how old the heartbeat may be (default: 2m)"
    )
    return parser


def _load(path: str) -> Config | None:
    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(f"{path}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        return None
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"vedette: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    args = _parser(settings).parse_args(argv)
    if args.command == "check":
        config = _load(args.config)
        if config is None:
            return EXIT_CONFIG
        print(
            f"{args.config}: ok — {len(config.sources)} sources, {len(config.rules)} rules, "
            f"{len(config.channels)} channels"
        )
        return EXIT_OK
    if args.command == "status":
        return _status(args.db)
    if args.command == "healthcheck":
        return _healthcheck(args.db, args.max_age)
    return _run(args, settings)


def _status(db_path: str) -> int:
    if not Path(db_path).is_file():
        print(
            f"vedette: no database at {db_path} (has `vedette run` used it yet?)", file=sys.stderr
        )
        return EXIT_FAILED
    try:
        store = Store.open(db_path)
    except StoreError as exc:
        print(f"vedette: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        print(render_status(gather(store), utcnow()))
    finally:
        store.close()
    return EXIT_OK


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
        store = Store.open(db_path)
    except StoreError as exc:
        print(f"unhealthy: {exc}")
        return EXIT_FAILED
    try:
        verdict = health(store.meta(), utcnow(), limit)
    finally:
        store.close()
    print(verdict.reason)
    return EXIT_OK if verdict.healthy else EXIT_FAILED


def _run(args: argparse.Namespace, settings: Settings) -> int:
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

        return await run(
            config, args.db, settings.token, options, stop, on_ready=ready, opensky=opensky
        )

    try:
        return asyncio.run(main_task())
    except StoreError as exc:
        log.error("%s", exc)
        return EXIT_FAILED
