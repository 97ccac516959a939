"""Logging: one line per event, secrets redacted from every line.

httpx logs each request URL at INFO, and the Bot API puts the token in the URL path, so the
`httpx` and `httpcore` loggers are held at WARNING, and the formatter of the root handler
redacts `bot<id>:<secret>` patterns and the literal secrets it is given from the whole line,
tracebacks included.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from bot.redact import redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET = ("httpx", "httpcore", "telegram.ext.Updater", "apscheduler")


class RedactingFormatter(logging.Formatter):
    """Formats a record on one line and removes secrets from it.

    An exception attached to a record is shown as `ExcType: message` on the same line
    (libraries such as python-telegram-bot log expected network failures with tracebacks);
    with `tracebacks=True` (at DEBUG level) the full traceback follows instead.
    """

    def __init__(self, secrets: Iterable[str] = (), *, tracebacks: bool = False) -> None:
        super().__init__(FORMAT)
        # A bot token is "<id>:<secret>"; its secret half is redacted on its own too.
        parts = [part for s in secrets if s for part in (s, s.partition(":")[2])]
        self.secrets = sorted({p for p in parts if len(p) >= 8}, key=len, reverse=True)
        self.tracebacks = tracebacks

    def formatException(self, ei: Any) -> str:
        if self.tracebacks:
            return super().formatException(ei)
        exc = ei[1]
        return f"[{type(exc).__name__}: {exc}]".replace("\n", " ")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if not self.tracebacks:
            text = " ".join(text.splitlines())
        text = redact(text)
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return text


def setup_logging(
    level: str = "INFO", secrets: Iterable[str] = (), stream: TextIO | None = None
) -> None:
    """Send every log line to stderr (or `stream`), redacted, at `level`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    tracebacks = level.upper() == "DEBUG"
    handler.setFormatter(RedactingFormatter(secrets, tracebacks=tracebacks))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
