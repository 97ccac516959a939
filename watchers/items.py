"""Values a watcher hands to the bot."""

from __future__ import annotations

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
