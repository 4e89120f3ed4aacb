"""The news graph for `langgraph dev` (LangGraph Studio).

The API server brings its own checkpointer, so the graph is compiled without one. The LLM is
whatever NEWSDESK_LLM_BASE_URL points at; when nothing answers there, nodes fall back to the
non-LLM analyzers and mark the item degraded.
"""

from __future__ import annotations

from core.settings import get_settings
from graph.deps import build_deps
from graph.news_graph import build_news_graph

graph = build_news_graph(build_deps(get_settings()))
