"""The news graph's state, its input and its checkpoint threads.

Parallel nodes (asset tagging, urgency, sentiment) write to the same state in one step, so
the fields they all touch (timings, errors, degraded, llm_calls) carry reducers.
"""

from __future__ import annotations

import operator
from typing import Annotated, Literal, get_args

# Pydantic (which draws the input schema for Studio) needs this TypedDict before Python 3.12.
from typing_extensions import TypedDict

# Checkpoints written before the records moved to core.records name them as graph.state.X;
# they stay importable from here so those checkpoints still load (tools.checkpoints).
from core.records import (  # noqa: F401
    AssetImpact,
    Decision,
    DedupVerdict,
    Impact,
    NewsItem,
    Recommendation,
    Route,
    Sentiment,
    SentimentVote,
    TaggedAsset,
    Urgency,
)

# The nodes a unique story fans out to, in parallel, after dedup.
AnalysisNode = Literal["asset_tagging", "urgency", "sentiment"]
ANALYSIS_NODES: list[AnalysisNode] = list(get_args(AnalysisNode))


class NewsInput(TypedDict):
    """What a run starts from: one news item (LangGraph Studio draws its form from this)."""

    item: NewsItem


class NewsState(TypedDict, total=False):
    # A NewsItem, or its fields as a mapping when the input came as JSON (Studio, the SDK):
    # normalize validates it either way.
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


def thread_id_for(item_id: str) -> str:
    """The checkpoint thread of an item: derived, so any worker can find it from the id."""
    return f"news-{item_id}"
