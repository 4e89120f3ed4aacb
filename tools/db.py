"""Storage: SQLAlchemy models and the Store the graph talks to.

One code path for SQLite (the default, a file under data_dir) and PostgreSQL (by URL). Every
Store method runs its own short transaction, so the graph's worker threads can share one Store.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from graph.state import (
    Decision,
    DedupVerdict,
    Impact,
    NewsItem,
    Recommendation,
    Sentiment,
    TaggedAsset,
    Urgency,
)

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

VERDICTS = ("unique", "related", "duplicate")
ITEM_STATUSES = ("received", "analysed", "pending_approval", "decided", "recorded")
APPROVAL_STATUSES = ("pending", "approved", "rejected", "adjusted", "expired")
DECISION_STATUS = {
    "approve": "approved",
    "reject": "rejected",
    "adjust": "adjusted",
    "expired": "expired",
}
# A rejected line can be megabytes long; the excerpt is only there to help a human find it.
MAX_EXCERPT_CHARS = 2_000
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Deterministic constraint names, so later migrations can drop or alter them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always returns tz-aware UTC datetimes, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        # SQLite ignores tzinfo; storing naive UTC keeps its text comparisons in time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Story(Base):
    __tablename__ = "stories"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Unique so that create_story is idempotent when the graph replays a step.
    first_item_id: Mapped[str] = mapped_column(String(200), index=True, unique=True)
    headline: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    item_count: Mapped[int] = mapped_column(Integer, default=1)
    duplicate_count: Mapped[int] = mapped_column(Integer, default=0)


class Item(Base):
    __tablename__ = "items"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    author: Mapped[str | None] = mapped_column(String(200))
    author_followers: Mapped[int | None] = mapped_column(Integer)
    author_verified: Mapped[bool | None] = mapped_column(Boolean)
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    content_hash: Mapped[str] = mapped_column(String(128), index=True)
    # float32 little-endian bytes; the dimension is len(bytes) // 4.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    verdict: Mapped[str] = mapped_column(String(16), index=True)
    dedup_method: Mapped[str] = mapped_column(String(16))
    nearest_id: Mapped[str | None] = mapped_column(String(200))
    similarity: Mapped[float | None] = mapped_column(Float)
    story_id: Mapped[str | None] = mapped_column(ForeignKey("stories.id"))
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="received")
    degraded: Mapped[bool] = mapped_column(Boolean, default=False)


class DuplicateLink(Base):
    """The duplicates collection: every item that joined an existing story, and why."""

    __tablename__ = "duplicate_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), index=True)
    # No foreign key: the nearest neighbour may come from a historical corpus, not this table.
    original_id: Mapped[str | None] = mapped_column(String(200))
    story_id: Mapped[str] = mapped_column(ForeignKey("stories.id"))
    similarity: Mapped[float | None] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Rejection(Base):
    __tablename__ = "rejections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_file: Mapped[str] = mapped_column(Text)
    line_no: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    raw_excerpt: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Analysis(Base):
    __tablename__ = "analyses"

    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True)
    assets: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    urgency: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    sentiment: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    impact: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    route: Mapped[str | None] = mapped_column(String(16))
    degraded_nodes: Mapped[list[str]] = mapped_column(JSON)
    errors: Mapped[list[str]] = mapped_column(JSON)
    timings_ms: Mapped[dict[str, float]] = mapped_column(JSON)
    llm_calls: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RecommendationRow(Base):
    __tablename__ = "recommendations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), index=True)
    symbol: Mapped[str] = mapped_column(String(64))
    widen_bps: Mapped[float] = mapped_column(Float)
    horizon_minutes: Mapped[int] = mapped_column(Integer)
    move_probability: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    rationale: Mapped[str] = mapped_column(Text)
    policy_bps: Mapped[float] = mapped_column(Float)
    llm_adjusted: Mapped[bool] = mapped_column(Boolean, default=False)
    clamped: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Approval(Base):
    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("thread_id"),)

    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(100))
    message_ts: Mapped[str | None] = mapped_column(String(64))
    # The thread reply that counts later copies of the story (Slack), once there is one.
    copies_ts: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)


class DecisionRow(Base):
    """Append-only audit trail: the Store never updates or deletes these rows."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), index=True)
    thread_id: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(16))
    user: Mapped[str] = mapped_column(String(200))
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    adjustments: Mapped[dict[str, dict[str, float]]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Feedback(Base):
    """A trader's verdict on a story's call (useful or not), kept for evals."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), index=True)
    user: Mapped[str] = mapped_column(String(200))
    useful: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SeenRequest(Base):
    """Signatures of Slack requests already handled: a replayed request is refused."""

    __tablename__ = "seen_requests"

    signature: Mapped[str] = mapped_column(String(100), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SpreadOverride(Base):
    """An approved widening the quoting engine must apply until `until`."""

    __tablename__ = "spread_overrides"
    __table_args__ = (UniqueConstraint("item_id", "asset"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), index=True)
    story_id: Mapped[str | None] = mapped_column(String(32))
    asset: Mapped[str] = mapped_column(String(32), index=True)
    bps: Mapped[float] = mapped_column(Float)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    approver: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(Text)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


@dataclass(frozen=True)
class ApprovalView:
    """A detached copy of an approval row, safe to hand to other threads."""

    item_id: str
    thread_id: str
    status: str
    requested_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    channel: str | None
    message_ts: str | None
    copies_ts: str | None
    summary: dict[str, Any]

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    def as_dict(self) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in asdict(self).items()}


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _row_dict(row: Base, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        attr.key: _jsonable(getattr(row, attr.key))
        for attr in row.__mapper__.column_attrs
        if attr.key not in exclude
    }


def _approval_view(row: Approval) -> ApprovalView:
    return ApprovalView(
        item_id=row.item_id,
        thread_id=row.thread_id,
        status=row.status,
        requested_at=row.requested_at,
        expires_at=row.expires_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        channel=row.channel,
        message_ts=row.message_ts,
        copies_ts=row.copies_ts,
        summary=dict(row.summary or {}),
    )


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


def ensure_sqlite_dir(url: str) -> None:
    """SQLite creates the file but not its directory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> Engine:
    ensure_sqlite_dir(url)
    if make_url(url).get_backend_name() != "sqlite":
        # pre_ping swaps out connections that died with a PostgreSQL restart.
        return create_engine(url, pool_pre_ping=True)

    engine = create_engine(url, pool_pre_ping=True, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers run while a worker writes; the busy timeout makes writers queue
        # instead of failing with "database is locked".
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # PostgreSQL enforces foreign keys; SQLite must be asked to, so both behave alike.
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


class Store:
    """The graph's only door to the database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        # expire_on_commit=False: values read inside a transaction stay readable after it.
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # --- schema --------------------------------------------------------------------------

    def migrate(self) -> None:
        """alembic upgrade head, without an alembic.ini."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("path_separator", "os")
        # Config is a ConfigParser: a literal % (URL-encoded passwords) must be doubled.
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        command.upgrade(config, "head")

    # --- items and dedup -----------------------------------------------------------------

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

    def story_view(self, story_id: str) -> dict[str, Any] | None:
        with self._sessions() as s:
            row = s.get(Story, story_id)
            return None if row is None else _row_dict(row)

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
                Rejection(
                    source_file=source_file,
                    line_no=line_no,
                    reason=reason,
                    raw_excerpt=raw_excerpt[:MAX_EXCERPT_CHARS],
                    created_at=utcnow(),
                )
            )

    # --- analysis ------------------------------------------------------------------------

    def save_analysis(
        self,
        item_id: str,
        *,
        assets: list[TaggedAsset],
        urgency: Urgency | None,
        sentiment: Sentiment | None,
        impact: Impact | None,
        route: str | None,
        degraded_nodes: list[str],
        errors: list[str],
        timings_ms: dict[str, float],
        llm_calls: int,
    ) -> None:
        """Replaces any earlier analysis of the item; also marks the item degraded or not."""
        values: dict[str, Any] = {
            "assets": [a.model_dump(mode="json") for a in assets],
            "urgency": urgency.model_dump(mode="json") if urgency else None,
            "sentiment": sentiment.model_dump(mode="json") if sentiment else None,
            "impact": impact.model_dump(mode="json") if impact else None,
            "route": route,
            "degraded_nodes": list(degraded_nodes),
            "errors": list(errors),
            "timings_ms": dict(timings_ms),
            "llm_calls": llm_calls,
            "created_at": utcnow(),
        }
        for attempt in range(2):
            try:
                with self._sessions.begin() as s:
                    row = s.get(Analysis, item_id)
                    if row is None:
                        s.add(Analysis(item_id=item_id, **values))
                    else:
                        for key, value in values.items():
                            setattr(row, key, value)
                    s.execute(
                        update(Item).where(Item.id == item_id).values(degraded=bool(degraded_nodes))
                    )
                return
            except IntegrityError:
                if attempt == 1:
                    raise

    def save_recommendations(self, item_id: str, recs: list[Recommendation]) -> None:
        """Replaces this item's recommendations."""
        now = utcnow()
        with self._sessions.begin() as s:
            s.execute(delete(RecommendationRow).where(RecommendationRow.item_id == item_id))
            s.add_all(
                RecommendationRow(item_id=item_id, created_at=now, **rec.model_dump(mode="json"))
                for rec in recs
            )

    def set_item_status(self, item_id: str, status: str) -> None:
        if status not in ITEM_STATUSES:
            raise ValueError(f"unknown item status {status!r}")
        with self._sessions.begin() as s:
            result = s.execute(update(Item).where(Item.id == item_id).values(status=status))
            if result.rowcount != 1:
                raise KeyError(f"item {item_id} not found")

    # --- approvals -----------------------------------------------------------------------

    def create_approval(
        self, item_id: str, thread_id: str, expires_at: datetime, summary: dict[str, Any]
    ) -> bool:
        """Idempotent: True only when this call created the row."""
        try:
            with self._sessions.begin() as s:
                exists = s.scalar(
                    select(Approval.item_id).where(
                        (Approval.item_id == item_id) | (Approval.thread_id == thread_id)
                    )
                )
                if exists is not None:
                    return False
                s.add(
                    Approval(
                        item_id=item_id,
                        thread_id=thread_id,
                        status="pending",
                        requested_at=utcnow(),
                        expires_at=expires_at,
                        summary=summary,
                    )
                )
            return True
        except IntegrityError:
            # Lost a race with another worker creating the same approval.
            if self.get_approval(item_id) or self.get_approval_by_thread(thread_id):
                return False
            raise

    def set_approval_message(self, item_id: str, channel: str, message_ts: str) -> None:
        """Where the approval request was posted (Slack), so it can be updated later."""
        with self._sessions.begin() as s:
            s.execute(
                update(Approval)
                .where(Approval.item_id == item_id)
                .values(channel=channel, message_ts=message_ts)
            )

    def get_approval(self, item_id: str) -> ApprovalView | None:
        with self._sessions() as s:
            row = s.get(Approval, item_id)
            return None if row is None else _approval_view(row)

    def get_approval_by_thread(self, thread_id: str) -> ApprovalView | None:
        with self._sessions() as s:
            row = s.scalar(select(Approval).where(Approval.thread_id == thread_id))
            return None if row is None else _approval_view(row)

    def list_approvals(self, status: str | None = "pending") -> list[ApprovalView]:
        stmt = select(Approval).order_by(Approval.requested_at, Approval.item_id)
        if status is not None:
            stmt = stmt.where(Approval.status == status)
        with self._sessions() as s:
            return [_approval_view(row) for row in s.scalars(stmt)]

    def decide(self, item_id: str, decision: Decision) -> tuple[bool, ApprovalView]:
        """Apply a decision exactly once; returns (applied, the approval as it now stands).

        Only a pending approval changes, and only an applied decision gets an audit row.
        """
        new_status = DECISION_STATUS[decision.decision]
        with self._sessions.begin() as s:
            # Row lock on PostgreSQL: a concurrent decide waits here, then sees the new status.
            row = s.scalar(select(Approval).where(Approval.item_id == item_id).with_for_update())
            if row is None:
                raise KeyError(f"no approval for item {item_id}")
            applied = False
            if row.status == "pending":
                # SQLite ignores FOR UPDATE, so this compare-and-set is what makes it
                # exactly-once there: the loser of the write lock updates no row.
                result = s.execute(
                    update(Approval)
                    .where(Approval.item_id == item_id, Approval.status == "pending")
                    .values(status=new_status, decided_at=decision.ts, decided_by=decision.user)
                    .execution_options(synchronize_session=False)
                )
                applied = result.rowcount == 1
                if applied:
                    s.add(
                        DecisionRow(
                            item_id=item_id,
                            thread_id=row.thread_id,
                            decision=decision.decision,
                            user=decision.user,
                            ts=decision.ts,
                            adjustments=decision.adjustments,
                            note=decision.note,
                            created_at=utcnow(),
                        )
                    )
                    s.flush()
                s.refresh(row)
            return applied, _approval_view(row)

    def add_overrides(self, item_id: str, overrides: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Record a story's approved overrides once; returns only the rows this call created.

        (item_id, asset) is unique, so a re-run or a second process applying the same decision
        inserts nothing and publishes nothing twice.
        """
        try:
            with self._sessions.begin() as s:
                now = utcnow()
                rows = [SpreadOverride(item_id=item_id, created_at=now, **o) for o in overrides]
                s.add_all(rows)
                s.flush()
                return [_row_dict(o) for o in rows]
        except IntegrityError:
            return []

    def add_feedback(self, item_id: str, user: str, useful: bool, note: str = "") -> None:
        with self._sessions.begin() as s:
            s.add(
                Feedback(
                    item_id=item_id, user=user, useful=useful, note=note[:2000], created_at=utcnow()
                )
            )

    def feedback_for(self, item_id: str) -> list[dict[str, Any]]:
        stmt = select(Feedback).where(Feedback.item_id == item_id).order_by(Feedback.id)
        with self._sessions() as s:
            return [_row_dict(row, exclude=("id",)) for row in s.scalars(stmt)]

    def analysed_feed(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest analysed items for the web desk, newest first."""
        stmt = (
            select(Item, Analysis)
            .join(Analysis, Analysis.item_id == Item.id)
            .order_by(Analysis.created_at.desc(), Item.id)
            .limit(limit)
        )
        with self._sessions() as s:
            rows = s.execute(stmt).all()
            feed = []
            for item, analysis in rows:
                recs = s.scalars(
                    select(RecommendationRow)
                    .where(RecommendationRow.item_id == item.id)
                    .order_by(RecommendationRow.widen_bps.desc())
                    .limit(3)
                ).all()
                feed.append(
                    {
                        "item_id": item.id,
                        "headline": (item.title or item.text or "")[:200],
                        "source": item.source,
                        "author": item.author,
                        "verdict": item.verdict,
                        "status": item.status,
                        "route": analysis.route,
                        "urgency": (analysis.urgency or {}).get("level"),
                        "sentiment": (analysis.sentiment or {}).get("label"),
                        "degraded": bool(analysis.degraded_nodes),
                        "recommendations": [
                            {
                                "symbol": r.symbol,
                                "widen_bps": r.widen_bps,
                                "horizon_minutes": r.horizon_minutes,
                            }
                            for r in recs
                        ],
                    }
                )
            return feed

    def story_approval(self, story_id: str) -> ApprovalView | None:
        """The approval of the story's first item: where its later copies are counted."""
        with self._sessions() as s:
            story = s.get(Story, story_id)
            row = s.get(Approval, story.first_item_id) if story else None
            return None if row is None else _approval_view(row)

    def set_copies_message(self, item_id: str, copies_ts: str) -> None:
        with self._sessions.begin() as s:
            s.execute(
                update(Approval).where(Approval.item_id == item_id).values(copies_ts=copies_ts)
            )

    def first_sighting(self, signature: str, keep: timedelta = timedelta(minutes=10)) -> bool:
        """True the first time a request signature is seen; False for a replay.

        Slack signs each delivery (a retry included) with a fresh timestamp, so an identical
        signature can only be a copy of a request already handled. Signatures older than the
        five-minute signing window are refused by Bolt anyway, so old rows are pruned.
        """
        now = utcnow()
        try:
            with self._sessions.begin() as s:
                s.execute(delete(SeenRequest).where(SeenRequest.seen_at < now - keep))
                s.add(SeenRequest(signature=signature, seen_at=now))
            return True
        except IntegrityError:
            return False

    def active_overrides(self, at: datetime | None = None) -> list[dict[str, Any]]:
        at = at or utcnow()
        stmt = (
            select(SpreadOverride)
            .where(SpreadOverride.starts_at <= at, SpreadOverride.until > at)
            .order_by(SpreadOverride.until, SpreadOverride.asset)
        )
        with self._sessions() as s:
            return [_row_dict(o, exclude=("id",)) for o in s.scalars(stmt)]

    def decisions_for(self, item_id: str) -> list[dict[str, Any]]:
        stmt = select(DecisionRow).where(DecisionRow.item_id == item_id).order_by(DecisionRow.id)
        with self._sessions() as s:
            return [_row_dict(row) for row in s.scalars(stmt)]

    # --- reporting -----------------------------------------------------------------------

    def item_view(self, item_id: str) -> dict[str, Any] | None:
        """Item, analysis, recommendations and approval as plain JSON-friendly data."""
        with self._sessions() as s:
            item = s.get(Item, item_id)
            if item is None:
                return None
            view = _row_dict(item, exclude=("embedding",))
            view["embedding_dim"] = None if item.embedding is None else len(item.embedding) // 4
            analysis = s.get(Analysis, item_id)
            view["analysis"] = None if analysis is None else _row_dict(analysis)
            recs = s.scalars(
                select(RecommendationRow)
                .where(RecommendationRow.item_id == item_id)
                .order_by(RecommendationRow.id)
            )
            view["recommendations"] = [_row_dict(r, exclude=("id", "item_id")) for r in recs]
            approval = s.get(Approval, item_id)
            view["approval"] = None if approval is None else _approval_view(approval).as_dict()
            return view

    def counts(self) -> dict[str, int]:
        """Items per verdict, stories, rejections and approvals per status (approvals_<status>)."""
        out: dict[str, int] = {v: 0 for v in VERDICTS}
        out.update({f"approvals_{st}": 0 for st in APPROVAL_STATUSES})
        with self._sessions() as s:
            for verdict, n in s.execute(select(Item.verdict, func.count()).group_by(Item.verdict)):
                out[verdict] = n
            out["items"] = sum(out[v] for v in VERDICTS)
            out["stories"] = s.scalar(select(func.count()).select_from(Story)) or 0
            out["rejections"] = s.scalar(select(func.count()).select_from(Rejection)) or 0
            by_status = select(Approval.status, func.count()).group_by(Approval.status)
            for status, n in s.execute(by_status):
                out[f"approvals_{status}"] = n
        return out

    def start_run(self, source: str) -> int:
        with self._sessions.begin() as s:
            run = Run(started_at=utcnow(), source=source)
            s.add(run)
            s.flush()
            return run.id

    def finish_run(self, run_id: int, report: dict[str, Any]) -> None:
        with self._sessions.begin() as s:
            s.execute(
                update(Run).where(Run.id == run_id).values(finished_at=utcnow(), report=report)
            )
