"""Settings from the environment (secrets never live in rules.toml)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
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


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read `VEDETTE_CONFIG`, `VEDETTE_DB`, `VEDETTE_LOG_LEVEL` and the bot token."""
    env = os.environ if env is None else env
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip() or None
    token_file = env.get("TELEGRAM_BOT_TOKEN_FILE", "").strip()
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise SettingsError(
                f"TELEGRAM_BOT_TOKEN_FILE: cannot read {token_file}: {exc.strerror}"
            ) from exc
    level = env.get("VEDETTE_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if level not in LEVELS:
        raise SettingsError(f"VEDETTE_LOG_LEVEL: {level!r} is not one of {', '.join(LEVELS)}")
    client_id = env.get("OPENSKY_CLIENT_ID", "").strip() or None
    client_secret = env.get("OPENSKY_CLIENT_SECRET", "").strip() or None
    if (client_id is None) != (client_secret is None):
        raise SettingsError(
            "OPENSKY_CLIENT_ID and OPENSKY_CLIENT_SECRET go together: set both, or neither "
            "for anonymous access"
        )
    return Settings(
        config_path=env.get("VEDETTE_CONFIG", "").strip() or "rules.toml",
        db_path=env.get("VEDETTE_DB", "").strip() or "vedette.db",
        token=token,
        log_level=level,
        opensky_client_id=client_id,
        opensky_client_secret=client_secret,
    )
