"""The bus interface on its three engines: in-process memory, the database inbox (SQLite and
PostgreSQL) and the real NATS JetStream server of this machine."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from tools.queues import Bus, Consumer, Delivery, Message, QueueFull, WorkQueue, open_bus

DURABLE = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "nats"]
ALL = ["memory", *DURABLE]
ACK_WAIT_S = 0.6


@pytest.fixture
def open_queue(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., WorkQueue]]:
    """Open the parametrised engine's "in" queue; each call is a new connection (a process)."""
    backend = request.param
    overrides: dict[str, Any] = {"data_dir": tmp_path, "bus_ack_wait_s": ACK_WAIT_S}
    if backend == "memory":
        overrides["bus_url"] = "memory://"
    elif backend == "postgresql":
        overrides["database_url"] = request.getfixturevalue("pg_schema_url")
    elif backend == "nats":
        overrides.update(request.getfixturevalue("nats_bus"))
    opened: list[Bus] = []

    def factory(**more: Any) -> WorkQueue:
        if backend == "memory" and opened:
            return opened[0].queue("in")  # one process owns an in-process queue
        opened.append(open_bus(Settings(**{**overrides, **more})))
        return opened[-1].queue("in")

    yield factory
    for bus in opened:
        bus.close()


def messages(*ids: str) -> list[Message]:
    return [Message(i, f"payload of {i}".encode()) for i in ids]


def pull_all(queue: WorkQueue, expected: int, timeout_s: float = 5.0) -> list[Delivery]:
    found: list[Delivery] = []
    deadline = time.monotonic() + timeout_s
    while len(found) < expected and time.monotonic() < deadline:
        found += queue.pull(expected - len(found), 0.5)
    return found


@pytest.mark.parametrize("open_queue", ALL, indirect=True)
def test_publish_drops_a_resent_id(open_queue: Callable[..., WorkQueue]) -> None:
    queue = open_queue()
    assert queue.publish(messages("a", "b", "a")) == 2
    assert queue.publish(messages("b")) == 0
    assert queue.depth() == 2
    got = pull_all(queue, 2)
    assert sorted(d.id for d in got) == ["a", "b"]
    assert {d.data for d in got} == {b"payload of a", b"payload of b"}
    assert queue.pull(5, 0.2) == []


@pytest.mark.parametrize("open_queue", ALL, indirect=True)
def test_ack_finishes_and_nak_redelivers(open_queue: Callable[..., WorkQueue]) -> None:
    queue = open_queue()
    queue.publish(messages("a", "b"))
    first, second = pull_all(queue, 2)
    assert (first.id, first.attempt, second.id, second.attempt) == ("a", 1, "b", 1)
    queue.ack(first)
    queue.nak(second)
    [again] = pull_all(queue, 1)
    assert (again.id, again.attempt) == ("b", 2)
    queue.ack(again)
    assert queue.depth() == 0
    assert queue.pull(5, 0.3) == []


@pytest.mark.parametrize("open_queue", DURABLE, indirect=True)
def test_a_dead_consumers_delivery_comes_back_after_the_ack_wait(
    open_queue: Callable[..., WorkQueue],
) -> None:
    dying = open_queue()
    dying.publish(messages("a"))
    [held] = dying.pull(1, 2)
    # The consumer dies holding it (its connection goes; nothing is acked).
    survivor = open_queue()
    assert survivor.pull(1, ACK_WAIT_S / 3) == []  # not before its ack wait
    [back] = survivor.pull(1, ACK_WAIT_S * 3)
    assert (back.id, back.attempt, back.data) == ("a", 2, held.data)
    survivor.ack(back)
    assert survivor.depth() == 0


@pytest.mark.parametrize("open_queue", DURABLE, indirect=True)
def test_extending_a_slow_delivery_keeps_it_from_others(
    open_queue: Callable[..., WorkQueue],
) -> None:
    worker, other = open_queue(), open_queue()
    worker.publish(messages("slow"))
    [held] = worker.pull(1, 2)
    deadline = time.monotonic() + ACK_WAIT_S * 2
    while time.monotonic() < deadline:
        worker.extend([held])
        assert other.pull(1, ACK_WAIT_S / 3) == []
    worker.ack(held)
    assert other.pull(1, ACK_WAIT_S * 1.5) == []
    assert other.depth() == 0


@pytest.mark.parametrize("open_queue", ALL, indirect=True)
def test_a_pull_returns_what_is_ready_without_waiting_for_a_full_batch(
    open_queue: Callable[..., WorkQueue],
) -> None:
    """A trickle of items must not wait out the pull timeout for a batch that never fills."""
    queue = open_queue()
    queue.publish(messages("a"))
    started = time.monotonic()
    [a] = queue.pull(16, 3.0)
    assert time.monotonic() - started < 1.0
    threading.Timer(0.3, queue.publish, args=(messages("b"),)).start()
    started = time.monotonic()
    [b] = queue.pull(16, 3.0)  # waits for work, and returns as soon as some arrives
    assert 0.2 < time.monotonic() - started < 1.5
    queue.ack(a)
    queue.ack(b)


@pytest.mark.parametrize("open_queue", ALL, indirect=True)
def test_a_full_queue_refuses_the_whole_batch(open_queue: Callable[..., WorkQueue]) -> None:
    queue = open_queue(bus_max_pending=3)
    queue.publish(messages("a", "b"))
    with pytest.raises(QueueFull):
        queue.publish(messages("c", "d"))
    assert queue.depth() == 2
    assert queue.publish(messages("c")) == 1
    with pytest.raises(QueueFull):
        queue.publish(messages("d"))
    [done] = queue.pull(1, 2)
    queue.ack(done)
    assert queue.publish(messages("d")) == 1  # an ack makes room again
    assert queue.depth() == 3


def test_jetstream_drops_a_resend_inside_its_duplicate_window(
    nats_bus: dict[str, Any], tmp_path: Path
) -> None:
    """Even after the first copy was acked and removed, the window remembers its id."""
    bus = open_bus(Settings(data_dir=tmp_path, **nats_bus))
    try:
        queue = bus.queue("in")
        assert queue.publish(messages("a")) == 1
        [delivery] = queue.pull(1, 2)
        queue.ack(delivery)
        assert queue.depth() == 0
        assert queue.publish(messages("a")) == 0
        assert queue.depth() == 0 and queue.pull(1, 0.3) == []
    finally:
        bus.close()


def run_consumer(consumer: Consumer, until: Callable[[], bool], timeout_s: float = 20) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not until() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(10)
    assert until(), "the consumer did not finish in time"


@pytest.mark.parametrize("open_queue", ["memory", "sqlite", "nats"], indirect=True)
def test_consumer_acks_after_the_handler_retries_failures_and_gives_up_with_a_reason(
    open_queue: Callable[..., WorkQueue],
) -> None:
    queue = open_queue()
    queue.publish(messages("ok", "flaky", "broken"))
    done: list[tuple[str, int]] = []
    given_up: list[tuple[str, str]] = []

    def handle(delivery: Delivery) -> None:
        if delivery.id == "broken" or (delivery.id == "flaky" and delivery.attempt == 1):
            raise RuntimeError(f"cannot do {delivery.id} now")
        assert queue.depth() >= 1  # still on the queue while being handled: acked after
        done.append((delivery.id, delivery.attempt))

    consumer = Consumer(
        queue,
        handle,
        lambda d, reason: given_up.append((d.id, reason)),
        batch_size=2,
        ack_wait_s=ACK_WAIT_S,
        max_deliveries=2,
    )
    run_consumer(consumer, lambda: queue.depth() == 0)
    assert sorted(done) == [("flaky", 2), ("ok", 1)]
    [(item, reason)] = given_up
    assert item == "broken" and "failed 2 times" in reason and "cannot do broken" in reason


@pytest.mark.parametrize(
    "open_queue", [pytest.param("postgresql", marks=pytest.mark.postgres), "nats"], indirect=True
)
def test_two_consumers_share_a_queue_with_no_loss_and_no_repeat(
    open_queue: Callable[..., WorkQueue],
) -> None:
    ids = [f"m{i:02d}" for i in range(40)]
    queues = [open_queue(), open_queue()]  # two connections, as two processes would have
    queues[0].publish(messages(*ids))
    handled: dict[int, list[str]] = {0: [], 1: []}

    def handler(index: int) -> Callable[[Delivery], None]:
        def handle(delivery: Delivery) -> None:
            time.sleep(0.01)
            handled[index].append(delivery.id)

        return handle

    stop = threading.Event()
    threads = [
        threading.Thread(
            target=Consumer(
                queues[i],
                handler(i),
                lambda d, reason: None,
                batch_size=3,
                ack_wait_s=ACK_WAIT_S,
                max_deliveries=5,
            ).run,
            args=(stop,),
            daemon=True,
        )
        for i in (0, 1)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while queues[0].depth() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(10)
    everything = handled[0] + handled[1]
    assert sorted(everything) == ids  # each one, once
    assert handled[0] and handled[1]
