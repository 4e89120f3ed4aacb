"""record_duplicate: close a copy (or a related item, by policy) without analysing it again."""

from __future__ import annotations

from typing import Any

from graph.deps import Deps
from graph.nodes._common import NodeFn, timed
from graph.state import NewsState


def make_record_duplicate(deps: Deps) -> NodeFn:
    @timed("record_duplicate")
    def record_duplicate(state: NewsState) -> dict[str, Any]:
        # dedup already stored the item and linked it to its story; this marks it closed.
        deps.store.set_item_status(state["item"].id, "recorded")
        return {}

    return record_duplicate
