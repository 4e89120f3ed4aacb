"""Drive a stream of items through the news graph and account for every one of them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from core.records import Decision, NewsItem, Rejection
from core.reports import (
    LatencyPercentiles,
    MaterialStory,
    Outcome,
    RejectedItem,
    RunReport,
    RunSettings,
    TokenCount,
)
from core.settings import Settings
from graph.deps import Deps, build_deps
from graph.news_graph import build_news_graph
from graph.state import thread_id_for
from tools.checkpoints import open_checkpointer
from tools.llm import LLMClient
from tools.metrics import REJECTED, VERDICTS
from tools.spread_policy import within_bounds

log = logging.getLogger("newsdesk.run")


def graph_config(item_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id_for(item_id)}}


class Runner:
    def __init__(self, deps: Deps, graph: CompiledStateGraph) -> None:
        self.deps = deps
        self.graph = graph

    def _llm_calls(self) -> int:
        return self.deps.llm.usage.calls if self.deps.llm else 0

    def process(self, record: NewsItem | Rejection, source_file: str = "") -> Outcome:
        """One record through the graph; an item the graph fails on is rejected with the reason."""
        if isinstance(record, Rejection):
            self.deps.store.save_rejection(
                record.source_file, record.line_no, record.reason, record.raw_excerpt
            )
            REJECTED.labels("intake").inc()
            return Outcome(
                item_id=f"line:{record.line_no}", verdict="rejected", reason=record.reason
            )
        try:
            return self.process_item(record, source_file)
        except Exception as exc:  # one bad item must never stop the stream
            log.exception("item %s failed in the graph", record.id)
            return self.reject(record, f"graph error: {type(exc).__name__}: {exc}", source_file)

    def reject(self, item: NewsItem, reason: str, source_file: str = "") -> Outcome:
        """Record why an item was not analysed (it stays listed with its reason)."""
        reason = reason[:500]
        self.deps.store.save_rejection(source_file, 0, reason, item.model_dump_json()[:500])
        REJECTED.labels("graph").inc()
        return Outcome(item_id=item.id, verdict="rejected", reason=reason)

    def process_item(self, item: NewsItem, source_file: str = "") -> Outcome:
        """One item through the graph, idempotent on its id; raises what the graph raised.

        Bus consumers call this directly: an error leaves the delivery unacked and it is
        retried, and a redelivery of an item already finished (its consumer died before the ack)
        costs one lookup.
        """
        calls_before = self._llm_calls()
        started = time.perf_counter()
        config = graph_config(item.id)
        if self.deps.store.item_exists(item.id):
            snapshot = self.graph.get_state(config)
            started_here = snapshot.created_at is not None
            if started_here and (not snapshot.next or snapshot.interrupts):
                # A replay of an id we hold, finished or waiting for a trader, is a copy
                # by definition: no graph run, no tokens.
                return Outcome(
                    item_id=item.id,
                    verdict="duplicate",
                    reason="id already ingested",
                    latency_ms=(time.perf_counter() - started) * 1000,
                )
            # A run that died mid-graph (a crash, a kill) continues where it stopped; an item
            # stored by an earlier stage with no run yet starts one (dedup keeps its verdict).
            state = self.graph.invoke(None if started_here else {"item": item}, config)
        else:
            state = self.graph.invoke({"item": item}, config)
        latency = (time.perf_counter() - started) * 1000
        return self._outcome(item, state, latency, self._llm_calls() - calls_before, source_file)

    def _outcome(
        self, item: NewsItem, state: dict[str, Any], latency: float, calls: int, source_file: str
    ) -> Outcome:
        if state.get("item") is None or state.get("dedup") is None:
            reason = "; ".join(state.get("errors", [])) or "rejected by normalize"
            self.deps.store.save_rejection(source_file, 0, reason, item.model_dump_json()[:500])
            REJECTED.labels("graph").inc()
            return Outcome(item_id=item.id, verdict="rejected", reason=reason, latency_ms=latency)
        VERDICTS.labels(state["dedup"].verdict).inc()
        recs = state.get("recommendations", [])
        out_of_bounds = sum(
            not within_bounds(
                r, self.deps.catalog.vol_class(r.symbol), self.deps.settings.spread_bounds
            )
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
            recommendations=recs,
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
        # Waits while a consumer in any process is working on this story (a redelivery of it):
        # a decision serialises with work on its own thread, and with nothing else.
        with self.deps.store.exclusively(thread_id, wait=True):
            return self.graph.invoke(
                Command(resume=decision.model_dump(mode="json")),
                {"configurable": {"thread_id": thread_id}},
            )


@contextmanager
def open_runner(
    settings: Settings,
    *,
    llm: LLMClient | None = None,
    checkpointer: BaseCheckpointSaver | None = None,
) -> Iterator[Runner]:
    """The desk's news graph, ready to run: its deps, its checkpointer and the compiled graph.

    The checkpointer is the configured one (SQLite or PostgreSQL) unless one is given (an
    eval's in-memory saver); the store and the checkpointer are closed on exit.
    """
    deps = build_deps(settings, llm=llm)
    try:
        if checkpointer is not None:
            yield Runner(deps, build_news_graph(deps, checkpointer))
            return
        with open_checkpointer(settings.resolved_checkpoint_url) as saver:
            yield Runner(deps, build_news_graph(deps, saver))
    finally:
        deps.store.close()


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def build_report(outcomes: list[Outcome], elapsed_s: float, source: str, deps: Deps) -> RunReport:
    by = {
        v: [o for o in outcomes if o.verdict == v]
        for v in ("rejected", "duplicate", "related", "unique")
    }
    # Only items that went through analysis carry a route; copies stop before it.
    analysed = [o for o in outcomes if o.route is not None]
    material = [o for o in analysed if o.route == "material"]
    usage = deps.llm.usage if deps.llm else None
    top = sorted(material, key=lambda o: -max((r.widen_bps for r in o.recommendations), default=0))[
        :10
    ]
    settings = deps.settings
    return RunReport(
        source=source,
        finished_at=datetime.now(UTC).isoformat(),
        items=len(outcomes),
        rejected=len(by["rejected"]),
        duplicates=len(by["duplicate"]),
        related=len(by["related"]),
        unique=len(by["unique"]),
        analysed=len(analysed),
        material=len(material),
        routine=len(analysed) - len(material),
        pending_approvals=sum(o.pending_approval for o in outcomes),
        degraded=sum(o.degraded for o in outcomes),
        llm_calls=sum(o.llm_calls for o in outcomes),
        llm_calls_on_duplicates=sum(o.llm_calls for o in by["duplicate"]),
        llm_failures=usage.failures if usage else 0,
        llm_tokens=TokenCount(input=usage.input_tokens, output=usage.output_tokens)
        if usage
        else TokenCount(),
        recommendations=sum(len(o.recommendations) for o in outcomes),
        recommendations_out_of_bounds=sum(o.out_of_bounds for o in outcomes),
        elapsed_s=round(elapsed_s, 2),
        items_per_minute=round(len(outcomes) / (elapsed_s / 60), 1) if elapsed_s else None,
        latency_ms=LatencyPercentiles(
            unique_p50=_percentile([o.latency_ms for o in by["unique"]], 50),
            unique_p95=_percentile([o.latency_ms for o in by["unique"]], 95),
            duplicate_p50=_percentile([o.latency_ms for o in by["duplicate"]], 50),
            duplicate_p95=_percentile([o.latency_ms for o in by["duplicate"]], 95),
        ),
        rejections=[RejectedItem(item=o.item_id, reason=o.reason) for o in by["rejected"]][:50],
        top_material=[
            MaterialStory(
                item_id=o.item_id,
                headline=o.headline,
                urgency=o.urgency,
                sentiment=o.sentiment,
                degraded=o.degraded,
                recommendations=o.recommendations[:5],
            )
            for o in top
        ],
        settings=RunSettings(
            llm_provider=settings.llm_provider,
            llm_nodes=sorted(settings.llm_nodes),
            dedup_duplicate_threshold=settings.dedup_duplicate_threshold,
            dedup_unique_threshold=settings.dedup_unique_threshold,
            gray_zone_policy=settings.gray_zone_policy,
        ),
    )


def run_records(
    runner: Runner,
    records: Iterable[NewsItem | Rejection],
    source: str,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> RunReport:
    run_id = runner.deps.store.start_run(source)
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    for record in records:
        outcome = runner.process(record, Path(source).name)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    report = build_report(outcomes, time.perf_counter() - started, source, runner.deps)
    runner.deps.store.finish_run(run_id, report.model_dump(mode="json"))
    return report
