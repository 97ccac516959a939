"""Fetching with real httpx against a real loopback server (tests/fakes/feed_server.py)."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from tests.fakes.feed_server import Entry, FeedServer, gzip_bomb, rss
from watchers.errors import FetchError, RateLimited, WatcherError
from watchers.http import Fetched, FetchLimits, Validators, fetch, make_client
from watchers.http_errors import fetch_errors, parse_retry_after
from watchers.rss import MAX_IN_FLIGHT, FeedReader, parses_quickly

SOURCE = "test-feed"
FAST = FetchLimits(connect_timeout=1.0, read_timeout=0.5, deadline=2.0)
BODY = rss([Entry("Haftar meets Belavia", link="https://example.com/1", guid="1")])
NOW = datetime(2026, 1, 1, tzinfo=UTC)
NO_VALIDATORS = Validators()


async def fetch_once(
    url: str, validators: Validators = NO_VALIDATORS, limits: FetchLimits = FAST
) -> Fetched:
    """Fetch `url` with a fresh client that is closed afterwards."""
    async with make_client(limits) as client:
        return await fetch(client, SOURCE, url, validators, limits)


async def fetch_error(url: str, limits: FetchLimits = FAST) -> WatcherError:
    """The error fetching `url` raises; every error must name the source."""
    with pytest.raises(WatcherError) as caught:
        await fetch_once(url, limits=limits)
    assert str(caught.value).startswith(f"{SOURCE}: ")
    return caught.value


def closed_port_url() -> str:
    """A loopback URL on a port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/feed"


async def test_first_fetch_returns_body_and_validators(feed_server: FeedServer) -> None:
    """A 200 returns the body, its final URL and the server's ETag/Last-Modified."""
    feed_server.route("/feed", BODY, etag='"v1"', last_modified="Wed, 01 Jan 2026 00:00:00 GMT")
    fetched = await fetch_once(feed_server.url("/feed"))
    assert fetched.changed
    assert fetched.body == BODY
    assert fetched.content_type == "application/rss+xml"
    assert fetched.final_url == feed_server.url("/feed")
    assert fetched.validators.etag == '"v1"'
    assert fetched.validators.last_modified == "Wed, 01 Jan 2026 00:00:00 GMT"
    assert fetched.validators.body_hash is not None


async def test_conditional_get_sends_validators_and_304_is_unchanged(
    feed_server: FeedServer,
) -> None:
    """The second fetch sends If-None-Match/If-Modified-Since; a 304 keeps the validators."""
    stamp = "Wed, 01 Jan 2026 00:00:00 GMT"
    feed_server.route("/feed", BODY, etag='"v1"', last_modified=stamp)
    first = await fetch_once(feed_server.url("/feed"))
    second = await fetch_once(feed_server.url("/feed"), first.validators)
    assert not second.changed
    assert second.body == b""
    assert second.validators == first.validators
    _, headers = feed_server.requests[-1]
    assert headers["if-none-match"] == '"v1"'
    assert headers["if-modified-since"] == stamp


async def test_same_body_hash_is_unchanged(feed_server: FeedServer) -> None:
    """A 200 whose body hashes like the last one is reported unchanged."""
    feed_server.route("/feed", BODY)
    first = await fetch_once(feed_server.url("/feed"))
    second = await fetch_once(feed_server.url("/feed"), first.validators)
    assert not second.changed
    assert second.validators.body_hash == first.validators.body_hash


async def test_changed_body_is_reported(feed_server: FeedServer) -> None:
    """A 200 with a different body is changed and carries the new hash."""
    feed_server.route("/feed", BODY)
    first = await fetch_once(feed_server.url("/feed"))
    feed_server.route("/feed", rss([Entry("Another", guid="2")]))
    second = await fetch_once(feed_server.url("/feed"), first.validators)
    assert second.changed
    assert second.validators.body_hash != first.validators.body_hash


async def test_client_headers(feed_server: FeedServer) -> None:
    """Requests carry our User-Agent, feed Accept types and gzip/deflate only."""
    feed_server.route("/feed", BODY)
    await fetch_once(feed_server.url("/feed"))
    _, headers = feed_server.requests[-1]
    assert headers["user-agent"].startswith("vedette/")
    assert "application/rss+xml" in headers["accept"]
    assert headers["accept-encoding"] == "gzip, deflate"


async def test_gzip_body_is_decoded(feed_server: FeedServer) -> None:
    """A gzip-encoded body comes back decoded."""
    feed_server.route("/feed", BODY, gzip=True)
    fetched = await fetch_once(feed_server.url("/feed"))
    assert fetched.body == BODY


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
async def test_deflate_body_is_decoded(feed_server: FeedServer, wbits: int) -> None:
    """A "deflate" body is decoded whether zlib-wrapped (per the RFC) or raw."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    deflated = compressor.compress(BODY) + compressor.flush()
    feed_server.route("/feed", deflated, headers={"Content-Encoding": "deflate"})
    fetched = await fetch_once(feed_server.url("/feed"))
    assert fetched.body == BODY


async def test_corrupt_gzip_is_an_error(feed_server: FeedServer) -> None:
    """A body labelled gzip that is not gzip is a fetch error."""
    feed_server.route("/feed", b"not gzip at all", headers={"Content-Encoding": "gzip"})
    error = await fetch_error(feed_server.url("/feed"))
    assert "corrupt gzip body" in str(error)


async def test_unsupported_encoding_is_an_error(feed_server: FeedServer) -> None:
    """A Content-Encoding we did not ask for (br) is refused by name."""
    feed_server.route("/feed", BODY, headers={"Content-Encoding": "br"})
    error = await fetch_error(feed_server.url("/feed"))
    assert "unsupported content encoding 'br'" in str(error)


async def test_gzip_bomb_is_aborted_at_the_cap(feed_server: FeedServer) -> None:
    """A 16 MiB gzip bomb (16 KB on the wire) fails at the 10 MiB decompressed cap."""
    feed_server.route("/feed", gzip_bomb(16 * 1024 * 1024), headers={"Content-Encoding": "gzip"})
    error = await fetch_error(feed_server.url("/feed"), FetchLimits(read_timeout=2.0, deadline=5))
    assert isinstance(error, FetchError)
    assert "response body larger than 10 MiB" in str(error)


async def test_body_without_content_length_is_aborted_at_the_cap(
    feed_server: FeedServer,
) -> None:
    """A 16 MiB body sent without Content-Length fails at the 10 MiB cap."""
    feed_server.route("/feed", b"x" * (1024 * 1024), repeat=16, content_length=None)
    error = await fetch_error(feed_server.url("/feed"), FetchLimits(read_timeout=2.0, deadline=5))
    assert "response body larger than 10 MiB" in str(error)


async def test_huge_content_length_is_rejected_before_reading(feed_server: FeedServer) -> None:
    """A Content-Length of 10 GB is refused from the headers alone."""
    feed_server.route("/feed", BODY, content_length=10 * 1024**3)
    error = await fetch_error(feed_server.url("/feed"))
    assert "response body larger than 10 MiB (Content-Length: 10737418240)" in str(error)


async def test_cap_is_configurable(feed_server: FeedServer) -> None:
    """The size cap follows FetchLimits.max_bytes and the message names it."""
    feed_server.route("/feed", b"x" * 3 * 1024 * 1024)
    limits = FetchLimits(max_bytes=2 * 1024 * 1024, read_timeout=2.0, deadline=5)
    error = await fetch_error(feed_server.url("/feed"), limits)
    assert "response body larger than 2 MiB" in str(error)


async def test_empty_body_is_an_error(feed_server: FeedServer) -> None:
    """A 200 with an empty body is an error, not an empty feed."""
    feed_server.route("/feed", b"")
    error = await fetch_error(feed_server.url("/feed"))
    assert "empty response body" in str(error)


async def test_hanging_server_fails_with_a_read_timeout(feed_server: FeedServer) -> None:
    """A server that accepts the request and never answers fails at the read timeout."""
    feed_server.route("/feed", hang=True)
    error = await fetch_error(feed_server.url("/feed"))
    assert "read timeout: the server sent nothing for 0.5 s" in str(error)
    assert isinstance(error.__cause__, httpx.ReadTimeout)


async def test_slow_drip_fails_at_the_overall_deadline(feed_server: FeedServer) -> None:
    """A body dripping a byte every 0.1 s never trips the read timeout, only the deadline."""
    feed_server.route("/feed", BODY, drip=0.1)
    limits = FetchLimits(read_timeout=0.5, deadline=1.0)
    error = await fetch_error(feed_server.url("/feed"), limits)
    assert "no complete response within the overall deadline of 1 s" in str(error)


async def test_redirect_is_followed(feed_server: FeedServer) -> None:
    """A redirect chain is followed and the final URL reported."""
    feed_server.route("/old", redirect_to="/older", status=301)
    feed_server.route("/older", redirect_to=feed_server.url("/feed"))
    feed_server.route("/feed", BODY)
    fetched = await fetch_once(feed_server.url("/old"))
    assert fetched.body == BODY
    assert fetched.final_url == feed_server.url("/feed")


async def test_redirect_loop_fails_at_the_limit(feed_server: FeedServer) -> None:
    """A redirect loop stops after 5 redirects with a clear message."""
    feed_server.route("/a", redirect_to="/b")
    feed_server.route("/b", redirect_to="/a")
    error = await fetch_error(feed_server.url("/a"))
    assert "more than 5 redirects" in str(error)
    assert len(feed_server.requests) == 6


async def test_redirect_to_a_file_url_is_refused(feed_server: FeedServer) -> None:
    """A redirect to a non-http(s) URL is refused, not followed."""
    feed_server.route("/feed", redirect_to="file:///etc/passwd")
    error = await fetch_error(feed_server.url("/feed"))
    assert "redirect to a non-http(s) URL 'file:///etc/passwd'" in str(error)


async def test_429_with_retry_after_seconds_is_rate_limited(feed_server: FeedServer) -> None:
    """A 429 with `Retry-After: 120` is RateLimited with retry_after 120 s."""
    feed_server.route("/feed", status=429, headers={"Retry-After": "120"})
    error = await fetch_error(feed_server.url("/feed"))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 120
    assert "HTTP 429 Too Many Requests (retry after 120 s)" in str(error)


async def test_429_with_retry_after_date_is_rate_limited(feed_server: FeedServer) -> None:
    """A 429 with an HTTP-date Retry-After waits until that date."""
    when = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    feed_server.route("/feed", status=429, headers={"Retry-After": when})
    error = await fetch_error(feed_server.url("/feed"))
    assert isinstance(error, RateLimited)
    assert error.retry_after is not None
    assert 3000 < error.retry_after <= 3600


async def test_503_with_garbage_retry_after_uses_normal_backoff(feed_server: FeedServer) -> None:
    """A 503 with an unreadable Retry-After is RateLimited with retry_after None."""
    feed_server.route("/feed", status=503, headers={"Retry-After": "soon-ish"})
    error = await fetch_error(feed_server.url("/feed"))
    assert isinstance(error, RateLimited)
    assert error.retry_after is None
    assert "HTTP 503 Service Unavailable" in str(error)


async def test_404_is_a_fetch_error(feed_server: FeedServer) -> None:
    """A 404 is a FetchError saying `HTTP 404 Not Found`, not a rate limit."""
    error = await fetch_error(feed_server.url("/missing"))
    assert type(error) is FetchError
    assert str(error) == f"{SOURCE}: HTTP 404 Not Found ({feed_server.url('/missing')})"


async def test_connection_refused_is_a_fetch_error() -> None:
    """A closed port is a FetchError saying so, with the httpx error as cause."""
    error = await fetch_error(closed_port_url())
    assert "connection refused" in str(error)
    assert isinstance(error.__cause__, httpx.ConnectError)


async def test_invalid_url_is_a_fetch_error() -> None:
    """A URL httpx cannot use is a FetchError, not an httpx exception."""
    error = await fetch_error("ftp://example.com/feed")
    assert "invalid URL or unsupported URL scheme" in str(error)


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ("[Errno -2] Name or service not known", "DNS lookup failed"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "TLS handshake failed"),
        ("[Errno 111] Connection refused", "connection refused"),
        ("something else", "could not connect"),
    ],
)
async def test_connect_errors_have_distinct_messages(detail: str, expected: str) -> None:
    """DNS, TLS and refused connections each get their own message (transport injected)."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(detail, request=request)

    async with make_client(FAST, transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(FetchError) as caught:
            await fetch(client, SOURCE, "https://feeds.example/rss", Validators(), FAST)
    assert str(caught.value) == (
        f"{SOURCE}: {expected} (https://feeds.example/rss): ConnectError: {detail}"
    )


class SlowServer:
    """An httpx handler that answers 304 after `seconds`, counting the most requests at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.running = 0
        self.most = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(self.seconds)
        self.running -= 1
        return httpx.Response(304)


async def test_polls_past_the_limit_wait_outside_their_deadline() -> None:
    """At most MAX_IN_FLIGHT polls per FeedReader run at once (httpcore's pool slows down with
    a long queue); the others wait their turn, and the wait is not held against them."""
    slow = SlowServer(0.3)
    limits = FetchLimits(deadline=0.5)  # three turns of 0.3 s: the last ends at 0.9 s
    known = Validators(etag='"v1"')
    async with make_client(limits, transport=httpx.MockTransport(slow)) as client:
        reader = FeedReader(client, host_gap=0.0)  # one host here; the limit is what is tested
        polled = await asyncio.gather(
            *(
                reader.poll(SOURCE, f"https://feeds.example/{n}", known, now=NOW, limits=limits)
                for n in range(3 * MAX_IN_FLIGHT)
            )
        )
    assert [p.items for p in polled] == [None] * 3 * MAX_IN_FLIGHT
    assert slow.most == MAX_IN_FLIGHT


async def test_the_limit_belongs_to_the_reader_not_the_module() -> None:
    """No hidden module state: two readers (two runs) each have their own limit, so their
    polls together can be twice as many at once; `in_flight` sets the limit."""
    slow = SlowServer(0.2)
    known = Validators(etag='"v1"')
    async with make_client(FAST, transport=httpx.MockTransport(slow)) as client:
        readers = [FeedReader(client, in_flight=2, host_gap=0.0) for _ in range(2)]
        await asyncio.gather(
            *(
                reader.poll(SOURCE, f"https://feeds.example/{n}", known, now=NOW)
                for reader in readers
                for n in range(6)
            )
        )
        for reader in readers:
            reader.close()
    assert slow.most == 4


async def test_a_big_feed_is_parsed_while_the_event_loop_runs() -> None:
    """A typical feed is parsed in place (a few milliseconds); one too big for that is parsed
    in the worker thread, and the event loop (commands, deliveries) runs meanwhile."""
    small = rss([Entry(f"Item {n}", guid=str(n), summary="<p>Text</p>") for n in range(50)])
    big = rss([Entry(f"Item {n}", guid=str(n), summary="<p>Text</p>") for n in range(3000)])
    assert parses_quickly(small)
    assert not parses_quickly(big)

    class Body(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield big

    async def serve(request: httpx.Request) -> httpx.Response:
        # In memory, in one piece: the fetch awaits only a handful of times.
        return httpx.Response(200, stream=Body(), headers={"content-type": "application/rss+xml"})

    async with make_client(FAST, transport=httpx.MockTransport(serve)) as client:
        poll = asyncio.ensure_future(
            FeedReader(client).poll(SOURCE, "https://feeds.example/big", NO_VALIDATORS, now=NOW)
        )
        ticks = 0
        while not poll.done():
            await asyncio.sleep(0)
            ticks += 1
        polled = await poll
    assert polled.items is not None
    assert len(polled.items) == 500  # MAX_ITEMS; feedparser read all 3,000
    # Parsing 3,000 items takes a good fraction of a second; on the event loop, the loop
    # would turn only the handful of times the fetch awaits.
    assert ticks > 200


async def test_environment_proxy_is_ignored(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP(S)_PROXY in the environment does not reroute fetches (trust_env=False)."""
    monkeypatch.setenv("HTTP_PROXY", closed_port_url())
    monkeypatch.setenv("ALL_PROXY", closed_port_url())
    monkeypatch.delenv("NO_PROXY", raising=False)
    feed_server.route("/feed", BODY)
    fetched = await fetch_once(feed_server.url("/feed"))
    assert fetched.body == BODY


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Thu, 01 Jan 2026 01:00:00 GMT", 3600.0),
        ("Wed, 31 Dec 2025 23:00:00 GMT", 0.0),
        ("999999999999", 86400.0),
        ("172800", 86400.0),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After: delta-seconds or HTTP-date, capped at 24 h, past dates 0, garbage None."""
    assert parse_retry_after(value, now=NOW) == expected


async def test_a_feed_reader_parses_then_reports_unchanged(feed_server: FeedServer) -> None:
    """FeedReader.poll returns the items, then None once the feed is unchanged (304)."""
    feed_server.route("/feed", BODY, etag='"v1"')
    async with make_client(FAST) as client:
        reader = FeedReader(client)
        first = await reader.poll(SOURCE, feed_server.url("/feed"), Validators(), now=NOW)
        second = await reader.poll(SOURCE, feed_server.url("/feed"), first.validators, now=NOW)
        reader.close()
    assert first.items is not None
    assert [item.title for item in first.items] == ["Haftar meets Belavia"]
    assert second.items is None
    assert second.validators == first.validators


class Arrivals:
    """A server that notes when each request arrives (monotonic time) and answers 304."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.times.setdefault(request.url.host, []).append(time.monotonic())
        return httpx.Response(304)


async def test_requests_to_one_host_start_a_gap_apart_and_other_hosts_do_not_wait() -> None:
    """A site's three feeds due at once are asked one after the other, `host_gap` apart;
    another site's feed is asked at once."""
    server = Arrivals()
    known = Validators(etag='"v1"')
    urls = [f"https://site.example/feed/{n}" for n in range(3)] + ["https://other.example/rss"]
    async with make_client(FAST, transport=httpx.MockTransport(server)) as client:
        reader = FeedReader(client, host_gap=0.5)
        await asyncio.gather(*(reader.poll(SOURCE, url, known, now=NOW) for url in urls))
        reader.close()
    site = server.times["site.example"]
    assert len(site) == 3
    assert all(later - earlier >= 0.5 for earlier, later in itertools.pairwise(site))
    # Asked last, the other site's feed did not wait for this site's turns (a second).
    assert server.times["other.example"][0] < site[2]


async def test_a_loopback_host_has_its_own_gap(feed_server: FeedServer) -> None:
    """The tests' servers are not paced by default; `loopback_gap` paces them too."""
    feed_server.route("/a", BODY)
    feed_server.route("/b", BODY)
    async with make_client(FAST) as client:
        reader = FeedReader(client, loopback_gap=0.3)
        started = time.monotonic()
        await asyncio.gather(
            *(reader.poll(SOURCE, feed_server.url(p), Validators(), now=NOW) for p in ("/a", "/b"))
        )
        reader.close()
    assert time.monotonic() - started >= 0.3


def test_fetch_errors_converts_transport_failures_and_passes_the_rest() -> None:
    """The one conversion: an httpx error becomes a FetchError with the caller's prefix and the
    error as cause; TimeoutError becomes one only when a deadline message is given."""
    timeout = httpx.Timeout(5.0)
    url = "https://feeds.example/rss"
    with pytest.raises(FetchError) as caught, fetch_errors(SOURCE, url, timeout, prefix="X: "):
        raise httpx.ReadTimeout("slow")
    assert str(caught.value) == (
        f"{SOURCE}: X: read timeout: the server sent nothing for 5 s ({url}): ReadTimeout: slow"
    )
    assert caught.value.detail == str(caught.value).removeprefix(f"{SOURCE}: ")
    deadline = fetch_errors(SOURCE, url, timeout, deadline="too late")
    with pytest.raises(FetchError, match=r"^test-feed: too late \(") as late, deadline:
        raise TimeoutError
    assert isinstance(late.value.__cause__, TimeoutError)
    with pytest.raises(TimeoutError), fetch_errors(SOURCE, url, timeout):
        raise TimeoutError
    with pytest.raises(ValueError, match="not ours"), fetch_errors(SOURCE, url, timeout):
        raise ValueError("not ours")
