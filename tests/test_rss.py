"""RSS/Atom polling against a local HTTP server serving real feed XML (tests/fixtures/feeds).

The server answers conditional GETs as a real one does (304 when the validators match) and
records every request, so the tests see what the poller asked for, not only what it returned.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from core.records import NewsItem
from core.settings import RssConfig, Settings
from tests.local_http import serving
from tools.db import Store
from tools.rss import Feed, PollResult, entry_time, poll_forever, poll_once
from tools.sources import Record

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
CRYPTO_RSS = (FEEDS / "crypto_news.rss").read_bytes()
STATUS_ATOM = (FEEDS / "exchange_status.atom").read_bytes()
FETCHED_AT = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
CONFIG = RssConfig(
    interval_s=60.0,
    timeout_s=2.0,
    max_feed_bytes=1_000_000,
    max_text_chars=8_000,
    seen_retention=timedelta(days=30),
)

STATUS_ATOM_V2 = (FEEDS / "exchange_status_later.atom").read_bytes()  # two new incidents
# Cut inside 4412's content: feedparser's loose parser would return 4413 whole and 4412 half.
TRUNCATED_V2 = STATUS_ATOM_V2[: STATUS_ATOM_V2.index(b"failed over to its standby")]
HTML_ERROR_PAGE = b"""<!DOCTYPE html>
<html><head><title>502 Bad Gateway</title></head>
<body><h1>Bad Gateway</h1><p>The upstream server did not answer.</p></body></html>"""


@dataclass
class Resource:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    delay_s: float = 0.0
    retry_after: str | None = None
    gzip: bool = False


@dataclass
class FeedServer:
    """What each path serves, and every request it got (path, headers)."""

    resources: dict[str, Resource] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    base_url: str = ""

    def url(self, path: str) -> str:
        return self.base_url + path

    def headers_for(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]


def feed_handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            server.requests.append((self.path, dict(self.headers)))
            res = server.resources[self.path]
            time.sleep(res.delay_s)
            if res.status == 200 and self._not_modified(res):
                self.send_response(304)
                self.end_headers()
                return
            body = res.body
            zipped = res.gzip and "gzip" in self.headers.get("Accept-Encoding", "")
            if zipped:
                body = gzip.compress(body)
            self.send_response(res.status)
            self.send_header("Content-Type", res.content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (
                ("ETag", res.etag),
                ("Last-Modified", res.last_modified),
                ("Retry-After", res.retry_after),
                ("Content-Encoding", "gzip" if zipped else None),
            ):
                if value:
                    self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the poller gave up waiting: the timeout test

        def _not_modified(self, res: Resource) -> bool:
            # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110).
            if "If-None-Match" in self.headers:
                return res.etag is not None and self.headers["If-None-Match"] == res.etag
            since = self.headers.get("If-Modified-Since")
            return res.last_modified is not None and since == res.last_modified

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[FeedServer]:
    feeds = FeedServer()
    with serving(feed_handler(feeds)) as base_url:
        feeds.base_url = base_url
        yield feeds


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'newsdesk.db'}"


def open_store(url: str) -> Store:
    s = Store(url)
    s.migrate()
    return s


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    yield s
    s.close()


def serve_both(server: FeedServer) -> list[Feed]:
    """The crypto newsroom's RSS (ETag and Last-Modified) and the status page's Atom (gzip)."""
    server.resources["/crypto.rss"] = Resource(
        CRYPTO_RSS, etag='"lw-1"', last_modified="Tue, 04 Mar 2025 14:10:00 GMT"
    )
    server.resources["/history.atom"] = Resource(
        STATUS_ATOM, content_type="application/atom+xml", etag='W/"st-1"', gzip=True
    )
    return [
        Feed.parse(f"ledger-wire={server.url('/crypto.rss')}"),
        Feed.parse(server.url("/history.atom")),
    ]


def poll(feeds: list[Feed], store: Store, **kw: object) -> PollResult:
    return poll_once(feeds, store, CONFIG, now=lambda: FETCHED_AT, **kw)  # type: ignore[arg-type]


def by_title(items: list[NewsItem]) -> dict[str, NewsItem]:
    return {item.title or "": item for item in items}


def test_rss_and_atom_entries_become_clean_items(
    server: FeedServer, store: Store, tmp_path: Path
) -> None:
    result = poll(serve_both(server), store)

    assert result.errors == [] and result.rejections == []
    items = by_title(result.items)
    assert len(items) == 5
    # Oldest first, as replay files are.
    assert [i.published_at for i in result.items] == sorted(i.published_at for i in result.items)

    etf = items["Bitcoin tops $70,000 as spot ETF inflows hit a record"]
    assert etf.source == "ledger-wire"
    assert etf.id.startswith("rss:127.0.0.1:")
    assert etf.url == "https://ledgerwire.example/markets/2025/03/04/bitcoin-tops-70000"
    assert etf.author == "Ana Ruiz"
    assert etf.published_at == datetime(2025, 3, 4, 14, 5, tzinfo=UTC)  # +0200 in the feed
    # HTML tags gone, the doubly escaped ampersand read once.
    assert etf.text == (
        "US spot bitcoin ETFs took in $1.2bn on Monday, the most since launch & three times "
        "the daily average."
    )
    assert not etf.truncated

    rebound = items["Ether & Solana lead an altcoin rebound"]
    assert rebound.published_at == FETCHED_AT  # no date in the entry
    # content:encoded (the article) wins over the teaser; the script is not text.
    assert rebound.text is not None and rebound.text.startswith("Ether and Solana rose")
    assert "Funding rates on perpetual futures turned positive on most venues" in rebound.text
    assert "track(" not in rebound.text and "<" not in rebound.text

    incident = items["Degraded performance: BTC-USD order entry"]
    assert incident.source == "127.0.0.1"  # no name given: the feed's host
    assert incident.author == "Northgate Exchange"  # inherited from the Atom feed
    assert incident.published_at == datetime(2025, 3, 4, 14, 12, tzinfo=UTC)
    assert incident.text == (
        "Investigating - Order entry on BTC-USD shows elevated latency. Resting orders are not "
        "affected."
    )
    maintenance = items["Scheduled maintenance: ETH withdrawals paused"]
    assert maintenance.published_at == datetime(2025, 3, 4, 7, 0, tzinfo=UTC)  # updated, +01:00

    # Ids are stable: a second poller over a fresh database derives the same ones.
    other = open_store(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        again = poll(serve_both(server), other)
    finally:
        other.close()
    assert sorted(i.id for i in again.items) == sorted(i.id for i in result.items)
    # Politely asked: a User-Agent, feed types first, gzip accepted.
    headers = server.headers_for("/history.atom")[0]
    assert headers["User-Agent"].startswith("newsdesk/")
    assert headers["Accept"].startswith("application/rss+xml")
    assert "gzip" in headers["Accept-Encoding"]


def test_a_second_poll_is_conditional_and_yields_nothing(server: FeedServer, store: Store) -> None:
    feeds = serve_both(server)
    first = poll(feeds, store)
    second = poll(feeds, store)

    assert len(first.items) == 5
    assert second.items == [] and second.errors == []
    assert second.unchanged == [feed.url for feed in feeds]
    rss_asks = server.headers_for("/crypto.rss")
    assert "If-None-Match" not in rss_asks[0] and "If-Modified-Since" not in rss_asks[0]
    assert rss_asks[1]["If-None-Match"] == '"lw-1"'
    assert rss_asks[1]["If-Modified-Since"] == "Tue, 04 Mar 2025 14:10:00 GMT"
    assert server.headers_for("/history.atom")[1]["If-None-Match"] == 'W/"st-1"'


def test_a_feed_that_adds_entries_yields_only_the_new_ones(
    server: FeedServer, store: Store
) -> None:
    feeds = serve_both(server)
    poll(feeds, store)
    server.resources["/history.atom"] = Resource(STATUS_ATOM_V2, etag='W/"st-2"')

    result = poll(feeds, store)

    assert sorted(by_title(result.items)) == [
        "Identified: a matching engine failover on BTC-USD",
        "Resolved: BTC-USD order entry latency",
    ]
    assert result.unchanged == [feeds[0].url]


def test_seen_entries_hold_without_validators(server: FeedServer, store: Store) -> None:
    # A server with no ETag or Last-Modified sends the whole feed each time: the seen ids
    # alone must keep the old entries from coming through again.
    server.resources["/crypto.rss"] = Resource(CRYPTO_RSS)
    feeds = [Feed.parse(server.url("/crypto.rss"))]

    assert len(poll(feeds, store).items) == 3
    again = poll(feeds, store)

    assert again.items == [] and again.unchanged == []
    assert "If-None-Match" not in server.headers_for("/crypto.rss")[1]


def test_state_survives_a_restart(server: FeedServer, db_url: str) -> None:
    feeds = serve_both(server)
    first = open_store(db_url)
    assert len(poll(feeds, first).items) == 5
    first.close()

    # A new process: a new Store on the same database. The status page now ignores validators
    # (a full answer each time) and has two new incidents.
    server.resources["/history.atom"] = Resource(STATUS_ATOM_V2)
    restarted = open_store(db_url)
    try:
        result = poll(feeds, restarted)
        state = restarted.feed_state(feeds[0].url)
    finally:
        restarted.close()

    assert server.headers_for("/crypto.rss")[1]["If-None-Match"] == '"lw-1"'
    assert result.unchanged == [feeds[0].url]
    assert len(by_title(result.items)) == 2  # only 4412 and 4413
    assert state.etag == '"lw-1"' and len(state.seen_ids) == 3
    assert state.last_success_at == FETCHED_AT


BROKEN = {
    "truncated XML": (Resource(TRUNCATED_V2, etag='W/"st-2"'), "truncated"),
    "an HTML error page": (
        Resource(HTML_ERROR_PAGE, content_type="text/html; charset=utf-8"),
        "not a readable feed (served as text/html",
    ),
    "HTTP 500": (Resource(b"oops", content_type="text/plain", status=500), "HTTP 500"),
    "not XML": (Resource(b'{"error": "rate limited"}', content_type="text/xml"), "not a readable"),
    "a timeout": (Resource(STATUS_ATOM_V2, delay_s=2.0), "timed out"),
}


@pytest.mark.parametrize("broken", list(BROKEN), ids=list(BROKEN))
def test_a_broken_feed_gives_a_clear_error_and_loses_nothing(
    broken: str, server: FeedServer, store: Store
) -> None:
    feeds = serve_both(server)
    status = feeds[1]
    poll(feeds, store)
    before = store.feed_state(status.url)
    resource, reason = BROKEN[broken]
    server.resources["/history.atom"] = resource
    # The crypto feed has news meanwhile: the broken feed must not hold it up.
    server.resources["/crypto.rss"] = Resource(
        CRYPTO_RSS.replace(b"lw-2025-0304-003", b"lw-2025-0304-004"), etag='"lw-2"'
    )

    failed = poll_once(
        feeds, store, replace(CONFIG, timeout_s=0.5), now=lambda: FETCHED_AT + timedelta(minutes=1)
    )

    assert [e.url for e in failed.errors] == [status.url]
    assert reason in failed.errors[0].reason
    assert [i.source for i in failed.items] == ["ledger-wire"]  # the other feed went on
    after = store.feed_state(status.url)
    assert (after.etag, after.seen_ids) == (before.etag, before.seen_ids)
    assert after.last_error == failed.errors[0].reason and after.consecutive_errors == 1

    # Fixed: everything the broken answers held comes through, complete.
    server.resources["/history.atom"] = Resource(STATUS_ATOM_V2, etag='W/"st-3"')
    recovered = poll(feeds, store)

    assert recovered.errors == []
    assert server.headers_for("/history.atom")[-1]["If-None-Match"] == before.etag
    items = by_title(recovered.items)
    assert sorted(items) == [
        "Identified: a matching engine failover on BTC-USD",
        "Resolved: BTC-USD order entry latency",
    ]
    assert (items["Identified: a matching engine failover on BTC-USD"].text or "").endswith(
        "resting orders were kept."
    )
    assert store.feed_state(status.url).consecutive_errors == 0


def test_a_huge_entry_is_truncated_and_flagged(server: FeedServer, store: Store) -> None:
    long_story = "<p>" + "Order book depth thinned across venues. " * 2_000 + "</p>"
    huge_item = (
        "<item><title>Liquidity report: thin books everywhere</title>"
        "<guid isPermaLink='false'>lw-huge</guid>"
        f"<description><![CDATA[{long_story}]]></description></item><item>"
    )
    body = CRYPTO_RSS.replace(b"<item>", huge_item.encode(), 1)
    server.resources["/crypto.rss"] = Resource(body)

    result = poll_once(
        [Feed.parse(server.url("/crypto.rss"))],
        store,
        replace(CONFIG, max_text_chars=1_000),
        now=lambda: FETCHED_AT,
    )

    huge = by_title(result.items)["Liquidity report: thin books everywhere"]
    assert huge.truncated and huge.text is not None and len(huge.text) == 1_000
    assert huge.text.startswith("Order book depth thinned")
    assert not by_title(result.items)["Ether & Solana lead an altcoin rebound"].truncated


def test_an_entry_with_no_words_is_rejected_once(server: FeedServer, store: Store) -> None:
    body = CRYPTO_RSS.replace(
        b"<item>",
        b"<item><guid isPermaLink='false'>lw-empty</guid><title>  </title>"
        b"<description>&lt;p&gt;&lt;/p&gt;</description></item><item>",
        1,
    )
    server.resources["/crypto.rss"] = Resource(body)
    feeds = [Feed.parse(server.url("/crypto.rss"))]

    first = poll(feeds, store)
    again = poll(feeds, store)

    assert len(first.items) == 3
    [rejection] = first.rejections
    assert rejection.source_file == feeds[0].url and rejection.line_no == 1
    assert "title and text are both empty" in rejection.reason
    assert "lw-empty" in rejection.raw_excerpt
    assert again.rejections == [] and again.items == []


def test_a_failed_delivery_keeps_the_entries_for_the_next_poll(
    server: FeedServer, store: Store
) -> None:
    feeds = serve_both(server)
    delivered: list[Record] = []

    def bus_full(records: list[Record]) -> None:
        raise RuntimeError("intake queue is full")

    failed = poll(feeds, store, deliver=bus_full)
    done = poll(feeds, store, deliver=delivered.extend)

    assert [e.reason for e in failed.errors] == [
        "delivery failed, the entries wait for the next poll: RuntimeError('intake queue is full')"
    ] * 2
    assert failed.items == []
    assert len(done.items) == 5
    assert sorted(r.model_dump_json() for r in delivered) == sorted(
        i.model_dump_json() for i in done.items
    )
    # The validators were not kept, so the second poll asked for the whole documents again.
    assert "If-None-Match" not in server.headers_for("/crypto.rss")[1]


def test_poll_forever_keeps_each_feeds_interval_and_honours_retry_after(
    server: FeedServer, store: Store
) -> None:
    server.resources["/crypto.rss"] = Resource(CRYPTO_RSS, etag='"lw-1"')
    server.resources["/busy.rss"] = Resource(b"", status=503, retry_after="120")
    feeds = [Feed.parse(server.url("/crypto.rss")), Feed.parse(server.url("/busy.rss"))]
    delivered: list[Record] = []
    stop = threading.Event()
    loop = threading.Thread(
        target=poll_forever,
        args=(feeds, store, replace(CONFIG, interval_s=0.2), delivered.extend, stop),
    )

    loop.start()
    deadline = time.monotonic() + 10
    while len(server.headers_for("/crypto.rss")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    loop.join(timeout=5)

    assert not loop.is_alive()
    assert len(server.headers_for("/crypto.rss")) >= 3
    assert len(delivered) == 3  # once, though the feed was asked again and again
    assert len(server.headers_for("/busy.rss")) == 1  # Retry-After: 120 s
    assert store.feed_state(feeds[1].url).last_error == "HTTP 503 Service Unavailable"


def test_poll_forever_does_not_ask_early_after_a_restart(server: FeedServer, store: Store) -> None:
    server.resources["/crypto.rss"] = Resource(CRYPTO_RSS)
    feeds = [Feed.parse(server.url("/crypto.rss"))]
    poll_once(feeds, store, CONFIG)  # just now, with a one-minute interval
    delivered: list[Record] = []
    stop = threading.Event()
    loop = threading.Thread(
        target=poll_forever, args=(feeds, store, CONFIG, delivered.extend, stop)
    )

    loop.start()
    time.sleep(0.5)
    stop.set()
    loop.join(timeout=5)

    assert len(server.headers_for("/crypto.rss")) == 1 and delivered == []


def test_entry_times_never_run_ahead_of_the_fetch() -> None:
    future = time.struct_time((2099, 1, 1, 0, 0, 0, 3, 1, 0))
    early = time.struct_time((1901, 1, 1, 0, 0, 0, 1, 1, 0))
    past = time.struct_time((2025, 3, 4, 9, 30, 0, 1, 63, 0))
    assert entry_time({"published_parsed": future}, FETCHED_AT) == FETCHED_AT
    assert entry_time({"published_parsed": early}, FETCHED_AT) == FETCHED_AT
    assert entry_time({"updated_parsed": past}, FETCHED_AT) == datetime(
        2025, 3, 4, 9, 30, tzinfo=UTC
    )
    assert entry_time({}, FETCHED_AT) == FETCHED_AT


def test_feed_specs() -> None:
    assert Feed.parse("https://www.ledgerwire.example/feed") == Feed(
        url="https://www.ledgerwire.example/feed", name="ledgerwire.example"
    )
    assert Feed.parse(" status = https://status.northgate.example/history.atom ").name == "status"
    # An "=" in the query string is part of the URL, not a name.
    assert Feed.parse("https://x.example/rss?cat=btc").url == "https://x.example/rss?cat=btc"
    for bad in ("file:///etc/passwd", "ftp://x.example/feed", "not a url", "name="):
        with pytest.raises(ValueError, match="http"):
            Feed.parse(bad)


def test_feed_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "NEWSDESK_RSS_FEEDS", "https://a.example/rss, wire=https://b.example/atom?x=1,"
    )
    monkeypatch.setenv("NEWSDESK_RSS_POLL_INTERVAL_S", "120")
    settings = Settings()
    assert settings.rss_feeds == ["https://a.example/rss", "wire=https://b.example/atom?x=1"]
    assert settings.rss_config.interval_s == 120
    assert settings.rss_config.max_text_chars == settings.max_text_chars
    monkeypatch.setenv("NEWSDESK_RSS_FEEDS", '["https://c.example/rss?a=1,2"]')
    assert Settings().rss_feeds == ["https://c.example/rss?a=1,2"]
