"""Analysts: consumers that take items off the bus and run the per-item news graph on them.

`newsdesk serve` runs one on the intake queue (today's whole per-item graph); `newsdesk worker`
runs them on the unique-story work queue, N processes sharing one durable JetStream consumer
and one PostgreSQL checkpointer, so any worker can finish or resume any story.

A delivery is acked only after Runner.process_item returned, i.e. after the store and the
checkpoint committed. A worker killed mid-item leaves its delivery unacked; the bus hands it to
another worker (or the restarted one) after the ack wait, and the graph resumes the thread from
its last checkpoint. Side effects are idempotent on the item id (the approval row, the Slack
message id stored with it), so the story is finished once and posted once.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from pydantic import ValidationError

from core.reports import Outcome
from core.settings import Settings
from graph.runner import Runner, open_runner
from graph.state import thread_id_for
from serving.llama_server import LlamaServer, llm_server
from tools.queues import Busy, Delivery, QueueName, consumer_for, item_of, open_bus

log = logging.getLogger("newsdesk.worker")

# A pooled worker that dies sooner than this after starting is broken, not unlucky: the pool
# stops instead of restarting it in a loop.
STARTUP_GRACE_S = 15.0
STOP_TIMEOUT_S = 30.0


class ThreadLocks:
    """One lock per graph thread (story): work on a story serialises, other stories never wait.

    A trader's decision takes the lock of its own story only, so it never queues behind the
    ingest backlog; it waits only while that very story is being processed.
    """

    def __init__(self) -> None:
        self._guard = threading.Condition()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)
                self._guard.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no story is being worked on (shutdown waits for a decision in flight)."""
        with self._guard:
            return self._guard.wait_for(lambda: not self._locks, timeout_s)


class Analyst:
    """The consumer's handler: one delivery through the graph, under its story's lock."""

    def __init__(
        self,
        runner: Runner,
        locks: ThreadLocks,
        source: str,
        outcomes: deque[Outcome] | None = None,
    ) -> None:
        self.runner = runner
        self.locks = locks
        self.source = source
        self.outcomes = outcomes if outcomes is not None else deque(maxlen=1_000)

    def handle(self, delivery: Delivery) -> None:
        try:
            item = item_of(delivery)
        except ValidationError as exc:
            # Not an item at all: retrying cannot help. Recorded, then acked by the consumer.
            self.give_up(delivery, f"not a news item: {exc}")
            return
        store = self.runner.deps.store
        with (
            self.locks.hold(item.id),
            store.exclusively(thread_id_for(item.id), wait=False) as ours,
        ):
            if not ours:
                raise Busy("another process is working on it")
            outcome = self.runner.process_item(item, self.source)
        self.outcomes.append(outcome)
        log.info(
            "pid %d finished %s: %s%s (delivery %d)",
            os.getpid(),
            item.id,
            outcome.verdict,
            f", {outcome.reason}" if outcome.reason else "",
            delivery.attempt,
        )

    def give_up(self, delivery: Delivery, reason: str) -> None:
        excerpt = delivery.data[:500].decode("utf-8", errors="replace")
        self.runner.deps.store.save_rejection(
            self.source, 0, f"{delivery.id}: {reason}"[:500], excerpt
        )


def run_worker(settings: Settings, stop: threading.Event, queue: QueueName = "unique") -> None:
    """Consume `queue` until `stop` is set, running the per-item graph on each delivery."""
    with open_runner(settings) as runner:
        # Models load before the first pull, not inside its ack wait.
        runner.deps.load_models()
        bus = open_bus(settings)
        try:
            analyst = Analyst(runner, ThreadLocks(), f"worker:{queue}")
            consumer = consumer_for(settings, bus.queue(queue), analyst.handle, analyst.give_up)
            log.info("worker %d consuming %s", os.getpid(), queue)
            consumer.run(stop)
        finally:
            bus.close()


def child_env(settings: Settings, server: LlamaServer | None, processes: int) -> dict[str, str]:
    """The pool's children use the model server the pool started, never one of their own."""
    env = dict(os.environ)
    # torch takes a thread per core in every process; N workers doing so oversubscribe the
    # machine (on two shared cores an embedding took 75 ms instead of 16 ms). Split the cores.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    if settings.manages_llm_server:
        # If it failed to start, the children find nothing there and run degraded, as a single
        # process would; they must not each try to start one on the same port.
        env["NEWSDESK_LLM_BASE_URL"] = server.base_url if server else settings.resolved_llm_base_url
    return env


def run_pool(
    settings: Settings, processes: int, child_command: Sequence[str], stop: threading.Event
) -> int:
    """Start the model server once and `processes` workers pointed at it; keep them running.

    A worker that dies (a crash, a kill) is replaced; its unacked items go to the others after
    the ack wait. On stop the workers get SIGTERM and finish the item in hand.
    """
    with llm_server(settings) as server:
        env = child_env(settings, server, processes)

        def spawn() -> tuple[subprocess.Popen[bytes], float]:
            return subprocess.Popen(list(child_command), env=env), time.monotonic()

        children = [spawn() for _ in range(processes)]
        log.info("worker pool: pids %s", [c.pid for c, _ in children])
        failed = False
        while not stop.wait(0.5):
            for index, (child, started) in enumerate(children):
                code = child.poll()
                if code is None:
                    continue
                if time.monotonic() - started < STARTUP_GRACE_S:
                    log.error("worker %d exited with %s right after starting", child.pid, code)
                    failed = True
                    stop.set()
                    break
                log.warning("worker %d exited with %s; starting another", child.pid, code)
                children[index] = spawn()
        for child, _ in children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child, _ in children:
            try:
                child.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return 1 if failed else 0
