"""Log lines: one per event, and never a secret."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import setup_logging

TOKEN = "123456:ABCdef_ghi-JKLmnopqrstuvwxyz0123456"


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """Route logging to a string for the test, then restore the root logger."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_token_is_redacted_from_messages_and_tracebacks(output: io.StringIO, level: str) -> None:
    """The token, in a URL or bare, is replaced in messages, arguments and tracebacks."""
    setup_logging(level, secrets=[TOKEN], stream=output)
    log = logging.getLogger("vedette.test")
    log.warning("GET https://api.telegram.org/bot%s/getMe", TOKEN)
    log.warning("token is %s", TOKEN.split(":")[1])
    try:
        raise RuntimeError(f"failed at https://api.telegram.org/bot{TOKEN}/sendMessage")
    except RuntimeError:
        log.exception("send failed")
    text = output.getvalue()
    assert TOKEN not in text
    assert TOKEN.split(":")[1] not in text
    assert "bot<redacted>/getMe" in text
    assert "RuntimeError" in text


def test_one_line_per_event_at_info(output: io.StringIO) -> None:
    """At INFO an exception or a multi-line message stays on its record's line."""
    setup_logging("INFO", stream=output)
    log = logging.getLogger("vedette.test")
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        log.exception("first\nline")
    log.info("second")
    lines = output.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("first line [ValueError: bad thing]")


def test_httpx_request_log_is_silenced(output: io.StringIO) -> None:
    """httpx's per-request INFO lines (with the Bot API URL) are not emitted."""
    setup_logging("DEBUG", secrets=[TOKEN], stream=output)
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot%s/x", TOKEN)
    assert output.getvalue() == ""
