"""Keeping the Telegram bot token out of every string we log or store.

The Bot API puts the token in the URL path (`/bot123456:AA…/sendMessage`), and httpx and PTB
copy URLs into log lines and exception messages. Everything that leaves the process as text
(log records, outbox `last_error`, `/status`) goes through `redact` first.
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"

# A token in a Bot API URL path: "bot" + bot id + ":" + secret.
_TOKEN_IN_URL = re.compile(r"bot\d+:[A-Za-z0-9_-]+")
# A bare token elsewhere (a config value echoed in an error): id ":" a long secret.
_BARE_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])\d{3,}:[A-Za-z0-9_-]{30,}(?![A-Za-z0-9_-])")


def redact(text: str) -> str:
    """`text` with anything shaped like a bot token replaced (`bot<redacted>` in URLs)."""
    text = _TOKEN_IN_URL.sub("bot" + REDACTED, text)
    return _BARE_TOKEN.sub(REDACTED, text)


def redact_secret(text: str, secret: str | None) -> str:
    """`redact(text)`, and every literal occurrence of `secret` replaced too (if non-empty).

    For secrets that are not token-shaped (an OAuth client secret, a token of an odd format).
    """
    if secret:
        text = text.replace(secret, REDACTED)
    return redact(text)
