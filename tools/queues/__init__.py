"""The bus between the desk's stages (see base.py): memory, a database inbox, or JetStream."""

from __future__ import annotations

from core.settings import Settings
from tools.queues.base import (
    QUEUE_NAMES,
    Bus,
    BusUnavailable,
    Busy,
    Delivery,
    Message,
    QueueFull,
    QueueName,
    WorkQueue,
    item_message,
    item_of,
)
from tools.queues.consumer import Consumer, GiveUp, Handler


def open_bus(settings: Settings) -> Bus:
    """The configured bus: bus_url empty (the database inbox), nats://... or memory://."""
    url = settings.bus_url
    if url.startswith(("nats://", "tls://")):
        from tools.queues.jetstream import JetStreamBus

        return JetStreamBus(
            url,
            stream_prefix=settings.bus_stream_prefix,
            subjects={"in": settings.bus_intake_subject, "unique": settings.bus_unique_subject},
            duplicate_window_s=settings.bus_duplicate_window_s,
            max_pending=settings.bus_max_pending,
            ack_wait_s=settings.bus_ack_wait_s,
        )
    if url == "memory://":
        from tools.queues.memory import MemoryBus

        return MemoryBus(settings.bus_max_pending)
    if url:
        raise ValueError(f"unsupported bus URL {url!r}: empty (database), nats://... or memory://")
    from tools.queues.inbox import InboxBus

    return InboxBus(
        settings.resolved_database_url, settings.bus_max_pending, settings.bus_ack_wait_s
    )


def consumer_for(
    settings: Settings, queue: WorkQueue, handle: Handler, give_up: GiveUp
) -> Consumer:
    """A consumer with the configured batch size, ack wait and delivery limit."""
    return Consumer(
        queue,
        handle,
        give_up,
        batch_size=settings.bus_batch_size,
        ack_wait_s=settings.bus_ack_wait_s,
        max_deliveries=settings.bus_max_deliveries,
    )


__all__ = [
    "QUEUE_NAMES",
    "Bus",
    "Busy",
    "BusUnavailable",
    "Consumer",
    "Delivery",
    "Message",
    "QueueFull",
    "QueueName",
    "WorkQueue",
    "consumer_for",
    "item_message",
    "item_of",
    "open_bus",
]
