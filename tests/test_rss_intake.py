"""RSS/Atom feeds are a source of `newsdesk serve`: their entries go through the same durable
intake as /ingest and come out as analysed items, once."""

from __future__ import annotations

import time
from collections.abc import Callable

from core.settings import Settings
from serving.desk import Desk
from tests.local_http import serving
from tests.test_rss import CRYPTO_RSS, FeedServer, Resource, feed_handler

ENTRIES = CRYPTO_RSS.count(b"<item>")


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_serve_polls_feeds_into_the_desk(make_settings: Callable[..., Settings]) -> None:
    feeds = FeedServer(resources={"/crypto.rss": Resource(CRYPTO_RSS, etag='"v1"')})
    with serving(feed_handler(feeds)) as base_url:
        feeds.base_url = base_url
        desk = Desk(
            make_settings(
                rss_feeds=[f"coindesk={feeds.url('/crypto.rss')}"], rss_poll_interval_s=1.0
            )
        )
        try:
            assert wait_for(lambda: desk.store.counts().items == ENTRIES, 90)
            assert desk.wait_idle(60)
            # A later poll asks conditionally and delivers nothing again.
            assert wait_for(lambda: len(feeds.headers_for("/crypto.rss")) >= 2, 30)
            assert desk.wait_idle(60)
            items = desk.store.counts().items
            outcomes = list(desk.outcomes)
        finally:
            desk.close()
    assert items == ENTRIES
    assert feeds.headers_for("/crypto.rss")[1].get("If-None-Match") == '"v1"'
    assert {o.item_id.split(":")[0] for o in outcomes} == {"rss"}
    assert all(o.verdict in {"unique", "related", "duplicate"} for o in outcomes)
