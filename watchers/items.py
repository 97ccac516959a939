"""Values a watcher hands to the bot."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class NewsItem:
    """One entry of a news feed, as plain text.

    `key` is the item's dedup key (see `watchers.feeds.item_key`): stable across polls and
    edits of the item. `title`, `summary` and `content` are plain text (tags removed, entities
    decoded). `link` is an absolute http(s) URL or "". `published` is an aware UTC datetime,
    or None when the feed gives none or an implausible one.
    """

    source_id: str
    key: str
    title: str
    link: str
    summary: str
    content: str
    published: datetime | None


def item_text(item: NewsItem) -> str:
    """What keyword rules are matched against: title, summary and content (the store keeps
    it for `vedette test-rule`)."""
    return f"{item.title}\n{item.summary}\n{item.content}"


def fingerprint(item: NewsItem) -> str:
    """A digest of what rules match in an item (`item_text`): it changes when the item is
    edited in a way a rule could see, and stays when only its link, date or markup change."""
    text = item_text(item)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()
