"""One story worked on by one process at a time, across every process on the database.

The bus delivers at least once: a consumer that stalls past its ack wait (a long GC pause, a
starved heartbeat, a lost connection to NATS) sees its item handed to another while it is
still working on it. Both would then run the same graph thread, and both could post the story.
A PostgreSQL advisory lock per thread makes the second one wait or step back instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from tools.db.engine import StoreBase


class LockStore(StoreBase):
    @contextmanager
    def exclusively(self, key: str, wait: bool) -> Iterator[bool]:
        """Hold the lock named `key` while the block runs; yields whether it is held.

        wait=False yields False at once when another process holds it. On SQLite, which one
        machine's processes share, the lock is always granted: exclusivity there rests on the
        bus's ack wait and on the callers' in-process locks.
        """
        if self.engine.dialect.name != "postgresql":
            yield True
            return
        # A session lock, on a connection kept for the block: it outlives the transactions
        # the block commits on other connections, and dies with the process if it is killed.
        with self.engine.connect() as connection:
            lock = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
            held = connection.scalar(
                text(f"SELECT {lock}(hashtextextended(:key, 0))"), {"key": key}
            )
            connection.commit()
            try:
                yield held is not False
            finally:
                if held is not False:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))"), {"key": key}
                    )
                    connection.commit()
