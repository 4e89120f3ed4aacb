"""Storage: the SQLAlchemy models and the Store the graph talks to.

One code path for SQLite (the default, a file under data_dir) and PostgreSQL (by URL). The
Store is one facade over its sections, each in its own module: items and dedup, analyses,
approvals and decisions, reporting, RSS feed state, cross-process locks.
"""

from __future__ import annotations

from tools.db.analyses import AnalysisStore
from tools.db.approvals import ApprovalStore
from tools.db.engine import MIGRATIONS_DIR, StoreBase, ensure_sqlite_dir, make_engine
from tools.db.feeds import FeedStore
from tools.db.items import (
    MAX_EXCERPT_CHARS,
    IndexedEmbedding,
    ItemStore,
    decode_embedding,
    encode_embedding,
)
from tools.db.locks import LockStore
from tools.db.models import Base, UTCDateTime
from tools.db.reporting import ReportingStore


class Store(ItemStore, AnalysisStore, ApprovalStore, ReportingStore, FeedStore, LockStore):
    """The graph's only door to the database."""


__all__ = [
    "MAX_EXCERPT_CHARS",
    "MIGRATIONS_DIR",
    "Base",
    "IndexedEmbedding",
    "Store",
    "StoreBase",
    "UTCDateTime",
    "decode_embedding",
    "encode_embedding",
    "ensure_sqlite_dir",
    "make_engine",
]
