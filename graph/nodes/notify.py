"""notify: store the analysis, open the approval and announce the story.

Every side effect here is idempotent on the item id: LangGraph re-runs a node when a graph
resumes, and a restart must never open a second approval or post a second message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from langgraph.config import get_config

from core.records import ApprovalSummary
from graph.deps import Deps
from graph.nodes._common import NodeFn, timed
from graph.nodes.record import persist_analysis
from graph.state import NewsState, thread_id_for


def approval_summary(state: NewsState) -> ApprovalSummary:
    item = state["item"]
    return ApprovalSummary(
        item_id=item.id,
        headline=(item.title or item.text or "")[:300],
        source=item.source,
        author=item.author,
        url=item.url,
        urgency=state["urgency"],
        sentiment=state["sentiment"],
        impact=state["impact"],
        recommendations=state["recommendations"],
        degraded=sorted(set(state.get("degraded", []))),
    )


def make_notify(deps: Deps) -> NodeFn:
    @timed("notify")
    def notify(state: NewsState) -> dict[str, Any]:
        persist_analysis(deps, state)
        item_id = state["item"].id
        summary = approval_summary(state)
        expires = deps.clock() + timedelta(minutes=deps.settings.approval_expiry_minutes)
        # The thread actually running (Studio picks its own ids), so a decision resumes it.
        thread_id = get_config().get("configurable", {}).get("thread_id") or thread_id_for(item_id)
        created = deps.store.create_approval(item_id, str(thread_id), expires, summary)
        deps.store.set_item_status(item_id, "pending_approval")
        approval = deps.store.get_approval(item_id)
        if created or (approval is not None and approval.message_ts is None):
            posted = deps.notifier.post_for_approval(item_id, summary)
            if posted is not None:
                deps.store.set_approval_message(item_id, *posted)
        return {"notified": True}

    return notify
