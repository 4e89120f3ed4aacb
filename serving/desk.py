"""One serving process's desk: the graph, its store, the ingest worker and trader decisions.

Every entry point (Slack, the ingest endpoint, the CLI) goes through this object, so the
exactly-once rules live in one place: the approval row in the database, not this process.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from core.records import Decision, NewsItem
from core.settings import Settings
from core.views import ApprovalView
from graph.runner import Outcome, open_runner
from tools.slack import SlackNotifier

log = logging.getLogger("newsdesk.desk")

# Items accepted but not yet analysed, held in memory: past this, /ingest answers 503.
MAX_QUEUED = 10_000

DecisionOutcome = Literal["applied", "already_decided", "expired", "unknown_item"]


@dataclass(frozen=True)
class DecisionResult:
    outcome: DecisionOutcome
    approval: ApprovalView | None


class Desk:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack = ExitStack()
        self.runner = self._stack.enter_context(open_runner(settings))
        self.deps = self.runner.deps
        self.store = self.deps.store
        # Decisions taken outside Slack (web desk, CLI) still update the Slack message.
        self.slack_notifier = (
            self.deps.notifier if isinstance(self.deps.notifier, SlackNotifier) else None
        )
        # Items go through the graph one at a time: dedup must see each verdict before the next.
        self._inbox: queue.Queue[NewsItem | None] = queue.Queue(maxsize=MAX_QUEUED)
        self._graph_lock = threading.Lock()
        self._worker = threading.Thread(target=self._work, name="ingest-worker", daemon=True)
        self._worker.start()
        self.outcomes: deque[Outcome] = deque(maxlen=1_000)  # the latest, for inspection

    def close(self) -> None:
        self._inbox.put(None)
        self._worker.join(timeout=30)
        # Wait for a decision being applied right now (a Slack lazy listener) to finish.
        with self._graph_lock:
            self._stack.close()

    def submit(self, item: NewsItem) -> bool:
        """Queue an item for the graph; False when the queue is full (the caller says 503)."""
        try:
            self._inbox.put_nowait(item)
        except queue.Full:
            return False
        return True

    @property
    def healthy(self) -> bool:
        return self._worker.is_alive()

    @property
    def queued(self) -> int:
        return self._inbox.qsize()

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Block until every submitted item went through the graph (tests, shutdown)."""
        done = threading.Event()

        def waiter() -> None:
            self._inbox.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout_s)

    def _work(self) -> None:
        while True:
            item = self._inbox.get()
            try:
                if item is None:
                    return
                with self._graph_lock:
                    self.outcomes.append(self.runner.process(item, "ingest"))
            except Exception:  # the worker must outlive any one item (a database blip, say)
                log.exception("ingest worker: item %s failed", getattr(item, "id", "?"))
            finally:
                self._inbox.task_done()

    def adjust_bounds(self, item_id: str) -> dict[str, tuple[float, int, int]]:
        """Per asset of the story: (max bps, min horizon, max horizon) a trader may set."""
        approval = self.store.get_approval(item_id)
        recs = approval.summary.recommendations if approval else []
        return {
            r.symbol: (
                self.settings.bps_cap(self.deps.catalog.vol_class(r.symbol)),
                self.settings.min_horizon_minutes,
                self.settings.max_horizon_minutes,
            )
            for r in recs
        }

    def decide(
        self,
        item_id: str,
        kind: Literal["approve", "reject", "adjust"],
        user: str,
        note: str = "",
        adjustments: dict[str, dict[str, float]] | None = None,
    ) -> DecisionResult:
        """Resume the waiting graph with one trader's decision, at most once per story.

        A second click, a retried request or a slower approver gets the recorded decision
        back instead of a second one: the approval row decides (see Store.decide).
        """
        approval = self.store.get_approval(item_id)
        if approval is None:
            return DecisionResult("unknown_item", None)
        if not approval.pending:
            return DecisionResult("already_decided", approval)
        decision = Decision(
            decision=kind,
            user=user,
            ts=datetime.now(UTC),
            note=note,
            adjustments=adjustments or {},
        )
        with self._graph_lock:
            self.runner.resume(item_id, decision)
        after = self.store.get_approval(item_id)
        if after is None or after.pending:
            raise RuntimeError(f"resuming {item_id} did not record a decision")
        if after.status == "expired":
            return DecisionResult("expired", after)
        # The audit row says whose decision won: this one only if user and timestamp match
        # (the same trader clicking Approve then Reject must hear that Reject was too late).
        recorded = self.store.decisions_for(item_id)
        won = bool(recorded) and recorded[0].user == user and recorded[0].ts == decision.ts
        return DecisionResult("applied" if won else "already_decided", after)
