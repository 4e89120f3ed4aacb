"""urgency: how fast the desk must react. Rules always; the LLM may raise or lower one step."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from core.records import Urgency, UrgencyLevel
from graph.deps import Deps
from graph.nodes._common import NodeFn, ask_llm, timed
from graph.state import NewsState
from tools.urgency_rules import level_for, rule_urgency, tag_events

LEVEL_SCORES = {"low": 0.2, "medium": 0.45, "high": 0.7, "critical": 0.9}


class UrgencyAnswer(BaseModel):
    level: UrgencyLevel
    reason: str = Field("", description="short phrase")


def make_urgency(deps: Deps) -> NodeFn:
    @timed("urgency")
    def urgency(state: NewsState) -> dict[str, Any]:
        item = state["item"]
        # Runs in parallel with asset tagging, so it counts catalog matches itself (cheap).
        mentioned = deps.catalog.match(item.body)
        rules = rule_urgency(item, len(mentioned))
        events = tag_events(item.body)
        result = Urgency(level=rules.level, score=rules.score, reasons=rules.reasons, events=events)
        update: dict[str, Any] = {}
        answer = ask_llm(
            deps,
            "urgency",
            item.body,
            UrgencyAnswer,
            update,
            assets=", ".join(m.asset.symbol for m in mentioned) or "none named",
        )
        if answer is not None:
            # Average with the rules so one model answer moves the score at most halfway.
            score = round((rules.score + LEVEL_SCORES[answer.level]) / 2, 3)
            result = Urgency(
                level=level_for(score),
                score=score,
                source="rules+llm",
                reasons=[*rules.reasons, f"llm: {answer.level} ({answer.reason[:120]})"],
                events=events,
            )
        return {**update, "urgency": result}

    return urgency
