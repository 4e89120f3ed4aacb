"""Small helpers every node uses: timing, asking the LLM, and fallback bookkeeping."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from graph.state import NewsState
from prompts import load_prompt, node_prompt
from tools.llm import LLMError
from tools.metrics import DEGRADED, NODE_SECONDS

if TYPE_CHECKING:
    from graph.deps import Deps

AnswerT = TypeVar("AnswerT", bound=BaseModel)

log = logging.getLogger("newsdesk.graph")

NodeFn = Callable[[NewsState], dict[str, Any]]


def timed(name: str) -> Callable[[NodeFn], NodeFn]:
    """Record the node's wall time in state['timings_ms'][name]."""

    def wrap(fn: NodeFn) -> NodeFn:
        @functools.wraps(fn)
        def node(state: NewsState) -> dict[str, Any]:
            started = time.perf_counter()
            update = fn(state)
            elapsed = time.perf_counter() - started
            NODE_SECONDS.labels(name).observe(elapsed)
            timings = {**update.get("timings_ms", {}), name: round(elapsed * 1000, 2)}
            update["timings_ms"] = timings
            return update

        node.__name__ = name
        return node

    return wrap


def fallback_note(node: str, exc: Exception) -> dict[str, Any]:
    """The state update a node adds when its LLM failed and the non-LLM analyzer answered."""
    log.warning("%s: LLM failed, using the non-LLM analyzer: %s", node, exc)
    DEGRADED.labels(node).inc()
    return {"degraded": [node], "errors": [f"{node}: {exc}"[:500]]}


def ask_llm(
    deps: Deps,
    node: str,
    news_text: str,
    schema: type[AnswerT],
    update: dict[str, Any],
    answer_tokens: int | None = None,
    **prompt_values: object,
) -> AnswerT | None:
    """Ask the node's question when the node is configured to use the LLM.

    `answer_tokens` bounds this answer below the configured maximum: a small model that loops
    inside its JSON otherwise spends the whole budget (seconds on the CPU) before failing.
    Returns None when the node does not use the LLM, or when the model failed; then `update`
    records the call, the error and the degraded node, and the caller keeps its non-LLM answer.
    """
    llm = deps.llm_for(node)
    if llm is None:
        return None
    update["llm_calls"] = update.get("llm_calls", 0) + 1
    try:
        return llm.structured(
            load_prompt("system"),
            news_text,
            node_prompt(node, schema, **prompt_values),
            schema,
            max_tokens=answer_tokens,
        )
    except LLMError as exc:
        update.update(fallback_note(node, exc))
        return None
