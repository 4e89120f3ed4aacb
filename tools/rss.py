"""Poll RSS and Atom feeds into news items.

feedparser reads the documents (RSS 0.9x/1.0/2.0 and Atom, with their date formats and
quirks); this module does the asking and the bookkeeping. Each feed is fetched with a
conditional GET (its stored ETag and Last-Modified, tools/feed_fetch.py); each entry not
handed on before becomes a NewsItem through the same validation as replay files (parse_item:
control characters, truncation) or a Rejection that says why.

Nothing is lost: a feed's new validators and seen entries are saved only after its records
were handed to `deliver`. A feed that fails (HTTP error, timeout, not a feed, a truncated
document, `deliver` raising) is reported with its validators and seen entries untouched, so the
next poll asks for the same document again and yields what this one did not; the other feeds
go on.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser

from core.records import NewsItem, Rejection
from core.settings import RssConfig
from tools.db.feeds import FeedStore
from tools.feed_fetch import FeedFailure, fetch
from tools.sources import EXCERPT_CHARS, ItemError, Record, parse_item
from tools.text import clean_text

log = logging.getLogger(__name__)

# A complete RSS, Atom or RDF document ends by closing its root element. feedparser falls back
# to a loose parser on malformed XML, which reads a cut-off document without complaint and
# returns its last entry half-read; this tells the two apart.
_ROOT_CLOSED = re.compile(rb"</(?:[\w.-]+:)?(?:rss|feed|RDF)\s*>\s*(?:<!--.*?-->\s*)*\Z", re.S)

# Called with one feed's new records; the feed's state is saved only once it returns.
Deliver = Callable[[list[Record]], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Feed:
    url: str
    # The items' source.
    name: str

    @classmethod
    def parse(cls, spec: str) -> Feed:
        """`URL` or `name=URL` (NEWSDESK_RSS_FEEDS); the name defaults to the URL's host."""
        name, sep, url = spec.partition("=")
        if not sep or "://" in name:  # a bare URL whose query string holds the "="
            name, url = "", spec
        url = url.strip()
        parts = urlsplit(url)
        # urllib would also open file:// and ftp:// URLs; a feed list must not read local files.
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"a feed must be an http(s) URL, optionally name=URL: {spec!r}")
        name = name.strip() or parts.hostname.removeprefix("www.")
        return cls(url=url, name=name[:100])


@dataclass(frozen=True)
class FeedError:
    url: str
    reason: str
    # Seconds the server asked for before the next try (Retry-After), if it did.
    retry_after_s: float | None = None


@dataclass
class PollResult:
    items: list[NewsItem] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    errors: list[FeedError] = field(default_factory=list)
    # Feeds that answered 304 Not Modified.
    unchanged: list[str] = field(default_factory=list)


# --- polling --------------------------------------------------------------------------------


def poll_once(
    feeds: Sequence[Feed],
    store: FeedStore,
    config: RssConfig,
    deliver: Deliver | None = None,
    now: Callable[[], datetime] = _utcnow,
) -> PollResult:
    """Poll every feed once; returns the new items and rejections, and each feed's error.

    With `deliver`, each feed's records are handed to it before that feed's state is saved
    (at least once: a crash between the two hands them on again). Without it the state is
    saved at once and the caller owns what comes back.
    """
    result = PollResult()
    for feed in feeds:
        try:
            records = _poll_feed(feed, store, config, deliver, now)
        except FeedFailure as exc:
            error = FeedError(feed.url, str(exc), exc.retry_after_s)
            log.warning("feed %s: %s", feed.url, error.reason)
            store.record_feed_error(feed.url, now(), error.reason)
            result.errors.append(error)
            continue
        if records is None:
            result.unchanged.append(feed.url)
            continue
        for record in records:
            if isinstance(record, NewsItem):
                result.items.append(record)
            else:
                result.rejections.append(record)
    result.items.sort(key=lambda item: item.published_at)
    return result


def poll_forever(
    feeds: Sequence[Feed],
    store: FeedStore,
    config: RssConfig,
    deliver: Deliver,
    stop: threading.Event,
    now: Callable[[], datetime] = _utcnow,
) -> None:
    """Poll each feed whenever it is due, until `stop` is set.

    A feed is due config.interval_s after its last poll, or later when it answered with
    Retry-After. The last poll time is stored, so a restart does not ask again early.
    """
    if not feeds:
        return
    due: dict[str, float] = {}  # monotonic clock
    for feed in feeds:
        last = store.feed_state(feed.url).last_polled_at
        wait = 0.0 if last is None else config.interval_s - (now() - last).total_seconds()
        due[feed.url] = time.monotonic() + max(0.0, wait)
    while not stop.is_set():
        ready = [feed for feed in feeds if due[feed.url] <= time.monotonic()]
        if ready:
            try:
                result = poll_once(ready, store, config, deliver, now)
            except Exception:
                # The store itself failed (a feed's own failures never raise): keep the loop,
                # which serves for days, and try again at the next interval.
                log.exception("RSS poll failed; trying again in %g s", config.interval_s)
                result = PollResult()
            asked = {e.url: e.retry_after_s or 0.0 for e in result.errors}
            for feed in ready:
                wait = max(config.interval_s, asked.get(feed.url, 0.0))
                due[feed.url] = time.monotonic() + wait
        stop.wait(max(0.0, min(due.values()) - time.monotonic()))


def _poll_feed(
    feed: Feed,
    store: FeedStore,
    config: RssConfig,
    deliver: Deliver | None,
    now: Callable[[], datetime],
) -> list[Record] | None:
    """One feed's new records, or None when it answered 304. Raises FeedFailure."""
    state = store.feed_state(feed.url)
    polled_at = now()
    answer = fetch(
        feed.url, state.etag, state.last_modified, config.timeout_s, config.max_feed_bytes
    )
    if answer is None:
        store.record_feed_unchanged(feed.url, polled_at)
        return None
    try:
        parsed = feedparser.parse(answer.body, response_headers=answer.headers)
    except Exception as exc:
        # feedparser reads anything without raising, nearly; one feed that makes it raise must
        # not stop the others.
        raise FeedFailure(f"feedparser could not read the document: {exc!r}") from exc
    problem = document_problem(parsed, answer.body, answer.headers.get("content-type"))
    if problem:
        raise FeedFailure(problem)
    # An Atom entry without an author inherits the feed's.
    feed_author = parsed.feed.get("author")
    new, listed = entry_records(
        feed, parsed.entries, state.seen_ids, polled_at, config.max_text_chars, feed_author
    )
    records = [record for _, record in new]
    if deliver is not None and records:
        try:
            deliver(records)
        except Exception as exc:
            reason = f"delivery failed, the entries wait for the next poll: {exc!r}"
            raise FeedFailure(reason) from exc
    store.record_feed_fetch(
        feed.url,
        polled_at,
        etag=answer.headers.get("etag"),
        last_modified=answer.headers.get("last-modified"),
        new_ids=[entry_id for entry_id, _ in new],
        listed_ids=listed,
        keep_seen=config.seen_retention,
    )
    return records


# --- documents and entries ------------------------------------------------------------------


def document_problem(parsed: Any, body: bytes, content_type: str | None) -> str | None:
    """Why a fetched document must not be taken, or None.

    Many real feeds are slightly malformed (an undefined &nbsp;, a wrong encoding label) and
    feedparser reads them well, so a flaw alone is not fatal; a document with no entries to
    show for it, or one cut off before its end, is.
    """
    flaw = parsed.get("bozo_exception")
    described = f"{type(flaw).__name__}: {flaw}" if flaw else ""
    served_as = content_type or "no Content-Type"
    if not parsed.entries:
        if parsed.get("bozo"):
            return f"not a readable feed (served as {served_as}): {described}"
        if not parsed.get("version"):
            return f"not an RSS or Atom document (served as {served_as})"
        return None  # a feed with no entries yet
    if parsed.get("bozo") and not _ROOT_CLOSED.search(body[-4096:]):
        return f"truncated: the document ends before its root element is closed ({described})"
    return None


def entry_records(
    feed: Feed,
    entries: Sequence[Any],
    seen: frozenset[str],
    fetched_at: datetime,
    max_text_chars: int,
    feed_author: str | None = None,
) -> tuple[list[tuple[str, Record]], list[str]]:
    """The entries not seen before as (item id, record), and the ids of all listed entries.

    Rejections come first, then items oldest first, as replay files do: the dedup window runs
    on publication times.
    """
    new: list[tuple[str, Record]] = []
    listed: dict[str, None] = {}  # an ordered set
    for position, entry in enumerate(entries, start=1):
        item_id = entry_id(feed, entry)
        if item_id in listed:  # a feed that lists one entry twice
            continue
        listed[item_id] = None
        if item_id in seen:
            continue
        fields = entry_fields(feed, entry, item_id, fetched_at)
        fields["author"] = fields["author"] or feed_author
        try:
            record: Record = parse_item(fields, max_text_chars)
        except ItemError as exc:
            record = Rejection(
                source_file=feed.url,
                line_no=position,
                reason=f"feed entry {position}: {exc.reason}",
                raw_excerpt=_entry_excerpt(entry),
            )
        new.append((item_id, record))
    new.sort(
        key=lambda pair: (
            (1, pair[1].published_at) if isinstance(pair[1], NewsItem) else (0, fetched_at)
        )
    )
    return new, list(listed)


def entry_id(feed: Feed, entry: Any) -> str:
    """A stable item id: the entry's guid / Atom id, else its link, else its words.

    Scoped by the feed URL, so two feeds that reuse a guid never collide.
    """
    key = entry.get("id") or entry.get("link") or f"{entry.get('title')}\n{entry.get('summary')}"
    digest = hashlib.sha256(f"{feed.url}\n{key}".encode("utf-8", "surrogatepass")).hexdigest()
    host = (urlsplit(feed.url).hostname or "feed")[:100]
    return f"rss:{host}:{digest[:24]}"


def entry_fields(feed: Feed, entry: Any, item_id: str, fetched_at: datetime) -> dict[str, Any]:
    """An entry as the fields parse_item validates, its HTML reduced to text."""
    # Atom's <content> (and RSS's content:encoded) is the whole article; the summary a teaser.
    contents = [c.get("value") or "" for c in entry.get("content") or []]
    text = max(contents, key=len, default="") or entry.get("summary") or ""
    return {
        "id": item_id,
        "source": feed.name,
        "author": entry.get("author"),
        "title": clean_text(entry.get("title") or ""),
        "text": clean_text(text),
        "url": entry.get("link"),
        "published_at": entry_time(entry, fetched_at),
    }


def entry_time(entry: Any, fetched_at: datetime) -> datetime:
    """Published, else updated, else the fetch time.

    Never later than the fetch: nothing was published after it was read, so a later time is a
    wrong clock or zone, and it would hold the item outside the dedup window.
    """
    for key in ("published_parsed", "updated_parsed"):
        parsed = entry.get(key)
        if not parsed:
            continue
        try:
            when = datetime(*parsed[:6], tzinfo=UTC)
        except (TypeError, ValueError):
            continue
        return when if 1970 <= when.year and when <= fetched_at else fetched_at
    return fetched_at


def _entry_excerpt(entry: Any) -> str:
    fields = {key: entry.get(key) for key in ("id", "link", "title", "summary")}
    return repr({key: value for key, value in fields.items() if value})[:EXCERPT_CHARS]
