"""Settings from the environment (secrets never live in rules.toml)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Every variable vedette reads; the README documents each (a test checks).
VARIABLES = (
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_BOT_TOKEN_FILE",
    "VEDETTE_CONFIG",
    "VEDETTE_DB",
    "VEDETTE_LOG_LEVEL",
    "OPENSKY_CLIENT_ID",
    "OPENSKY_CLIENT_SECRET",
)


class SettingsError(Exception):
    """An environment variable is unusable; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What the environment says. `token` is None when no bot token is configured."""

    config_path: str = "rules.toml"
    db_path: str = "vedette.db"
    token: str | None = field(default=None, repr=False)
    log_level: str = "INFO"
    opensky_client_id: str | None = None
    opensky_client_secret: str | None = field(default=None, repr=False)


def load_paths(env: Mapping[str, str] | None = None) -> Settings:
    """Only the default paths (`VEDETTE_CONFIG`, `VEDETTE_DB`); never fails.

    `--help`, `--version` and the commands that use no secret (`check`, `status`,
    `healthcheck`) read only these, so a bad token or log level cannot break them.
    """
    env = os.environ if env is None else env
    return Settings(
        config_path=env.get("VEDETTE_CONFIG", "").strip() or "rules.toml",
        db_path=env.get("VEDETTE_DB", "").strip() or "vedette.db",
    )


def load_log_level(env: Mapping[str, str] | None = None) -> str:
    """`VEDETTE_LOG_LEVEL`, upper-cased; INFO when unset or empty."""
    env = os.environ if env is None else env
    level = env.get("VEDETTE_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if level not in LEVELS:
        raise SettingsError(f"VEDETTE_LOG_LEVEL: {level!r} is not one of {', '.join(LEVELS)}")
    return level


def _read_token_file(name: str) -> str:
    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        raise SettingsError(f"TELEGRAM_BOT_TOKEN_FILE: cannot read {name}: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SettingsError(f"TELEGRAM_BOT_TOKEN_FILE: {name} is not UTF-8 text") from exc
    token = text.strip()
    if not token:
        raise SettingsError(
            f"TELEGRAM_BOT_TOKEN_FILE: {name} is empty: put the bot token in it, or unset "
            "the variable to print alerts to stdout"
        )
    if any(char.isspace() for char in token):
        raise SettingsError(
            f"TELEGRAM_BOT_TOKEN_FILE: {name} holds more than a token (spaces or several "
            "lines): put only the token in it"
        )
    return token


def load_token(env: Mapping[str, str] | None = None) -> str | None:
    """The bot token: `TELEGRAM_BOT_TOKEN_FILE`'s content, else `TELEGRAM_BOT_TOKEN`.

    None when neither is set (the console sink). A variable that is set but blank, and an
    empty or unreadable token file, are errors: falling back to the console would mark
    every alert sent without sending it.
    """
    env = os.environ if env is None else env
    if "TELEGRAM_BOT_TOKEN_FILE" in env:
        name = env["TELEGRAM_BOT_TOKEN_FILE"].strip()
        if not name:
            raise SettingsError(
                "TELEGRAM_BOT_TOKEN_FILE is set but blank: name the token file, or unset "
                "the variable"
            )
        return _read_token_file(name)
    if "TELEGRAM_BOT_TOKEN" not in env:
        return None
    token = env["TELEGRAM_BOT_TOKEN"].strip()
    if not token:
        raise SettingsError(
            "TELEGRAM_BOT_TOKEN is set but blank: set the token, or unset the variable to "
            "print alerts to stdout"
        )
    if any(char.isspace() for char in token):
        raise SettingsError("TELEGRAM_BOT_TOKEN holds spaces: set only the token")
    return token


def load_settings(env: Mapping[str, str] | None = None, *, token: bool = True) -> Settings:
    """Everything `vedette run` uses; raises `SettingsError` naming the variable.

    With `token=False` (a dry run, which sends nothing) the token variables are not read.
    """
    env = os.environ if env is None else env
    client_id = env.get("OPENSKY_CLIENT_ID", "").strip() or None
    client_secret = env.get("OPENSKY_CLIENT_SECRET", "").strip() or None
    if (client_id is None) != (client_secret is None):
        raise SettingsError(
            "OPENSKY_CLIENT_ID and OPENSKY_CLIENT_SECRET go together: set both, or neither "
            "for anonymous access"
        )
    return replace(
        load_paths(env),
        token=load_token(env) if token else None,
        log_level=load_log_level(env),
        opensky_client_id=client_id,
        opensky_client_secret=client_secret,
    )
