"""The desk's tables (SQLAlchemy 2.0 models). Alembic migrations in tools/migrations follow them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, get_args

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from core.records import ApprovalStatus, ItemStatus, Verdict

# The string columns below hold these values; the records define them once.
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)
ITEM_STATUSES: tuple[ItemStatus, ...] = get_args(ItemStatus)
APPROVAL_STATUSES: tuple[ApprovalStatus, ...] = get_args(ApprovalStatus)

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


class RejectionRow(Base):
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


class RssFeed(Base):
    """Per-feed state of the RSS/Atom poller: the conditional GET validators and the last poll.

    A failed poll only touches last_polled_at, last_error and consecutive_errors, so the next
    poll asks for the same document again and nothing in it is skipped.
    """

    __tablename__ = "rss_feeds"

    url: Mapped[str] = mapped_column(String(2000), primary_key=True)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)


class RssSeenEntry(Base):
    """An entry of a feed already handed on (by its item id), so a re-poll skips it."""

    __tablename__ = "rss_seen_entries"

    feed_url: Mapped[str] = mapped_column(ForeignKey("rss_feeds.url"), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(Text)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class InboxMessage(Base):
    """A message on the database bus (tools/queues/inbox.py): accepted, not yet finished.

    The row is the durable copy: it is written before intake acknowledges and deleted only once
    the consumer committed the item's result. (queue, message_id) is unique, so a re-send of a
    message still waiting here is dropped.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("queue", "message_id"),
        # Consumers claim the oldest unleased rows of one queue.
        Index("ix_inbox_queue_seq", "queue", "seq"),
    )

    # BIGINT on PostgreSQL (a firehose wraps 2^31 in weeks); SQLite needs INTEGER for its
    # autoincrementing rowid.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    queue: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    # Not before this time: a consumer's lease on the message (redelivered when it passes
    # without an ack) or a nak's back-off. NULL: ready now.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
