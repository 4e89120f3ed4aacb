"""Items, their dedup verdicts, stories and the embeddings the news index is rebuilt from."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.records import DedupVerdict, NewsItem
from core.views import RejectionView, StoryView
from tools.db.engine import StoreBase
from tools.db.models import DuplicateLink, Item, RejectionRow, Story, utcnow

log = logging.getLogger(__name__)

# A rejected line can be megabytes long; the excerpt is only there to help a human find it.
MAX_EXCERPT_CHARS = 2_000


def encode_embedding(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").reshape(-1).tobytes()


def decode_embedding(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


@dataclass(frozen=True)
class IndexedEmbedding:
    item_id: str
    story_id: str | None
    published_at: datetime
    verdict: str
    vector: np.ndarray


class ItemStore(StoreBase):
    def item_exists(self, item_id: str) -> bool:
        with self._sessions() as s:
            return s.scalar(select(Item.id).where(Item.id == item_id)) is not None

    def stored_verdict(self, item_id: str) -> DedupVerdict | None:
        """The dedup verdict already recorded for this item, if any (a re-run must reuse it)."""
        with self._sessions() as s:
            item = s.get(Item, item_id)
            if item is None or item.verdict is None:
                return None
            return DedupVerdict(
                verdict=item.verdict,
                method=item.dedup_method or "none",
                nearest_id=item.nearest_id,
                similarity=item.similarity,
                story_id=item.story_id,
                reason="verdict recorded earlier for this item",
            )

    def find_by_hash(self, content_hash: str) -> tuple[str, str | None] | None:
        stmt = (
            select(Item.id, Item.story_id)
            .where(Item.content_hash == content_hash)
            .order_by(Item.published_at, Item.received_at, Item.id)
            .limit(1)
        )
        with self._sessions() as s:
            row = s.execute(stmt).first()
        return None if row is None else (row[0], row[1])

    def save_item(
        self,
        item: NewsItem,
        content_hash: str,
        embedding: np.ndarray | None,
        dedup: DedupVerdict,
    ) -> None:
        """Insert, or on a replay of the same id refresh the hash, embedding and dedup fields."""
        blob = None if embedding is None else encode_embedding(embedding)
        # Two attempts: if another worker inserts the same id between our read and insert,
        # the second pass finds the row and updates it.
        for attempt in range(2):
            try:
                with self._sessions.begin() as s:
                    row = s.get(Item, item.id)
                    if row is None:
                        s.add(
                            Item(
                                id=item.id,
                                source=item.source,
                                author=item.author,
                                author_followers=item.author_followers,
                                author_verified=item.author_verified,
                                title=item.title,
                                text=item.text,
                                url=item.url,
                                published_at=item.published_at,
                                received_at=utcnow(),
                                content_hash=content_hash,
                                embedding=blob,
                                verdict=dedup.verdict,
                                dedup_method=dedup.method,
                                nearest_id=dedup.nearest_id,
                                similarity=dedup.similarity,
                                story_id=dedup.story_id,
                                truncated=item.truncated,
                                status="received",
                                degraded=False,
                            )
                        )
                    else:
                        row.content_hash = content_hash
                        if blob is not None:
                            row.embedding = blob
                        row.verdict = dedup.verdict
                        row.dedup_method = dedup.method
                        row.nearest_id = dedup.nearest_id
                        row.similarity = dedup.similarity
                        if dedup.story_id is not None:
                            row.story_id = dedup.story_id
                return
            except IntegrityError:
                if attempt == 1:
                    raise

    def create_story(self, item: NewsItem) -> str:
        """A new story led by this item (or the one it already leads); returns its id."""
        headline = (item.title or "").strip() or (item.text or "").strip()[:200]
        now = utcnow()
        try:
            with self._sessions.begin() as s:
                existing = s.scalar(select(Story.id).where(Story.first_item_id == item.id))
                if existing is not None:
                    return existing
                story_id = uuid.uuid4().hex
                s.add(
                    Story(
                        id=story_id,
                        first_item_id=item.id,
                        headline=headline,
                        created_at=now,
                        last_seen_at=now,
                        item_count=1,
                        duplicate_count=0,
                    )
                )
                s.flush()
                s.execute(update(Item).where(Item.id == item.id).values(story_id=story_id))
                return story_id
        except IntegrityError:
            # Another worker created it first.
            with self._sessions() as s:
                existing = s.scalar(select(Story.id).where(Story.first_item_id == item.id))
            if existing is None:
                raise
            return existing

    def link_to_story(self, item_id: str, dedup: DedupVerdict) -> None:
        """Record the item in the duplicates collection and count it in its story.

        Idempotent per item: a replayed step does not count the item twice.
        """
        if dedup.verdict not in ("duplicate", "related"):
            raise ValueError(f"only duplicate or related items join a story, not {dedup.verdict}")
        with self._sessions.begin() as s:
            if s.scalar(select(DuplicateLink.id).where(DuplicateLink.item_id == item_id)):
                return
            story_id = dedup.story_id
            if story_id is None and dedup.nearest_id is not None:
                story_id = s.scalar(select(Item.story_id).where(Item.id == dedup.nearest_id))
            if story_id is None:
                raise ValueError(f"no story to link item {item_id} to")
            now = utcnow()
            s.add(
                DuplicateLink(
                    item_id=item_id,
                    original_id=dedup.nearest_id,
                    story_id=story_id,
                    similarity=dedup.similarity,
                    kind=dedup.verdict,
                    method=dedup.method,
                    created_at=now,
                )
            )
            # Counters are bumped in SQL, not read-modify-write, so concurrent links add up.
            bumped = s.execute(
                update(Story)
                .where(Story.id == story_id)
                .values(
                    item_count=Story.item_count + 1,
                    duplicate_count=Story.duplicate_count
                    + (1 if dedup.verdict == "duplicate" else 0),
                    last_seen_at=now,
                )
            )
            if bumped.rowcount != 1:
                raise KeyError(f"story {story_id} not found")
            s.execute(update(Item).where(Item.id == item_id).values(story_id=story_id))

    def story_for(self, item_id: str) -> str | None:
        with self._sessions() as s:
            return s.scalar(select(Item.story_id).where(Item.id == item_id))

    def story_view(self, story_id: str) -> StoryView | None:
        with self._sessions() as s:
            row = s.get(Story, story_id)
            return None if row is None else StoryView.model_validate(row)

    def indexed_embeddings(self, dimension: int) -> list[IndexedEmbedding]:
        """Stored embeddings of this dimension in time order, to rebuild the news index.

        Vectors from another embedding model cannot be compared with the current one's, so
        they are skipped (and counted in the log).
        """
        stmt = (
            select(Item.id, Item.story_id, Item.published_at, Item.verdict, Item.embedding)
            .where(Item.embedding.is_not(None))
            .order_by(Item.published_at, Item.id)
        )
        with self._sessions() as s:
            rows = [
                IndexedEmbedding(r[0], r[1], r[2], r[3], decode_embedding(r[4]))
                for r in s.execute(stmt)
            ]
        kept = [r for r in rows if r.vector.size == dimension]
        if len(kept) < len(rows):
            log.warning(
                "ignoring %d stored embeddings not of dimension %d",
                len(rows) - len(kept),
                dimension,
            )
        return kept

    def save_rejection(self, source_file: str, line_no: int, reason: str, raw_excerpt: str) -> None:
        with self._sessions.begin() as s:
            s.add(
                RejectionRow(
                    source_file=source_file,
                    line_no=line_no,
                    reason=reason,
                    raw_excerpt=raw_excerpt[:MAX_EXCERPT_CHARS],
                    created_at=utcnow(),
                )
            )

    def rejections(self, limit: int = 100) -> list[RejectionView]:
        """The oldest rejected inputs first (the order they were refused in)."""
        stmt = select(RejectionRow).order_by(RejectionRow.id).limit(limit)
        with self._sessions() as s:
            return [RejectionView.model_validate(row) for row in s.scalars(stmt)]
