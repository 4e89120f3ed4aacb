"""What the store hands out: detached, typed copies of its rows, safe to pass between threads,
to serialise for the web desk or Slack, and to print in the CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from core.records import (
    ApprovalStatus,
    ApprovalSummary,
    Decision,
    DedupMethod,
    Impact,
    ItemStatus,
    Recommendation,
    Route,
    Sentiment,
    TaggedAsset,
    Urgency,
    Verdict,
)


class View(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class ApprovalView(View):
    item_id: str
    thread_id: str
    status: ApprovalStatus
    requested_at: AwareDatetime
    expires_at: AwareDatetime
    decided_at: AwareDatetime | None = None
    decided_by: str | None = None
    channel: str | None = None
    message_ts: str | None = None
    # The thread reply that counts later copies of the story (Slack), once there is one.
    copies_ts: str | None = None
    summary: ApprovalSummary

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    def status_at(self, now: datetime) -> ApprovalStatus:
        """The status a trader should read now: a pending story past its expiry is expired,
        whether or not anything has recorded that yet."""
        return "expired" if self.pending and now >= self.expires_at else self.status


class DecisionRecord(Decision):
    """A decision as the audit trail holds it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    item_id: str
    thread_id: str
    created_at: AwareDatetime


class OverrideView(View):
    """An approved widening the quoting engine must apply until `until`."""

    id: int
    item_id: str
    story_id: str | None = None
    asset: str
    bps: float
    starts_at: AwareDatetime
    until: AwareDatetime
    approver: str
    created_at: AwareDatetime


class FeedbackView(View):
    item_id: str
    user: str
    useful: bool
    note: str = ""
    created_at: AwareDatetime


class StoryView(View):
    id: str
    first_item_id: str
    headline: str
    created_at: AwareDatetime
    last_seen_at: AwareDatetime
    item_count: int
    duplicate_count: int


class AnalysisView(View):
    item_id: str
    assets: list[TaggedAsset] = Field(default_factory=list)
    urgency: Urgency | None = None
    sentiment: Sentiment | None = None
    impact: Impact | None = None
    route: Route | None = None
    degraded_nodes: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    llm_calls: int = 0
    created_at: AwareDatetime


class ItemView(View):
    """An item with everything the desk concluded about it."""

    id: str
    source: str
    author: str | None = None
    author_followers: int | None = None
    author_verified: bool | None = None
    title: str | None = None
    text: str | None = None
    url: str | None = None
    published_at: AwareDatetime
    received_at: AwareDatetime
    content_hash: str
    embedding_dim: int | None = None
    verdict: Verdict
    dedup_method: DedupMethod
    nearest_id: str | None = None
    similarity: float | None = None
    story_id: str | None = None
    truncated: bool = False
    status: ItemStatus
    degraded: bool = False
    analysis: AnalysisView | None = None
    recommendations: list[Recommendation] = Field(default_factory=list)
    approval: ApprovalView | None = None


class FeedRecommendation(View):
    symbol: str
    widen_bps: float
    horizon_minutes: int


class FeedEntry(View):
    """One analysed item on the web desk's live feed."""

    item_id: str
    headline: str
    source: str
    author: str | None = None
    verdict: Verdict
    status: ItemStatus
    route: Route | None = None
    urgency: str | None = None
    sentiment: str | None = None
    degraded: bool = False
    recommendations: list[FeedRecommendation] = Field(default_factory=list)


class RejectionView(View):
    """An input that never became an item, and why."""

    source_file: str
    line_no: int
    reason: str
    raw_excerpt: str
    created_at: AwareDatetime


class StoreCounts(View):
    """Items per verdict, stories, rejections and approvals per status."""

    items: int = 0
    unique: int = 0
    related: int = 0
    duplicate: int = 0
    stories: int = 0
    rejections: int = 0
    approvals: dict[ApprovalStatus, int] = Field(default_factory=dict)


class RssFeedState(View):
    """What the RSS poller keeps per feed between polls (tools/db/feeds.py)."""

    url: str
    # The validators of the last document taken in full, sent back as If-None-Match and
    # If-Modified-Since.
    etag: str | None = None
    last_modified: str | None = None
    last_polled_at: AwareDatetime | None = None
    last_success_at: AwareDatetime | None = None
    last_error: str | None = None
    consecutive_errors: int = 0
    # Item ids already handed on: a re-poll yields only entries not in here.
    seen_ids: frozenset[str] = frozenset()
