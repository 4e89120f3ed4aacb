"""LangGraph checkpointers: SqliteSaver by default, PostgresSaver with PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel

from core import records

RECORDS_MODULE = "core.records"
# Where the records lived before core.records: checkpoints written then name this module, which
# still exports them.
LEGACY_RECORDS_MODULE = "graph.state"
# pg_advisory_lock key that serialises the PostgreSQL checkpointer's setup ("ckpt" in ASCII).
SETUP_LOCK_KEY = 0x636B7074


def state_serializer() -> JsonPlusSerializer:
    """A serializer that may rebuild the desk's own Pydantic records, and nothing else."""
    names = [
        name
        for name, value in vars(records).items()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == RECORDS_MODULE
    ]
    allowed = [
        (module, name) for module in (RECORDS_MODULE, LEGACY_RECORDS_MODULE) for name in names
    ]
    return JsonPlusSerializer(allowed_msgpack_modules=allowed)


def _psycopg_url(url: str) -> str:
    # SQLAlchemy spells the driver into the scheme; psycopg wants a plain libpq URL.
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _try_lock(conn: Any) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (SETUP_LOCK_KEY,)).fetchone()
    return bool(row["ok"])  # the saver's connection returns rows as dicts


@contextmanager
def _setup_lock(conn: Any, timeout_s: float = 120.0) -> Iterator[None]:
    """PostgresSaver.setup() one process at a time: together they race on its version table.

    Polled with pg_try_advisory_lock, not waited for: setup() builds indexes CONCURRENTLY,
    which waits for every open statement, a blocked pg_advisory_lock call included (deadlock).
    """
    deadline = time.monotonic() + timeout_s
    while not _try_lock(conn):
        if time.monotonic() > deadline:
            raise TimeoutError("another process held the checkpointer's setup lock too long")
        time.sleep(0.1)
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))


@contextmanager
def open_checkpointer(url: str) -> Iterator[BaseCheckpointSaver]:
    if url.startswith("postgresql"):
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(_psycopg_url(url)) as saver:
            saver.serde = state_serializer()
            with _setup_lock(saver.conn):
                saver.setup()
            yield saver
        return
    if not url.startswith("sqlite:///"):
        raise ValueError(f"unsupported checkpoint URL: {url}")
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, check_same_thread=False)
    try:
        saver = SqliteSaver(connection, serde=state_serializer())
        saver.setup()
        yield saver
    finally:
        connection.close()
