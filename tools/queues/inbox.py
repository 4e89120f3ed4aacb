"""The embedded default bus: an inbox table in the desk's own database (SQLite or PostgreSQL).

A message is a row, committed before publish returns; a consumer leases rows (lease_until),
acks by deleting the row, and a lease that runs out without an ack or an extension makes the
row claimable again, which is how items a dead process held come back after a restart.

Claiming is one UPDATE ... RETURNING over the oldest claimable rows: SQLite runs it under its
write lock, PostgreSQL with FOR UPDATE SKIP LOCKED, so concurrent consumers (threads or
processes) never claim the same row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import Insert, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tools.db.engine import StoreBase
from tools.db.models import InboxMessage, utcnow
from tools.queues.base import QUEUE_NAMES, BusUnavailable, Delivery, Message, QueueFull, QueueName

# Another process may publish (a second serve on one PostgreSQL inbox): poll at least this often.
POLL_S = 0.5
# Rows per INSERT statement: 5 parameters a row stays far below SQLite's and libpq's limits.
INSERT_CHUNK = 1_000


class InboxQueue:
    def __init__(self, db: InboxBus, name: QueueName, max_pending: int, ack_wait_s: float) -> None:
        self.name = name
        self.max_pending = max_pending
        self.ack_wait = timedelta(seconds=ack_wait_s)
        self._db = db
        # Wakes a waiting consumer in this process as soon as a publish here committed.
        self._published = threading.Condition()

    def publish(self, messages: Sequence[Message]) -> int:
        fresh: dict[str, Message] = {}
        for message in messages:
            fresh.setdefault(message.id, message)
        if not fresh:
            return 0
        now = utcnow()
        rows = [
            {
                "queue": self.name,
                "message_id": m.id,
                "payload": m.data,
                "enqueued_at": now,
                "deliveries": 0,
            }
            for m in fresh.values()
        ]
        inserted = 0
        with self._db.errors(self.name):
            # Write first, count after: a SQLite transaction that read before writing could not
            # wait for the write lock (a stale WAL snapshot fails at once instead).
            with self._db.sessions.begin() as s:
                for start in range(0, len(rows), INSERT_CHUNK):
                    chunk = rows[start : start + INSERT_CHUNK]
                    inserted += len(s.execute(self._db.insert_ignoring_copies(chunk)).all())
                if inserted and self._count(s) > self.max_pending:
                    raise QueueFull(f"inbox {self.name}: at its limit of {self.max_pending}")
        with self._published:
            self._published.notify_all()
        return inserted

    def pull(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        deadline = time.monotonic() + timeout_s
        while True:
            claimed = self._claim(max_messages)
            remaining = deadline - time.monotonic()
            if claimed or remaining <= 0:
                return claimed
            with self._published:
                self._published.wait(min(remaining, POLL_S))

    def _claim(self, limit: int) -> list[Delivery]:
        now = utcnow()
        claimable = (
            select(InboxMessage.seq)
            .where(
                InboxMessage.queue == self.name,
                or_(InboxMessage.lease_until.is_(None), InboxMessage.lease_until <= now),
            )
            .order_by(InboxMessage.seq)
            .limit(limit)
        )
        if self._db.engine.dialect.name == "postgresql":
            # Rows another consumer is claiming right now are skipped, not waited for.
            claimable = claimable.with_for_update(skip_locked=True)
        stmt = (
            update(InboxMessage)
            .where(InboxMessage.seq.in_(claimable.scalar_subquery()))
            .values(lease_until=now + self.ack_wait, deliveries=InboxMessage.deliveries + 1)
            .returning(
                InboxMessage.seq,
                InboxMessage.message_id,
                InboxMessage.payload,
                InboxMessage.deliveries,
            )
        )
        with self._db.errors(self.name), self._db.sessions.begin() as s:
            rows = sorted(s.execute(stmt).all())
        return [Delivery(r.message_id, bytes(r.payload), r.deliveries, handle=r.seq) for r in rows]

    def ack(self, delivery: Delivery) -> None:
        with self._db.errors(self.name), self._db.sessions.begin() as s:
            s.execute(delete(InboxMessage).where(InboxMessage.seq == delivery.handle))

    term = ack

    def nak(self, delivery: Delivery, delay_s: float = 0.0) -> None:
        ready_at = utcnow() + timedelta(seconds=delay_s) if delay_s > 0 else None
        with self._db.errors(self.name), self._db.sessions.begin() as s:
            s.execute(
                update(InboxMessage)
                .where(InboxMessage.seq == delivery.handle)
                .values(lease_until=ready_at)
            )
        with self._published:
            self._published.notify_all()

    def extend(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        with self._db.errors(self.name), self._db.sessions.begin() as s:
            s.execute(
                update(InboxMessage)
                .where(InboxMessage.seq.in_([d.handle for d in deliveries]))
                .values(lease_until=utcnow() + self.ack_wait)
            )

    def depth(self) -> int:
        with self._db.errors(self.name), self._db.sessions() as s:
            return self._count(s)

    def _count(self, session: Session) -> int:
        stmt = select(func.count()).select_from(InboxMessage).where(InboxMessage.queue == self.name)
        return int(session.scalar(stmt) or 0)


class InboxBus(StoreBase):
    """Both queues in one table of the database at `url` (migrated on open)."""

    def __init__(self, url: str, max_pending: int, ack_wait_s: float) -> None:
        super().__init__(url)
        dialect = self.engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"the inbox needs SQLite or PostgreSQL, not {dialect}")
        self.migrate()
        self.sessions = self._sessions
        self._queues = {
            name: InboxQueue(self, name, max_pending, ack_wait_s) for name in QUEUE_NAMES
        }

    @contextmanager
    def errors(self, queue: QueueName) -> Iterator[None]:
        """A database that fails (down, restarting, locked too long) is a bus that is down."""
        try:
            yield
        except DBAPIError as exc:
            raise BusUnavailable(f"inbox {queue}: {type(exc.orig).__name__}: {exc.orig}") from exc

    def insert_ignoring_copies(self, rows: list[dict[str, object]]) -> Insert:
        """INSERT ... ON CONFLICT DO NOTHING: a re-sent message id still queued is dropped."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        # RETURNING counts the rows stored (rowcount is not reliable across drivers here).
        statement = dialect.insert(InboxMessage).values(rows).on_conflict_do_nothing()
        return statement.returning(InboxMessage.seq)

    def queue(self, name: QueueName) -> InboxQueue:
        return self._queues[name]
