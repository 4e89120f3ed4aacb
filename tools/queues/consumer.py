"""The consume loop every stage shares: pull, handle, ack only once the result is committed.

A handler that returns has committed its item (the store and the checkpoint); the delivery is
acked then. A handler that raises gets its delivery nak'ed with a back-off and retried, by this
consumer or another; on the last allowed delivery the item is given up with its reason (the
caller records it), so nothing is dropped silently and nothing loops forever. A heartbeat
extends every delivery still held, so a slow item is not redelivered to a second consumer
while this one works on it; only a consumer that died stops extending.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tools.queues.base import BusUnavailable, Busy, Delivery, WorkQueue

log = logging.getLogger("newsdesk.bus")

# How long one pull waits for work before the loop checks whether it should stop.
PULL_TIMEOUT_S = 1.0
MAX_BACKOFF_S = 30.0

# Handles one delivery and returns once its result is committed (raises: not done).
Handler = Callable[[Delivery], None]
# Records why a delivery is given up (a rejection), before it is termed.
GiveUp = Callable[[Delivery, str], None]


class Consumer:
    def __init__(
        self,
        queue: WorkQueue,
        handle: Handler,
        give_up: GiveUp,
        *,
        batch_size: int,
        ack_wait_s: float,
        max_deliveries: int,
    ) -> None:
        self.queue = queue
        self.handle = handle
        self.give_up = give_up
        self.batch_size = batch_size
        self.max_deliveries = max_deliveries
        self.ack_wait_s = ack_wait_s
        self.heartbeat_s = ack_wait_s / 3
        self._held: list[Delivery] = []
        self._held_lock = threading.Lock()

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set; deliveries not started by then go back to the queue."""
        heartbeat = threading.Thread(
            target=self._heartbeat, args=(stop,), name=f"heartbeat-{self.queue.name}", daemon=True
        )
        heartbeat.start()
        try:
            while not stop.is_set():
                try:
                    batch = self.queue.pull(self.batch_size, PULL_TIMEOUT_S)
                except BusUnavailable as exc:
                    log.warning("pull from %s failed (%s); retrying", self.queue.name, exc)
                    stop.wait(PULL_TIMEOUT_S)
                    continue
                except Exception:  # the loop must outlive a bug in one pull, too
                    log.exception("pull from %s failed; retrying", self.queue.name)
                    stop.wait(PULL_TIMEOUT_S)
                    continue
                with self._held_lock:
                    self._held = list(batch)
                for delivery in batch:
                    if stop.is_set():
                        self._settle(self.queue.nak, delivery)
                    else:
                        self._one(delivery)
        finally:
            stop.set()
            heartbeat.join(timeout=5)

    def _one(self, delivery: Delivery) -> None:
        if delivery.attempt > self.max_deliveries:
            # Its consumers kept dying on it (a crash, a kill): stop the loop here.
            self._give_up(delivery, f"delivered {delivery.attempt} times without being finished")
            return
        try:
            self.handle(delivery)
        except Busy as exc:
            log.info("%s: %s; back in %.0fs", delivery.id, exc, self.ack_wait_s)
            self._settle(lambda d: self.queue.nak(d, self.ack_wait_s), delivery)
            return
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"[:500]
            if delivery.attempt >= self.max_deliveries:
                log.exception("%s failed on its last delivery; giving up", delivery.id)
                self._give_up(delivery, f"failed {delivery.attempt} times, last: {reason}")
            else:
                log.warning("%s failed (delivery %d): %s", delivery.id, delivery.attempt, reason)
                backoff = min(2.0 ** (delivery.attempt - 1), MAX_BACKOFF_S)
                self._settle(lambda d: self.queue.nak(d, backoff), delivery)
            return
        self._settle(self.queue.ack, delivery)

    def _give_up(self, delivery: Delivery, reason: str) -> None:
        try:
            self.give_up(delivery, reason)
        except Exception:
            # Not recorded: leave it unacked, so it comes back rather than vanishing.
            log.exception("could not record giving up on %s", delivery.id)
            self._forget(delivery)
            return
        self._settle(self.queue.term, delivery)

    def _settle(self, action: Callable[[Delivery], None], delivery: Delivery) -> None:
        """Ack, nak or term; a bus that fails here only means the item comes back later."""
        self._forget(delivery)
        try:
            action(delivery)
        except BusUnavailable as exc:
            log.warning("could not settle %s (%s): it will be redelivered", delivery.id, exc)

    def _forget(self, delivery: Delivery) -> None:
        with self._held_lock:
            self._held = [d for d in self._held if d is not delivery]

    def _heartbeat(self, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_s):
            with self._held_lock:
                held = list(self._held)
            try:
                self.queue.extend(held)
            except Exception as exc:  # a missed beat only risks an early redelivery
                log.warning("could not extend %d deliveries: %s", len(held), exc)
