"""apply: record the trader's decision exactly once; approved widenings become active."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.records import Decision, Recommendation
from graph.deps import Deps
from graph.nodes._common import NodeFn, timed
from graph.state import NewsState
from tools.spread_policy import clamp


def approval_decision(deps: Deps, item_id: str, decision: Decision) -> Decision:
    """The decision that was recorded (on a re-run or a lost race it may not be this one)."""
    recorded = deps.store.decisions_for(item_id)
    return recorded[0] if recorded else decision


def adjusted_recommendations(
    recs: list[Recommendation], decision: Decision, deps: Deps
) -> list[Recommendation]:
    """Apply a trader's Adjust edits (bps, horizon per asset), still inside the bounds."""
    if decision.decision != "adjust":
        return recs
    final = []
    for rec in recs:
        edit = decision.adjustments.get(rec.symbol)
        if edit is None:
            final.append(rec)
            continue
        final.append(
            clamp(
                rec.model_copy(
                    update={
                        "widen_bps": edit.get("bps", rec.widen_bps),
                        # clamp() bounds it and makes it whole; NaN or inf must not raise first.
                        "horizon_minutes": edit.get("horizon_minutes", rec.horizon_minutes),
                        "rationale": f"{rec.rationale}; adjusted by {decision.user}",
                    }
                ),
                deps.catalog.vol_class(rec.symbol),
                deps.settings.spread_bounds,
            )
        )
    return final


def make_apply(deps: Deps) -> NodeFn:
    @timed("apply")
    def apply(state: NewsState) -> dict[str, Any]:
        item_id = state["item"].id
        decision = state["decision"]
        current = deps.store.get_approval(item_id)
        # Expiry is judged on this server's clock when the decision arrives; the decision's own
        # timestamp comes from the caller and could be backdated.
        received = deps.clock()
        if current is not None and decision.decision != "expired" and received > current.expires_at:
            decision = Decision(
                decision="expired",
                user=decision.user,
                ts=received,
                note=f"{decision.decision} arrived after expiry at "
                f"{current.expires_at.isoformat()}",
            )
        _, approval = deps.store.decide(item_id, decision)
        deps.store.set_item_status(item_id, "decided")
        # Derived from the stored status, so a re-run of this node reports the same outcome.
        applied = approval.status in {"approved", "adjusted"}
        if applied:
            final = adjusted_recommendations(
                state["recommendations"], approval_decision(deps, item_id, decision), deps
            )
            overrides = deps.store.add_overrides(
                item_id,
                [
                    {
                        "asset": rec.symbol,
                        "bps": rec.widen_bps,
                        "starts_at": received,
                        "until": received + timedelta(minutes=rec.horizon_minutes),
                        "story_id": state["dedup"].story_id,
                        "approver": approval.decided_by or decision.user,
                    }
                    for rec in final
                    if rec.widen_bps > 0
                ],
            )
            deps.publisher.publish_overrides(overrides)
        return {"decision": decision, "applied": applied}

    return apply
