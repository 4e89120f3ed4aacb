"""apply: record the trader's decision exactly once; approved widenings become active."""

from __future__ import annotations

from typing import Any

from graph.deps import Deps
from graph.nodes._common import NodeFn, timed
from graph.state import Decision, NewsState


def make_apply(deps: Deps) -> NodeFn:
    @timed("apply")
    def apply(state: NewsState) -> dict[str, Any]:
        item_id = state["item"].id
        decision = state["decision"]
        current = deps.store.get_approval(item_id)
        if (
            current is not None
            and decision.decision != "expired"
            and decision.ts > current.expires_at
        ):
            # Too late to act on: the market has moved on since the story was posted.
            decision = Decision(
                decision="expired",
                user=decision.user,
                ts=decision.ts,
                note=f"{decision.decision} arrived after expiry at "
                f"{current.expires_at.isoformat()}",
            )
        applied, approval = deps.store.decide(item_id, decision)
        deps.store.set_item_status(item_id, "decided")
        return {
            "decision": decision,
            "applied": applied and approval.status in {"approved", "adjusted"},
        }

    return apply
