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
- Parsing is CPU work, about 20 µs per markup tag: 15 ms for a typical 50 KB feed of 50
  items, seconds for a 10 MiB one. A small body (at most `INLINE_MAX_BYTES` and
  `INLINE_MAX_TAGS` "<", about 50 ms of parsing) is parsed right here, on the event loop;
  a bigger one in a worker thread, so it does not stall commands and deliveries: one thread
  per `FeedReader` (the runner makes one per run and closes it). Handing every feed to the
  thread would cost 10-15% more CPU per cold poll (the event loop and the parser take turns
  at the GIL; tests/bench/bench_poll.py), and more threads would not parse faster (pure
  Python under the GIL), only interleave documents, at 10-25% more CPU and more memory.
- Politeness per host: requests to one host start at least `HOST_GAP` apart (a site's
  several feeds due at once are asked one after the other; `watchers.pacing`), a loopback
  host excepted (`loopback_gap`, 0 by default: the tests' servers).
- At most `MAX_IN_FLIGHT` polls per `FeedReader` are between their request and their parsed
  items; the others wait their turn before their fetch deadline starts. This bounds the
  bodies waiting for the parser (memory) and the requests in httpx's pool, which does work
  proportional to (queued requests × connections) at every request and response: 1,000
  feeds polled at once would otherwise spend seconds of CPU there, starve the event loop
  and fail with pool timeouts. Even at 10 in flight the pool's bookkeeping costs 0.2-0.3 ms
  a poll more than at 5. The price of 5: a burst of polls (the first minute of a run) drains
  at 5 per round trip, and 5 servers hanging at once delay the others' polls (by their
  read timeout, never failing them). Polls every few minutes per source rarely overlap.
- The first poll of a source is no different here: the bot records its items without
  alerting (unless `alert_existing`), and decides what is new by the items' keys.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from urllib.parse import urlsplit

import httpx

from watchers.feeds import FeedDocument, read_feed
from watchers.http import DEFAULT_LIMITS, FetchLimits, Validators, fetch
from watchers.items import NewsItem
from watchers.pacing import Pacing, loopback

MAX_IN_FLIGHT = 5
HOST_GAP = 1.0  # seconds between the starts of two requests to one host
INLINE_MAX_BYTES = 256 * 1024
INLINE_MAX_TAGS = 2_500


@dataclass(frozen=True, slots=True)
class PollResult:
    """`document` is None when the feed is unchanged (nothing parsed); it says what reading
    it took (see `watchers.feeds.FeedDocument`: entries, cap, bad bytes, shared guids)."""

    validators: Validators
    document: FeedDocument | None = None

    @property
    def items(self) -> tuple[NewsItem, ...] | None:
        """The parsed items, or None when the feed is unchanged."""
        return None if self.document is None else self.document.items


class FeedReader:
    """Fetches and parses feeds through one client, for one run: at most `in_flight` polls
    between their request and their parsed items, big bodies parsed on one worker thread.
    Whoever runs the polls owns it and closes it (the runner makes one per run)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        in_flight: int = MAX_IN_FLIGHT,
        host_gap: float = HOST_GAP,
        loopback_gap: float = 0.0,
    ) -> None:
        self.client = client
        self.host_gap, self.loopback_gap = host_gap, loopback_gap
        self._hosts = Pacing()
        self._gate = asyncio.Semaphore(in_flight)
        self._parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feed-parser")

    def close(self) -> None:
        """Stop the parser thread (a parse under way finishes; none queued starts)."""
        self._parser.shutdown(wait=False, cancel_futures=True)

    async def poll(
        self,
        source_id: str,
        url: str,
        validators: Validators,
        *,
        now: datetime,
        limits: FetchLimits = DEFAULT_LIMITS,
    ) -> PollResult:
        """Fetch and parse one feed; raise FetchError/RateLimited/ParseError on failure."""
        host = (urlsplit(url).hostname or "").lower()
        await self._hosts.slot(host).turn(self.loopback_gap if loopback(host) else self.host_gap)
        async with self._gate:
            return await self._poll(source_id, url, validators, now=now, limits=limits)

    async def _poll(
        self,
        source_id: str,
        url: str,
        validators: Validators,
        *,
        now: datetime,
        limits: FetchLimits,
    ) -> PollResult:
        fetched = await fetch(self.client, source_id, url, validators, limits)
        if not fetched.changed:
            return PollResult(fetched.validators)
        parse = partial(
            read_feed,
            source_id,
            fetched.body,
            content_type=fetched.content_type,
            url=fetched.final_url,
            now=now,
        )
        if parses_quickly(fetched.body):
            feed = parse()
        else:
            feed = await asyncio.get_running_loop().run_in_executor(self._parser, parse)
        return PollResult(fetched.validators, feed)


def parses_quickly(body: bytes) -> bool:
    """True when `body` is small enough to parse on the event loop (about 50 ms at most)."""
    return len(body) <= INLINE_MAX_BYTES and body.count(b"<") <= INLINE_MAX_TAGS
