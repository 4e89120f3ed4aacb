"""The news graph's typed state and the Pydantic records that flow through it.

Parallel nodes (asset tagging, urgency, sentiment) write to the same state in one step, so
the fields they all touch (timings, errors, degraded, llm_calls) carry reducers.
"""

from __future__ import annotations

import operator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypedDict

from pydantic import AwareDatetime, BaseModel, Field, field_validator

Verdict = Literal["unique", "related", "duplicate"]
Direction = Literal["up", "down", "uncertain"]
SentimentLabel = Literal["bearish", "neutral", "bullish"]
UrgencyLevel = Literal["low", "medium", "high", "critical"]
Route = Literal["routine", "material"]
DecisionKind = Literal["approve", "reject", "adjust", "expired"]


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
    method: Literal["exact_hash", "window", "historical", "none"]
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
    ts: AwareDatetime
    adjustments: dict[str, dict[str, float]] = Field(default_factory=dict)
    note: str = ""


class NewsState(TypedDict, total=False):
    raw: dict[str, Any]
    item: NewsItem | None
    content_hash: str
    embedding: list[float]
    dedup: DedupVerdict
    assets: list[TaggedAsset]
    urgency: Urgency
    sentiment: Sentiment
    impact: Impact
    recommendations: list[Recommendation]
    route: Route
    notified: bool
    decision: Decision
    applied: bool
    timings_ms: Annotated[dict[str, float], operator.or_]
    errors: Annotated[list[str], operator.add]
    degraded: Annotated[list[str], operator.add]
    llm_calls: Annotated[int, operator.add]
