"""Running `vedette` as a real process in tests: its environment, starting it, waiting on it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram_api import TEST_TOKEN, FakeTelegramAPI
from tests.helpers import config_text

ROOT = Path(__file__).parent.parent


def env(token: str | None = TEST_TOKEN, **extra: str) -> dict[str, str]:
    """The environment for a vedette process: the repository importable, INFO logs, none of
    the caller's TELEGRAM_*, VEDETTE_* or OpenSky credentials; `extra` set last."""
    values = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "VEDETTE_"))}
    values.pop("OPENSKY_CLIENT_ID", None)
    values.pop("OPENSKY_CLIENT_SECRET", None)
    values["PYTHONPATH"] = str(ROOT)
    values["VEDETTE_LOG_LEVEL"] = "INFO"
    if token:
        values["TELEGRAM_BOT_TOKEN"] = token
    values.update(extra)
    return values


def vedette(
    cwd: Path, *args: str, token: str | None = TEST_TOKEN, **extra: str
) -> subprocess.Popen[str]:
    """Start `python -m bot ARGS` in `cwd`, with `env(token, **extra)`."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env(token, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Block until `check()` holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def write_config(tmp_path: Path, telegram_api: FakeTelegramAPI, feed_server: FeedServer) -> None:
    """rules.toml in tmp_path: one feed that alerts on its existing items."""
    text = config_text(telegram_api.url, {"news": feed_server.url("/feed")}, alert_existing=True)
    (tmp_path / "rules.toml").write_text(text, encoding="utf-8")
