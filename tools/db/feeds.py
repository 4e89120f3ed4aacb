"""Per-feed state of the RSS/Atom poller (tools/rss.py): validators, last poll, seen entries.

Kept in the desk's database rather than a file beside it so that it lives wherever the items
do (SQLite or PostgreSQL), and a feed's new validators and seen ids commit in one transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.views import RssFeedState
from tools.db.engine import StoreBase
from tools.db.models import RssFeed, RssSeenEntry

MAX_ERROR_CHARS = 2_000


class FeedStore(StoreBase):
    def feed_state(self, url: str) -> RssFeedState:
        """The state of one feed; a feed never polled has an empty one."""
        with self._sessions() as s:
            row = s.get(RssFeed, url)
            seen = frozenset(
                s.scalars(select(RssSeenEntry.entry_id).where(RssSeenEntry.feed_url == url))
            )
        if row is None:
            return RssFeedState(url=url, seen_ids=seen)
        columns = {attr.key: getattr(row, attr.key) for attr in row.__mapper__.column_attrs}
        return RssFeedState.model_validate({**columns, "seen_ids": seen})

    def record_feed_fetch(
        self,
        url: str,
        polled_at: datetime,
        etag: str | None,
        last_modified: str | None,
        new_ids: Collection[str],
        listed_ids: Collection[str],
        keep_seen: timedelta,
    ) -> None:
        """A document was taken in full and its new entries handed on: remember both.

        Seen ids the document no longer lists are pruned once older than keep_seen, so the
        table stays the size of the feeds rather than growing with every entry ever seen.
        """
        with self._sessions.begin() as s:
            row = _feed_row(s, url)
            row.etag, row.last_modified = etag, last_modified
            row.last_polled_at = row.last_success_at = polled_at
            row.last_error, row.consecutive_errors = None, 0
            s.flush()  # the feed row first: the seen entries refer to it
            s.add_all(
                RssSeenEntry(feed_url=url, entry_id=entry_id, seen_at=polled_at)
                for entry_id in new_ids
            )
            s.execute(
                delete(RssSeenEntry).where(
                    RssSeenEntry.feed_url == url,
                    RssSeenEntry.seen_at < polled_at - keep_seen,
                    RssSeenEntry.entry_id.not_in(list(listed_ids)),
                )
            )

    def record_feed_unchanged(self, url: str, polled_at: datetime) -> None:
        """The feed answered 304 Not Modified."""
        with self._sessions.begin() as s:
            row = _feed_row(s, url)
            row.last_polled_at = row.last_success_at = polled_at
            row.last_error, row.consecutive_errors = None, 0

    def record_feed_error(self, url: str, polled_at: datetime, error: str) -> None:
        """The poll failed: note why, and leave the validators and seen ids as they were."""
        with self._sessions.begin() as s:
            row = _feed_row(s, url)
            row.last_polled_at = polled_at
            row.last_error = error[:MAX_ERROR_CHARS]
            row.consecutive_errors = (row.consecutive_errors or 0) + 1


def _feed_row(s: Session, url: str) -> RssFeed:
    row = s.get(RssFeed, url)
    if row is None:
        row = RssFeed(url=url, consecutive_errors=0)
        s.add(row)
    return row
