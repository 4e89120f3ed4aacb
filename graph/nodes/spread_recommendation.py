"""spread_recommendation: widen by how many bps, for how long, per affected asset.

The policy core proposes; the LLM (when enabled) may scale each proposal by a factor inside a
configured band and explain it; `clamp` has the last word, so no news text can push a
recommendation past the bounds.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from core.records import Recommendation
from graph.deps import Deps
from graph.nodes._common import NodeFn, ask_llm, timed
from graph.state import NewsState
from tools.spread_policy import PolicyInputs, clamp, propose

# Each adjustment (symbol, factor, a one-sentence rationale) costs ~45 tokens of answer, and
# on the CPU every answer token is ~15 ms before the story can reach a trader: the LLM shades
# the two largest proposals and the rest keep the policy's value.
MAX_LLM_PROPOSALS = 2
ANSWER_TOKENS_PER_PROPOSAL = 48


class Adjustment(BaseModel):
    symbol: str = Field(description="symbol")
    factor: float
    rationale: str = Field("", description="sentence")


class SpreadAnswer(BaseModel):
    adjustments: list[Adjustment] = Field(default_factory=list)


def make_spread_recommendation(deps: Deps) -> NodeFn:
    settings = deps.settings
    bounds = settings.spread_bounds

    @timed("spread_recommendation")
    def spread_recommendation(state: NewsState) -> dict[str, Any]:
        proposals = [
            propose(
                PolicyInputs(
                    impact,
                    deps.catalog.vol_class(impact.symbol),
                    state["urgency"],
                    state["sentiment"],
                ),
                bounds,
            )
            for impact in state["impact"].all()
        ]
        recs = [r for r in proposals if r.widen_bps >= settings.min_widen_bps]
        update: dict[str, Any] = {}
        if recs:
            offered = sorted(recs, key=lambda r: -r.widen_bps)[:MAX_LLM_PROPOSALS]
            answer = ask_llm(
                deps,
                "spread_recommendation",
                state["item"].body,
                SpreadAnswer,
                update,
                answer_tokens=16 + ANSWER_TOKENS_PER_PROPOSAL * len(offered),
                proposals="\n".join(
                    f"{r.symbol}: {r.widen_bps:.1f} bps for {r.horizon_minutes} min"
                    for r in offered
                ),
                adjust_min=settings.llm_adjust_min,
                adjust_max=settings.llm_adjust_max,
            )
            if answer is not None:
                recs = apply_adjustments(recs, answer)
        # The LLM reads untrusted text, so it may shade a widening but never decide whether a
        # trader sees the story: materiality is judged on the larger of policy and adjusted.
        material = any(max(r.widen_bps, r.policy_bps) >= settings.material_bps for r in recs)
        recs = sorted(
            (r for r in recs if r.widen_bps >= settings.min_widen_bps), key=lambda r: -r.widen_bps
        )
        return {**update, "recommendations": recs, "route": "material" if material else "routine"}

    def apply_adjustments(recs: list[Recommendation], answer: SpreadAnswer) -> list[Recommendation]:
        by_symbol = {a.symbol.upper().lstrip("$"): a for a in answer.adjustments}
        adjusted = []
        for rec in recs:
            adj = by_symbol.get(rec.symbol)
            if adj is None:
                adjusted.append(rec)
                continue
            factor = 1.0 if adj.factor != adj.factor else adj.factor  # NaN: no opinion
            factor = min(settings.llm_adjust_max, max(settings.llm_adjust_min, factor))
            note = " ".join(adj.rationale.split())[:240]
            adjusted.append(
                clamp(
                    rec.model_copy(
                        update={
                            "widen_bps": rec.widen_bps * factor,
                            "llm_adjusted": factor != 1.0,
                            "clamped": factor != adj.factor,
                            "rationale": f"{rec.rationale}; LLM x{factor:.2f}"
                            + (f": {note}" if note else ""),
                        }
                    ),
                    deps.catalog.vol_class(rec.symbol),
                    bounds,
                )
            )
        return adjusted

    return spread_recommendation
