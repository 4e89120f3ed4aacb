"""The typed records every part of the desk shares: a news item, what the graph concluded about
it, a trader's decision, a rejected input and the approval summary a trader reads.

This is the bottom layer: it imports no project folder, so tools, graphs, serving and evals can
all depend on it without depending on each other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator

Verdict = Literal["unique", "related", "duplicate"]
Direction = Literal["up", "down", "uncertain"]
SentimentLabel = Literal["bearish", "neutral", "bullish"]
UrgencyLevel = Literal["low", "medium", "high", "critical"]
Route = Literal["routine", "material"]
DecisionKind = Literal["approve", "reject", "adjust", "expired"]
DedupMethod = Literal["exact_hash", "window", "historical", "none"]
ItemStatus = Literal["received", "analysed", "pending_approval", "decided", "recorded"]
ApprovalStatus = Literal["pending", "approved", "rejected", "adjusted", "expired"]

# The approval status each decision leaves behind.
DECISION_STATUS: dict[DecisionKind, ApprovalStatus] = {
    "approve": "approved",
    "reject": "rejected",
    "adjust": "adjusted",
    "expired": "expired",
}


class NewsItem(BaseModel):
    """One validated news item or social post."""

    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=100)
    author: str | None = None
    author_followers: int | None = Field(default=None, ge=0)
    author_verified: bool | None = None
    title: str | None = None
    text: str | None = None
    url: str | None = None
    published_at: datetime
    truncated: bool = False

    @field_validator("published_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # Naive times are UTC everywhere (sources, database); the index's window arithmetic
        # must not read them as the host's local time.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def body(self) -> str:
        """Title and text joined: what the models read."""
        parts = [p.strip() for p in (self.title, self.text) if p and p.strip()]
        if len(parts) == 2 and parts[1].startswith(parts[0]):
            return parts[1]
        return "\n".join(parts)


class DedupVerdict(BaseModel):
    verdict: Verdict
    method: DedupMethod
    # Set when the pair verifier read the gray-zone pair: P(same story).
    verifier_probability: float | None = None
    nearest_id: str | None = None
    similarity: float | None = None
    story_id: str | None = None
    reason: str = ""


class TaggedAsset(BaseModel):
    symbol: str
    name: str
    asset_class: str
    vol_class: str
    matched: list[str] = Field(default_factory=list, description="text spans that matched")
    via: str = "alias"
    strength: float = Field(1.0, ge=0, le=1, description="1 for a direct mention, less for a topic")
    source: Literal["catalog", "llm"] = "catalog"


class Urgency(BaseModel):
    level: UrgencyLevel
    score: float = Field(ge=0, le=1)
    reasons: list[str] = Field(default_factory=list)
    source: Literal["rules", "llm", "rules+llm"] = "rules"
    # Event types the item reports (tools.urgency_rules.tag_events): SentiFM's company events
    # and the desk's crypto/macro ones. Rules only; an LLM answer never changes them.
    events: list[str] = Field(default_factory=list)


class SentimentVote(BaseModel):
    label: SentimentLabel
    score: float = Field(ge=-1, le=1)
    confidence: float = Field(ge=0, le=1)


class Sentiment(BaseModel):
    label: SentimentLabel
    score: float = Field(ge=-1, le=1)
    confidence: float = Field(ge=0, le=1)
    votes: dict[str, SentimentVote] = Field(default_factory=dict)


class AssetImpact(BaseModel):
    symbol: str
    direction: Direction
    strength: float = Field(ge=0, le=1, description="how strongly the news reaches this asset")
    relation: str = "direct"
    via: str | None = None
    rationale: str = ""


class Impact(BaseModel):
    direct: list[AssetImpact] = Field(default_factory=list)
    spillover: list[AssetImpact] = Field(default_factory=list)
    summary: str = ""

    def all(self) -> list[AssetImpact]:
        return [*self.direct, *self.spillover]


class Recommendation(BaseModel):
    symbol: str
    widen_bps: float = Field(ge=0)
    horizon_minutes: int = Field(ge=1)
    move_probability: float = Field(ge=0, le=1)
    confidence: float = Field(ge=0, le=1)
    rationale: str
    policy_bps: float = Field(ge=0, description="the transparent policy core's value")
    llm_adjusted: bool = False
    clamped: bool = False


class Decision(BaseModel):
    decision: DecisionKind
    user: str
    # A resume may leave it out (LangGraph Studio, a hand-written payload): then it is the
    # server's clock when the decision arrives.
    ts: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    adjustments: dict[str, dict[str, float]] = Field(default_factory=dict)
    note: str = ""


class Rejection(BaseModel):
    """A record that could not become a NewsItem, kept so that nothing is dropped silently."""

    model_config = {"frozen": True}

    source_file: str
    line_no: int
    reason: str
    raw_excerpt: str


class ApprovalSummary(BaseModel):
    """What a trader reads before deciding: posted to Slack, stored with the approval, shown
    on the web desk and handed to LangGraph's interrupt."""

    item_id: str
    headline: str
    source: str
    author: str | None = None
    url: str | None = None
    urgency: Urgency
    sentiment: Sentiment
    impact: Impact
    recommendations: list[Recommendation] = Field(default_factory=list)
    degraded: list[str] = Field(default_factory=list)
