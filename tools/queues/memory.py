"""In-process queues: the same interface with nothing durable behind it.

For one process that owns both ends (a file replay, tests): a crash loses what is queued, so
`newsdesk serve` never uses it for items it acknowledged.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from tools.queues.base import QUEUE_NAMES, Delivery, Message, QueueFull, QueueName


@dataclass
class _Entry:
    message: Message
    deliveries: int = 0
    not_before: float = 0.0


class MemoryQueue:
    def __init__(self, name: QueueName, max_pending: int) -> None:
        self.name = name
        self.max_pending = max_pending
        self._ready: list[_Entry] = []  # in publish order; a nak'ed entry goes back to the end
        self._held: dict[int, _Entry] = {}
        self._ids: set[str] = set()  # waiting or held: a re-send of one of these is dropped
        self._tokens = itertools.count()
        self._changed = threading.Condition()

    def publish(self, messages: Sequence[Message]) -> int:
        with self._changed:
            fresh: dict[str, Message] = {}
            for message in messages:
                if message.id not in self._ids:
                    fresh.setdefault(message.id, message)
            if len(self._ids) + len(fresh) > self.max_pending:
                raise QueueFull(f"{self.name}: {len(self._ids)} unfinished messages")
            self._ready.extend(_Entry(m) for m in fresh.values())
            self._ids.update(fresh)
            self._changed.notify_all()
            return len(fresh)

    def pull(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                now = time.monotonic()
                due = [e for e in self._ready if e.not_before <= now][:max_messages]
                if due:
                    return [self._hold(entry) for entry in due]
                if now >= deadline:
                    return []
                # Wake for a publish, a nak, or the earliest back-off ending.
                waits = [e.not_before - now for e in self._ready] + [deadline - now]
                self._changed.wait(max(min(waits), 0.001))

    def _hold(self, entry: _Entry) -> Delivery:
        self._ready.remove(entry)
        entry.deliveries += 1
        token = next(self._tokens)
        self._held[token] = entry
        message = entry.message
        return Delivery(message.id, message.data, entry.deliveries, handle=token)

    def ack(self, delivery: Delivery) -> None:
        with self._changed:
            entry = self._held.pop(delivery.handle, None)
            if entry is not None:
                self._ids.discard(entry.message.id)
            self._changed.notify_all()

    term = ack

    def nak(self, delivery: Delivery, delay_s: float = 0.0) -> None:
        with self._changed:
            entry = self._held.pop(delivery.handle, None)
            if entry is not None:
                entry.not_before = time.monotonic() + delay_s
                self._ready.append(entry)
            self._changed.notify_all()

    def extend(self, deliveries: Sequence[Delivery]) -> None:
        # Nothing to extend: a held entry is never redelivered while this process lives, and
        # when it dies the queue goes with it.
        return None

    def depth(self) -> int:
        with self._changed:
            return len(self._ids)


class MemoryBus:
    def __init__(self, max_pending: int) -> None:
        self._queues = {name: MemoryQueue(name, max_pending) for name in QUEUE_NAMES}

    def queue(self, name: QueueName) -> MemoryQueue:
        return self._queues[name]

    def close(self) -> None:
        return None
