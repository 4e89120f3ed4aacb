"""normalize: turn the raw input into a validated NewsItem with clean text.

A rejected input leaves `item` as None, which routes the graph straight to END; the caller
records the reason from `errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.records import NewsItem
from graph.deps import Deps
from graph.nodes._common import NodeFn, timed
from graph.state import NewsState
from tools.sources import ItemError, parse_item
from tools.text import clean_text


def make_normalize(deps: Deps) -> NodeFn:
    max_chars = deps.settings.max_text_chars

    @timed("normalize")
    def normalize(state: NewsState) -> dict[str, Any]:
        item = state.get("item")
        if not isinstance(item, NewsItem):
            # JSON input (Studio, the SDK) arrives as a mapping: validated like a source line.
            try:
                item = parse_item(item if isinstance(item, Mapping) else {}, max_chars)
            except ItemError as exc:
                return {"item": None, "errors": [f"normalize: rejected: {exc}"]}
        cleaned: dict[str, Any] = {
            "title": clean_text(item.title) if item.title else None,
            "text": clean_text(item.text) if item.text else None,
        }
        item = item.model_copy(update=cleaned)
        if not item.body:
            return {"item": None, "errors": ["normalize: rejected: no text left after clean-up"]}
        return {"item": NewsItem.model_validate(item.model_dump())}

    return normalize
