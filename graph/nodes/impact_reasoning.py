"""impact_reasoning: direct assets and their knock-on (cross-chain, cross-asset) spill-overs.

The relationship map decides who is affected and how strongly; the LLM, when enabled, only
writes the summary sentence. Strength fades along each edge, so spill-overs stay weaker than
the news's direct targets.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from core.records import AssetImpact, Direction, Impact
from graph.deps import Deps
from graph.nodes._common import NodeFn, ask_llm, timed
from graph.state import NewsState

MIN_SPILLOVER_STRENGTH = 0.2
MAX_SPILLOVERS = 8
MAX_SUMMARY_CHARS = 400


class ImpactAnswer(BaseModel):
    summary: str = Field(description="short explanation")


def direction_of(label: str) -> Direction:
    return {"bullish": "up", "bearish": "down"}.get(label, "uncertain")  # type: ignore[return-value]


def flip(direction: Direction) -> Direction:
    return {"up": "down", "down": "up"}.get(direction, "uncertain")  # type: ignore[return-value]


def make_impact_reasoning(deps: Deps) -> NodeFn:
    catalog = deps.catalog

    @timed("impact_reasoning")
    def impact_reasoning(state: NewsState) -> dict[str, Any]:
        sentiment = state["sentiment"]
        direction = direction_of(sentiment.label)
        direct = [
            AssetImpact(
                symbol=a.symbol,
                direction=direction,
                strength=a.strength,
                relation="direct" if a.via != "llm" else "llm-tagged",
                rationale=f"named in the item ({a.via}: {', '.join(a.matched[:3])})"
                if a.matched
                else f"tagged via {a.via}",
            )
            for a in state.get("assets", [])
        ]
        direct_symbols = {d.symbol for d in direct}
        spill: dict[str, AssetImpact] = {}
        for source in direct:
            for edge in catalog.related(source.symbol):
                strength = round(source.strength * edge.strength, 3)
                if edge.target in direct_symbols or strength < MIN_SPILLOVER_STRENGTH:
                    continue
                if edge.target in spill and spill[edge.target].strength >= strength:
                    continue
                spill[edge.target] = AssetImpact(
                    symbol=edge.target,
                    direction=source.direction if edge.sign > 0 else flip(source.direction),
                    strength=strength,
                    relation=edge.kind,
                    via=source.symbol,
                    rationale=f"{edge.kind.replace('_', ' ')} {source.symbol}: {edge.note}".strip(
                        ": "
                    ),
                )
        spillover = sorted(spill.values(), key=lambda s: -s.strength)[:MAX_SPILLOVERS]
        summary = (
            f"{sentiment.label} for {', '.join(sorted(direct_symbols)) or 'no named asset'}"
            + (f"; knock-on: {', '.join(s.symbol for s in spillover)}" if spillover else "")
        )
        update: dict[str, Any] = {}
        if direct:
            answer = ask_llm(
                deps,
                "impact_reasoning",
                state["item"].body,
                ImpactAnswer,
                update,
                assets=", ".join(f"{i.symbol} ({i.relation})" for i in [*direct, *spillover]),
            )
            if answer is not None and answer.summary.strip():
                summary = answer.summary.strip()[:MAX_SUMMARY_CHARS]
        return {**update, "impact": Impact(direct=direct, spillover=spillover, summary=summary)}

    return impact_reasoning
