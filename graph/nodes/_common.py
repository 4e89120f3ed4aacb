"""Small helpers every node uses: timing and error bookkeeping."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from graph.state import NewsState

log = logging.getLogger("newsdesk.graph")

NodeFn = Callable[[NewsState], dict[str, Any]]


def timed(name: str) -> Callable[[NodeFn], NodeFn]:
    """Record the node's wall time in state['timings_ms'][name]."""

    def wrap(fn: NodeFn) -> NodeFn:
        @functools.wraps(fn)
        def node(state: NewsState) -> dict[str, Any]:
            started = time.perf_counter()
            update = fn(state)
            elapsed = (time.perf_counter() - started) * 1000
            update["timings_ms"] = {**update.get("timings_ms", {}), name: round(elapsed, 2)}
            return update

        node.__name__ = name
        return node

    return wrap


def fallback_note(node: str, exc: Exception) -> dict[str, Any]:
    """The state update a node adds when its LLM failed and the non-LLM analyzer answered."""
    log.warning("%s: LLM failed, using the non-LLM analyzer: %s", node, exc)
    return {"degraded": [node], "errors": [f"{node}: {exc}"[:500]]}
