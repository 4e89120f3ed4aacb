"""The engine behind the store: one code path for SQLite (the default) and PostgreSQL, and the
schema migrations."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# pg_advisory_xact_lock key that serialises migrations (any constant; "newsdesk" in ASCII).
MIGRATION_LOCK_KEY = 0x6E657773646B


def ensure_sqlite_dir(url: str) -> None:
    """SQLite creates the file but not its directory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> Engine:
    ensure_sqlite_dir(url)
    if make_url(url).get_backend_name() != "sqlite":
        # pre_ping swaps out connections that died with a PostgreSQL restart.
        return create_engine(url, pool_pre_ping=True)

    engine = create_engine(url, pool_pre_ping=True, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers run while a worker writes; the busy timeout makes writers queue
        # instead of failing with "database is locked".
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # PostgreSQL enforces foreign keys; SQLite must be asked to, so both behave alike.
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


class StoreBase:
    """The engine and session factory every section of the Store shares.

    Every Store method runs its own short transaction, so the graph's worker threads can share
    one Store.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        # expire_on_commit=False: values read inside a transaction stay readable after it.
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # --- schema --------------------------------------------------------------------------

    def migrate(self) -> None:
        """alembic upgrade head, without an alembic.ini; one process at a time.

        Workers started together on a fresh database would otherwise race to create the same
        tables (seen: two pooled workers, one died on CREATE TABLE alembic_version).
        """
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("path_separator", "os")
        # Config is a ConfigParser: a literal % (URL-encoded passwords) must be doubled.
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self._migration_lock() as connection:
            config.attributes["connection"] = connection  # env.py migrates on this one
            command.upgrade(config, "head")

    @contextmanager
    def _migration_lock(self) -> Iterator[Connection]:
        """A connection inside a transaction that holds the database's migration lock."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as connection:
                # Released when the transaction ends, committed migrations included.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                yield connection
            return
        database = make_url(self.url).database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            with self.engine.begin() as connection:
                yield connection
            return
        # SQLite has no advisory lock; a lock file beside the database serves the one machine
        # that can open it.
        with Path(f"{database}.migrate-lock").open("a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                with self.engine.begin() as connection:
                    yield connection
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
