"""apply: record the trader's decision exactly once; approved widenings become active."""

from __future__ import annotations

from datetime import UTC, datetime
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
        # Expiry is judged on this server's clock when the decision arrives; the decision's own
        # timestamp comes from the caller and could be backdated.
        received = datetime.now(UTC)
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
        return {"decision": decision, "applied": approval.status in {"approved", "adjusted"}}

    return apply
