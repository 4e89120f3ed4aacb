"""await_approval: wait for the trader. Only interrupt() here: this node re-runs on resume."""

from __future__ import annotations

from typing import Any

from langgraph.types import interrupt

from core.records import Decision
from graph.nodes._common import NodeFn
from graph.nodes.notify import approval_summary
from graph.state import NewsState


def make_await_approval() -> NodeFn:
    def await_approval(state: NewsState) -> dict[str, Any]:
        # Studio and the SDK show the interrupt's value as JSON.
        answer = interrupt(approval_summary(state).model_dump(mode="json"))
        # A malformed resume value raises here and the thread stays interrupted: nothing applied.
        return {"decision": Decision.model_validate(answer)}

    return await_approval
