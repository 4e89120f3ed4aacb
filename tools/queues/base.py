"""The bus between the desk's stages: one small interface, three engines behind it.

A queue holds messages (an id and bytes). Publishing returns only once the messages are durable
(a database commit, a JetStream PubAck); a re-send of an id the queue still holds is dropped. A
consumer pulls deliveries and acks each one only after the item's result is committed; a
delivery that is neither acked nor extended within the ack wait is delivered again (its consumer
died), so every accepted item is finished at least once, and the graph makes "once" exact by
recognising an item id it has already finished.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from core.records import NewsItem

# "in": intake, everything accepted (JetStream subject news.in); "unique": unique stories
# waiting for an analyst (news.unique).
QueueName = Literal["in", "unique"]
QUEUE_NAMES: tuple[QueueName, ...] = ("in", "unique")


class QueueFull(Exception):
    """The queue holds its maximum of unfinished messages; nothing of the batch was taken."""


class BusUnavailable(Exception):
    """The bus could not be reached or did not confirm; the caller should retry later."""


class Busy(Exception):
    """Raised by a handler: another consumer is working on this item right now.

    Not a failure: the delivery goes back for later, when the other one has acked it (and the
    message is gone) or has died (and this delivery does the work).
    """


@dataclass(frozen=True)
class Message:
    id: str
    data: bytes


@dataclass(frozen=True)
class Delivery:
    id: str
    data: bytes
    # 1 on the first delivery; more after a nak, a consumer death or an expired ack wait.
    attempt: int
    # The engine's own reference (a row number, a JetStream message).
    handle: Any = field(repr=False, compare=False)


class WorkQueue(Protocol):
    name: QueueName

    def publish(self, messages: Sequence[Message]) -> int:
        """Store the messages durably; returns how many were new (re-sent ids are dropped).

        Raises QueueFull when the batch does not fit, BusUnavailable when the bus is down.
        """
        ...

    def pull(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        """Up to max_messages deliveries, waiting at most timeout_s for the first one."""
        ...

    def ack(self, delivery: Delivery) -> None:
        """The item's result is committed: never deliver this message again."""
        ...

    def nak(self, delivery: Delivery, delay_s: float = 0.0) -> None:
        """Not done: deliver it again (to any consumer) after delay_s."""
        ...

    def extend(self, deliveries: Sequence[Delivery]) -> None:
        """Still working on these: restart their ack wait."""
        ...

    def term(self, delivery: Delivery) -> None:
        """Give up on this message (the caller recorded why): never deliver it again."""
        ...

    def depth(self) -> int:
        """Messages accepted and not yet acked or termed (waiting plus in flight)."""
        ...


class Bus(Protocol):
    def queue(self, name: QueueName) -> WorkQueue: ...

    def close(self) -> None: ...


def item_message(item: NewsItem) -> Message:
    """An item as the bus carries it: its id is the message id, so re-sends are dropped."""
    return Message(id=item.id, data=item.model_dump_json().encode())


def item_of(delivery: Delivery) -> NewsItem:
    return NewsItem.model_validate_json(delivery.data)
