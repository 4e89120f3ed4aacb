"""record: store the analysis and recommendations of a story that needs no trader."""

from __future__ import annotations

from typing import Any

from graph.deps import Deps
from graph.nodes._common import NodeFn, timed
from graph.state import NewsState


def persist_analysis(deps: Deps, state: NewsState) -> None:
    """Write what the graph concluded; idempotent, so a re-run node writes the same rows."""
    item_id = state["item"].id
    deps.store.save_analysis(
        item_id,
        assets=state.get("assets", []),
        urgency=state.get("urgency"),
        sentiment=state.get("sentiment"),
        impact=state.get("impact"),
        route=state.get("route"),
        degraded_nodes=sorted(set(state.get("degraded", []))),
        errors=state.get("errors", []),
        timings_ms=state.get("timings_ms", {}),
        llm_calls=state.get("llm_calls", 0),
    )
    deps.store.save_recommendations(item_id, state.get("recommendations", []))


def make_record(deps: Deps) -> NodeFn:
    @timed("record")
    def record(state: NewsState) -> dict[str, Any]:
        persist_analysis(deps, state)
        deps.store.set_item_status(state["item"].id, "recorded")
        return {}

    return record
