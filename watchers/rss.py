"""Polling one news feed: conditional fetch, then parse.

Policy:

- The GET is conditional: the stored ETag and Last-Modified are sent back; a 304 means
  "unchanged" and nothing is parsed.
- A 200 whose body hashes the same as the last parsed body is also "unchanged" (many servers
  ignore validators), so nothing is parsed twice.
- The returned validators are to be stored only with the result of a successful poll: a
  fetch or parse error raises and leaves the stored ones as they were, so the next poll
  fetches and parses again.
- Parsing follows `watchers.feeds`: bozo documents with entries are accepted, so a truncated
  feed yields its complete entries; never infer that an item is gone from one poll.
- Parsing is CPU work (feedparser on up to 10 MiB), so it runs in a worker thread and does
  not stall the event loop.
- The first poll of a source is no different here: the bot records its items without
  alerting (unless `alert_existing`), and decides what is new by the items' keys.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import httpx

from watchers.feeds import parse_feed
from watchers.http import DEFAULT_LIMITS, FetchLimits, Validators, fetch
from watchers.items import NewsItem


@dataclass(frozen=True, slots=True)
class PollResult:
    """`items` is None when the feed is unchanged (nothing parsed)."""

    items: tuple[NewsItem, ...] | None
    validators: Validators


async def poll_feed(
    client: httpx.AsyncClient,
    source_id: str,
    url: str,
    validators: Validators,
    *,
    now: datetime,
    limits: FetchLimits = DEFAULT_LIMITS,
) -> PollResult:
    """Fetch and parse one feed; raise FetchError/RateLimited/ParseError on failure."""
    fetched = await fetch(client, source_id, url, validators, limits)
    if not fetched.changed:
        return PollResult(items=None, validators=fetched.validators)
    items = await asyncio.to_thread(
        parse_feed,
        source_id,
        fetched.body,
        content_type=fetched.content_type,
        url=fetched.final_url,
        now=now,
    )
    return PollResult(items=tuple(items), validators=fetched.validators)
