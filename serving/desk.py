"""One serving process's desk: the graph, its store, the intake consumer and trader decisions.

Every entry point (Slack, the ingest endpoint, the CLI) goes through this object, so the
exactly-once rules live in one place: the approval row in the database, not this process.

Accepted items go onto the bus (the database inbox by default, JetStream with a nats:// bus URL)
before intake answers; a consumer thread takes them off in order, runs the graph and acks each
only once its result is committed, so a crash loses nothing: the next start picks up what was
left. Decisions lock only their own story, never the intake consumer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from core.records import Decision, NewsItem, Rejection
from core.reports import Outcome
from core.settings import Settings
from core.views import ApprovalView
from graph.runner import open_runner
from serving.analysts import Analyst, ThreadLocks
from tools.metrics import REJECTED
from tools.queues import consumer_for, item_message, open_bus
from tools.rss import Feed, poll_forever
from tools.slack import SlackNotifier

log = logging.getLogger("newsdesk.desk")

DecisionOutcome = Literal["applied", "already_decided", "expired", "unknown_item"]
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DecisionResult:
    outcome: DecisionOutcome
    approval: ApprovalView | None


class Desk:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # A malformed feed spec stops the start here, before anything is opened.
        feeds = [Feed.parse(spec) for spec in settings.rss_feeds]
        self._stack = ExitStack()
        self.runner = self._stack.enter_context(open_runner(settings))
        self.deps = self.runner.deps
        self.store = self.deps.store
        # Decisions taken outside Slack (web desk, CLI) still update the Slack message.
        self.slack_notifier = (
            self.deps.notifier if isinstance(self.deps.notifier, SlackNotifier) else None
        )
        try:
            self.bus = open_bus(settings)
        except BaseException:
            self._stack.close()
            raise
        self._stack.callback(self.bus.close)  # closed before the runner: LIFO
        self.intake = self.bus.queue("in")
        self.locks = ThreadLocks()
        self.outcomes: deque[Outcome] = deque(maxlen=1_000)  # the latest, for inspection
        analyst = Analyst(self.runner, self.locks, "ingest", self.outcomes)
        # One consumer: dedup must see each verdict before the next item (batch_size only sets
        # how many deliveries it holds at a time).
        consumer = consumer_for(settings, self.intake, analyst.handle, analyst.give_up)
        self._stop = threading.Event()
        self._worker = threading.Thread(
            target=consumer.run, args=(self._stop,), name="intake-consumer", daemon=True
        )
        self._worker.start()
        # RSS/Atom feeds are one more source into the same durable intake.
        self._poller = threading.Thread(
            target=poll_forever,
            args=(feeds, self.store, settings.rss_config, self.take_records, self._stop),
            name="rss-poller",
            daemon=True,
        )
        if feeds:
            self._poller.start()

    def close(self) -> None:
        self._stop.set()
        if self._poller.is_alive():
            self._poller.join(timeout=STOP_TIMEOUT_S)
        self._worker.join(timeout=STOP_TIMEOUT_S)
        # Wait for a decision being applied right now (a Slack lazy listener) to finish.
        self.locks.wait_idle(STOP_TIMEOUT_S)
        self._stack.close()

    def take_records(self, records: Sequence[NewsItem | Rejection]) -> None:
        """A source's records: items onto the bus, rejections into the store with their reason.

        Raises like submit (QueueFull, BusUnavailable): the RSS poller then keeps the feed's
        state as it was and hands the same entries on at its next poll.
        """
        for record in records:
            if isinstance(record, Rejection):
                self.store.save_rejection(
                    record.source_file, record.line_no, record.reason, record.raw_excerpt
                )
                REJECTED.labels("intake").inc()
        items = [record for record in records if isinstance(record, NewsItem)]
        if items:
            self.submit(items)

    def submit(self, items: Sequence[NewsItem]) -> int:
        """Put items on the bus; returns once they are durable (how many were new).

        Raises QueueFull (the caller answers 503 + Retry-After) or BusUnavailable.
        """
        return self.intake.publish([item_message(item) for item in items])

    @property
    def healthy(self) -> bool:
        return self._worker.is_alive()

    @property
    def queued(self) -> int:
        """Items accepted and not finished yet (waiting plus in the graph)."""
        return self.intake.depth()

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Block until every accepted item went through the graph (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self.queued:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

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
        with self.locks.hold(item_id):
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
