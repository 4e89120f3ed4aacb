"""Drive a stream of items through the news graph and account for every one of them."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from graph.deps import Deps
from graph.nodes.notify import thread_id_for
from graph.state import Decision, NewsItem
from newsdesk.settings import Settings
from serving.llama_server import LlamaServer
from tools.sources import Rejection
from tools.spread_policy import within_bounds

log = logging.getLogger("newsdesk.run")


@dataclass
class Outcome:
    item_id: str
    verdict: str  # rejected | duplicate | related | unique
    route: str | None = None
    degraded: bool = False
    llm_calls: int = 0
    latency_ms: float = 0.0
    headline: str = ""
    recommendations: list[dict[str, Any]] = field(default_factory=list)
    urgency: str | None = None
    sentiment: str | None = None
    pending_approval: bool = False
    out_of_bounds: int = 0
    reason: str = ""


def graph_config(item_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id_for(item_id)}}


class Runner:
    def __init__(self, deps: Deps, graph: CompiledStateGraph) -> None:
        self.deps = deps
        self.graph = graph

    def _llm_calls(self) -> int:
        return self.deps.llm.usage.calls if self.deps.llm else 0

    def process(self, record: NewsItem | Rejection, source_file: str = "") -> Outcome:
        if isinstance(record, Rejection):
            self.deps.store.save_rejection(
                record.source_file, record.line_no, record.reason, record.raw_excerpt
            )
            return Outcome(
                item_id=f"line:{record.line_no}", verdict="rejected", reason=record.reason
            )
        calls_before = self._llm_calls()
        started = time.perf_counter()
        config = graph_config(record.id)
        try:
            if self.deps.store.item_exists(record.id):
                snapshot = self.graph.get_state(config)
                if not snapshot.next or snapshot.interrupts:
                    # A replay of an id we hold, finished or waiting for a trader, is a copy
                    # by definition: no graph run, no tokens.
                    return Outcome(
                        item_id=record.id,
                        verdict="duplicate",
                        reason="id already ingested",
                        latency_ms=(time.perf_counter() - started) * 1000,
                    )
                # A run that died mid-graph (a crash, a kill) continues where it stopped.
                state = self.graph.invoke(None, config)
            else:
                state = self.graph.invoke({"item": record}, config)
        except Exception as exc:  # one bad item must never stop the stream
            log.exception("item %s failed in the graph", record.id)
            reason = f"graph error: {type(exc).__name__}: {exc}"[:500]
            self.deps.store.save_rejection(source_file, 0, reason, record.model_dump_json()[:500])
            return Outcome(item_id=record.id, verdict="rejected", reason=reason)
        latency = (time.perf_counter() - started) * 1000
        return self._outcome(record, state, latency, self._llm_calls() - calls_before, source_file)

    def _outcome(
        self, item: NewsItem, state: dict[str, Any], latency: float, calls: int, source_file: str
    ) -> Outcome:
        if state.get("item") is None or state.get("dedup") is None:
            reason = "; ".join(state.get("errors", [])) or "rejected by normalize"
            self.deps.store.save_rejection(source_file, 0, reason, item.model_dump_json()[:500])
            return Outcome(item_id=item.id, verdict="rejected", reason=reason, latency_ms=latency)
        recs = state.get("recommendations", [])
        out_of_bounds = sum(
            not within_bounds(r, self.deps.catalog.vol_class(r.symbol), self.deps.settings)
            for r in recs
        )
        return Outcome(
            item_id=item.id,
            verdict=state["dedup"].verdict,
            route=state.get("route"),
            degraded=bool(state.get("degraded")),
            llm_calls=calls,
            latency_ms=latency,
            headline=(item.title or item.text or "")[:140],
            recommendations=[r.model_dump(mode="json") for r in recs],
            urgency=state["urgency"].level if state.get("urgency") else None,
            sentiment=state["sentiment"].label if state.get("sentiment") else None,
            pending_approval="__interrupt__" in state,
            out_of_bounds=out_of_bounds,
        )

    def resume(self, item_id: str, decision: Decision) -> dict[str, Any]:
        """Resume a waiting graph with the trader's decision (from the CLI, Slack or the web).

        The thread is the one recorded with the approval (not re-derived), so stories that came
        in through Studio or another worker resume where they actually wait.
        """
        approval = self.deps.store.get_approval(item_id)
        thread_id = approval.thread_id if approval else thread_id_for(item_id)
        return self.graph.invoke(
            Command(resume=decision.model_dump(mode="json")),
            {"configurable": {"thread_id": thread_id}},
        )


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def build_report(
    outcomes: list[Outcome], elapsed_s: float, source: str, deps: Deps
) -> dict[str, Any]:
    by = {
        v: [o for o in outcomes if o.verdict == v]
        for v in ("rejected", "duplicate", "related", "unique")
    }
    # Only items that went through analysis carry a route; copies stop before it.
    analysed = [o for o in outcomes if o.route is not None]
    material = [o for o in analysed if o.route == "material"]
    usage = deps.llm.usage if deps.llm else None
    top = sorted(
        material, key=lambda o: -max((r["widen_bps"] for r in o.recommendations), default=0)
    )[:10]
    return {
        "source": source,
        "finished_at": datetime.now(UTC).isoformat(),
        "items": len(outcomes),
        "rejected": len(by["rejected"]),
        "duplicates": len(by["duplicate"]),
        "related": len(by["related"]),
        "unique": len(by["unique"]),
        "analysed": len(analysed),
        "material": len(material),
        "routine": len(analysed) - len(material),
        "pending_approvals": sum(o.pending_approval for o in outcomes),
        "degraded": sum(o.degraded for o in outcomes),
        "llm_calls": sum(o.llm_calls for o in outcomes),
        "llm_calls_on_duplicates": sum(o.llm_calls for o in by["duplicate"]),
        "llm_failures": usage.failures if usage else 0,
        "llm_tokens": {"input": usage.input_tokens, "output": usage.output_tokens}
        if usage
        else {"input": 0, "output": 0},
        "recommendations": sum(len(o.recommendations) for o in outcomes),
        "recommendations_out_of_bounds": sum(o.out_of_bounds for o in outcomes),
        "elapsed_s": round(elapsed_s, 2),
        "items_per_minute": round(len(outcomes) / (elapsed_s / 60), 1) if elapsed_s else None,
        "latency_ms": {
            "unique_p50": _percentile([o.latency_ms for o in by["unique"]], 50),
            "unique_p95": _percentile([o.latency_ms for o in by["unique"]], 95),
            "duplicate_p50": _percentile([o.latency_ms for o in by["duplicate"]], 50),
            "duplicate_p95": _percentile([o.latency_ms for o in by["duplicate"]], 95),
        },
        "rejections": [{"item": o.item_id, "reason": o.reason} for o in by["rejected"]][:50],
        "top_material": [
            {
                "item_id": o.item_id,
                "headline": o.headline,
                "urgency": o.urgency,
                "sentiment": o.sentiment,
                "degraded": o.degraded,
                "recommendations": o.recommendations[:5],
            }
            for o in top
        ],
        "settings": {
            "llm_provider": deps.settings.llm_provider,
            "llm_nodes": sorted(deps.settings.llm_nodes),
            "dedup_duplicate_threshold": deps.settings.dedup_duplicate_threshold,
            "dedup_unique_threshold": deps.settings.dedup_unique_threshold,
            "gray_zone_policy": deps.settings.gray_zone_policy,
        },
    }


@contextmanager
def llm_server(settings: Settings) -> Iterator[LlamaServer | None]:
    """Start the bundled llama.cpp server when the settings say newsdesk manages it.

    A server that will not start is logged, not fatal: every LLM node falls back to its
    non-LLM analyzer and marks the item degraded, and the run goes on.
    """
    if not settings.manages_llm_server:
        yield None
        return
    try:
        server = LlamaServer(
            port=settings.llm_port,
            n_ctx=settings.llm_context,
            n_threads=settings.llm_threads,
            model_alias=settings.llm_model,
            log_path=settings.data_dir / "llama-server.log",
        )
        server.start()
    except (OSError, RuntimeError, TimeoutError) as exc:
        log.error("LLM server did not start (%s); LLM nodes will run degraded", exc)
        yield None
        return
    try:
        yield server
    finally:
        server.stop()


def run_records(
    runner: Runner,
    records: Iterable[NewsItem | Rejection],
    source: str,
    on_outcome: Any = None,
) -> dict[str, Any]:
    run_id = runner.deps.store.start_run(source)
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    for record in records:
        outcome = runner.process(record, Path(source).name)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    report = build_report(outcomes, time.perf_counter() - started, source, runner.deps)
    runner.deps.store.finish_run(run_id, report)
    return report
