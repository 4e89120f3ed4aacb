"""The news index the dedup node searches: recent items (a time window) and historical uniques.

ExactIndex is the embedded default: brute-force cosine similarity over unit vectors held in
memory, rebuilt from the database on start so a restart forgets nothing. The reference design's
OpenSearch k-NN (a unique and a duplicates index) plugs in behind the same two queries.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

import numpy as np


@dataclass(frozen=True)
class Neighbor:
    item_id: str
    story_id: str | None
    similarity: float
    collection: Literal["recent", "unique"]


class NewsIndex(Protocol):
    def add(
        self,
        item_id: str,
        story_id: str | None,
        vector: np.ndarray,
        published_at: datetime,
        unique: bool,
    ) -> None: ...

    def nearest_recent(self, vector: np.ndarray, at: datetime) -> Neighbor | None: ...

    def nearest_unique(self, vector: np.ndarray) -> Neighbor | None: ...


class _Collection:
    """Append-only rows of (id, story, time, vector) with amortised growth."""

    def __init__(self, dimension: int) -> None:
        self.ids: list[str] = []
        self.story_ids: list[str | None] = []
        self.times: list[float] = []
        self._vectors = np.zeros((0, dimension), dtype=np.float32)
        self._size = 0

    @property
    def vectors(self) -> np.ndarray:
        return self._vectors[: self._size]

    def add(self, item_id: str, story_id: str | None, at: datetime, vector: np.ndarray) -> None:
        if self._size == len(self._vectors):
            grown = np.zeros((max(64, 2 * self._size), self._vectors.shape[1]), dtype=np.float32)
            grown[: self._size] = self._vectors[: self._size]
            self._vectors = grown
        self._vectors[self._size] = vector
        self._size += 1
        self.ids.append(item_id)
        self.story_ids.append(story_id)
        self.times.append(at.timestamp())

    def nearest(
        self, vector: np.ndarray, mask: np.ndarray | None = None
    ) -> tuple[int, float] | None:
        if self._size == 0:
            return None
        scores = self.vectors @ vector
        if mask is not None:
            if not mask.any():
                return None
            scores = np.where(mask, scores, -np.inf)
        best = int(np.argmax(scores))
        return best, float(scores[best])


class ExactIndex:
    def __init__(self, dimension: int, window: timedelta) -> None:
        self.window = window
        self._recent = _Collection(dimension)
        self._unique = _Collection(dimension)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._recent.ids)

    def add(
        self,
        item_id: str,
        story_id: str | None,
        vector: np.ndarray,
        published_at: datetime,
        unique: bool,
    ) -> None:
        vector = np.asarray(vector, dtype=np.float32)
        with self._lock:
            self._recent.add(item_id, story_id, published_at, vector)
            if unique:
                self._unique.add(item_id, story_id, published_at, vector)

    def nearest_recent(self, vector: np.ndarray, at: datetime) -> Neighbor | None:
        # The window is measured in stream time (published_at), not wall-clock time, so a
        # replay of last year's posts dedups exactly as it did live.
        with self._lock:
            times = np.asarray(self._recent.times)
            lo, hi = (at - self.window).timestamp(), (at + self.window).timestamp()
            mask = (times >= lo) & (times <= hi) if len(times) else None
            found = self._recent.nearest(np.asarray(vector, dtype=np.float32), mask)
            if found is None:
                return None
            row, score = found
            return Neighbor(self._recent.ids[row], self._recent.story_ids[row], score, "recent")

    def nearest_unique(self, vector: np.ndarray) -> Neighbor | None:
        with self._lock:
            found = self._unique.nearest(np.asarray(vector, dtype=np.float32))
            if found is None:
                return None
            row, score = found
            return Neighbor(self._unique.ids[row], self._unique.story_ids[row], score, "unique")
