"""The news graph: wiring only. Each node lives in graph/nodes/, each tool in tools/.

normalize -> embed -> dedup --duplicate/related--> record_duplicate -> END
                          '--unique--> [asset_tagging | urgency | sentiment] (parallel)
                                       -> impact_reasoning -> spread_recommendation
                                       -> routine: record -> END
                                       -> material: notify -> await_approval -> apply -> END
"""

from __future__ import annotations

from typing import Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graph.deps import Deps
from graph.nodes.apply import make_apply
from graph.nodes.asset_tagging import make_asset_tagging
from graph.nodes.await_approval import make_await_approval
from graph.nodes.dedup import after_dedup, make_dedup
from graph.nodes.embed import make_embed
from graph.nodes.impact_reasoning import make_impact_reasoning
from graph.nodes.normalize import make_normalize
from graph.nodes.notify import make_notify
from graph.nodes.record import make_record
from graph.nodes.record_duplicate import make_record_duplicate
from graph.nodes.sentiment import make_sentiment
from graph.nodes.spread_recommendation import make_spread_recommendation
from graph.nodes.urgency import make_urgency
from graph.state import ANALYSIS_NODES, NewsInput, NewsState


def _after_normalize(state: NewsState) -> Literal["embed", "__end__"]:
    return "embed" if state.get("item") is not None else END


def _after_recommendation(state: NewsState) -> Literal["notify", "record"]:
    return "notify" if state.get("route") == "material" else "record"


def build_news_graph(
    deps: Deps, checkpointer: BaseCheckpointSaver | None = None
) -> CompiledStateGraph:
    builder = StateGraph(NewsState, input_schema=NewsInput)
    builder.add_node("normalize", make_normalize(deps))
    builder.add_node("embed", make_embed(deps))
    builder.add_node("dedup", make_dedup(deps))
    builder.add_node("record_duplicate", make_record_duplicate(deps))
    builder.add_node("asset_tagging", make_asset_tagging(deps))
    builder.add_node("urgency", make_urgency(deps))
    builder.add_node("sentiment", make_sentiment(deps))
    builder.add_node("impact_reasoning", make_impact_reasoning(deps))
    builder.add_node("spread_recommendation", make_spread_recommendation(deps))
    builder.add_node("record", make_record(deps))
    builder.add_node("notify", make_notify(deps))
    builder.add_node("await_approval", make_await_approval())
    builder.add_node("apply", make_apply(deps))

    builder.add_edge(START, "normalize")
    builder.add_conditional_edges("normalize", _after_normalize, ["embed", END])
    builder.add_edge("embed", "dedup")
    builder.add_conditional_edges(
        "dedup",
        after_dedup(deps.settings.gray_zone_policy),
        ["record_duplicate", *ANALYSIS_NODES],
    )
    builder.add_edge("record_duplicate", END)
    builder.add_edge(ANALYSIS_NODES, "impact_reasoning")
    builder.add_edge("impact_reasoning", "spread_recommendation")
    builder.add_conditional_edges(
        "spread_recommendation", _after_recommendation, ["record", "notify"]
    )
    builder.add_edge("record", END)
    builder.add_edge("notify", "await_approval")
    builder.add_edge("await_approval", "apply")
    builder.add_edge("apply", END)
    return builder.compile(checkpointer=checkpointer, name="newsdesk-news")
