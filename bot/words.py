"""Counted nouns for log lines, replies and `/status`: `1 item`, `2 items`."""

from __future__ import annotations


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`count` and the noun in the right number: `plural(1, "alert")` is "1 alert"."""
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count} {word}"
