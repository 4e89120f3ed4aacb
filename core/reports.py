"""Reports the desk writes as JSON: a key is defined here once, for the code that writes the
file, the code that prints it and the tests that read it back."""

from __future__ import annotations

from pydantic import BaseModel, Field

from core.records import Recommendation, Route, UrgencyLevel


class LatencyPercentiles(BaseModel):
    """Milliseconds from an item entering the graph to its last node, per verdict."""

    unique_p50: float | None = None
    unique_p95: float | None = None
    duplicate_p50: float | None = None
    duplicate_p95: float | None = None


class TokenCount(BaseModel):
    input: int = 0
    output: int = 0


class RejectedItem(BaseModel):
    item: str
    reason: str


class MaterialStory(BaseModel):
    item_id: str
    headline: str
    urgency: UrgencyLevel | None = None
    sentiment: str | None = None
    degraded: bool = False
    recommendations: list[Recommendation] = Field(default_factory=list)


class RunSettings(BaseModel):
    """The settings that shape a run's verdicts, so two reports can be compared fairly."""

    llm_provider: str
    llm_nodes: list[str]
    dedup_duplicate_threshold: float
    dedup_unique_threshold: float
    gray_zone_policy: str


class RunReport(BaseModel):
    """`newsdesk run`'s report: every item is accounted for
    (items = rejected + duplicates + related + unique)."""

    source: str
    finished_at: str
    items: int
    rejected: int
    duplicates: int
    related: int
    unique: int
    analysed: int
    material: int
    routine: int
    pending_approvals: int
    degraded: int
    llm_calls: int
    llm_calls_on_duplicates: int
    llm_failures: int
    llm_tokens: TokenCount
    recommendations: int
    recommendations_out_of_bounds: int
    elapsed_s: float
    items_per_minute: float | None
    latency_ms: LatencyPercentiles
    rejections: list[RejectedItem] = Field(default_factory=list)
    top_material: list[MaterialStory] = Field(default_factory=list)
    settings: RunSettings


class Outcome(BaseModel):
    """What became of one item in a run."""

    item_id: str
    verdict: str  # rejected | duplicate | related | unique
    route: Route | None = None
    degraded: bool = False
    llm_calls: int = 0
    latency_ms: float = 0.0
    headline: str = ""
    recommendations: list[Recommendation] = Field(default_factory=list)
    urgency: UrgencyLevel | None = None
    sentiment: str | None = None
    pending_approval: bool = False
    out_of_bounds: int = 0
    reason: str = ""
