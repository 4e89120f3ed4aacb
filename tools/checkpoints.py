"""LangGraph checkpointers: SqliteSaver by default, PostgresSaver with PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel

from core import records

RECORDS_MODULE = "core.records"
# Where the records lived before core.records: checkpoints written then name this module, which
# still exports them.
LEGACY_RECORDS_MODULE = "graph.state"


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


@contextmanager
def open_checkpointer(url: str) -> Iterator[BaseCheckpointSaver]:
    if url.startswith("postgresql"):
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(_psycopg_url(url)) as saver:
            saver.serde = state_serializer()
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
