"""embed: the item's sentence embedding and its exact-copy hash."""

from __future__ import annotations

from typing import Any

from graph.deps import Deps
from graph.nodes._common import NodeFn, timed
from graph.state import NewsState
from tools.text import content_hash


def make_embed(deps: Deps) -> NodeFn:
    @timed("embed")
    def embed(state: NewsState) -> dict[str, Any]:
        body = state["item"].body
        vector = deps.embedder().encode_one(body)
        return {"content_hash": content_hash(body), "embedding": vector.tolist()}

    return embed
