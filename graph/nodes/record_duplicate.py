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
        story_id = state["dedup"].story_id
        approval = deps.store.story_approval(story_id) if story_id else None
        story = deps.store.story_view(story_id) if approval is not None else None
        if approval is not None and story is not None:
            # A copy of a story a trader already sees: count it in that thread, never re-post.
            posted = deps.notifier.update_copies(approval, story.item_count - 1)
            if posted is not None:
                deps.store.set_copies_message(approval.item_id, posted)
        return {}

    return record_duplicate
