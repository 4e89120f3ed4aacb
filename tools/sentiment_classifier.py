"""Sentiment from MiniLM embeddings: a multinomial logistic regression stored as plain arrays.

The weights live in a small ``.npz`` (no pickle, so loading it cannot run code) and inference is a
matrix product and a softmax in numpy. ``evals/train_sentiment.py`` builds the committed artifact.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.records import SentimentLabel, SentimentVote

CLASSES: tuple[SentimentLabel, ...] = ("bearish", "neutral", "bullish")


class SentimentClassifier(Protocol):
    """The sentiment node's classifier vote: from the texts or from their dedup embeddings."""

    reads_embeddings: bool

    def classify(
        self, texts: Sequence[str], embeddings: np.ndarray | None
    ) -> list[SentimentVote]: ...


def default_artifact_path() -> Path:
    return Path(__file__).parent / "data" / "sentiment_classifier.npz"


def softmax(logits: np.ndarray) -> np.ndarray:
    # Subtracting the row max keeps exp() from overflowing; the result is unchanged.
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def votes_from_probabilities(probabilities: np.ndarray) -> list[SentimentVote]:
    """A vote per row of (n, 3) probabilities in ``CLASSES`` order; score = P(bull) - P(bear)."""
    bear, bull = CLASSES.index("bearish"), CLASSES.index("bullish")
    votes: list[SentimentVote] = []
    for p in probabilities:
        best = int(np.argmax(p))
        votes.append(
            SentimentVote(
                label=CLASSES[best],
                score=float(np.clip(p[bull] - p[bear], -1.0, 1.0)),
                confidence=float(np.clip(p[best], 0.0, 1.0)),
            )
        )
    return votes


def save_artifact(
    path: Path, coef: np.ndarray, intercept: np.ndarray, metadata: dict[str, Any]
) -> None:
    """Write the arrays the classifier needs; ``coef`` rows must follow ``CLASSES``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        coef=np.asarray(coef, dtype=np.float32),
        intercept=np.asarray(intercept, dtype=np.float32),
        classes=np.array(CLASSES),
        metadata=np.array(json.dumps(metadata, sort_keys=True)),
    )


class EmbeddingSentimentClassifier:
    """Bearish / neutral / bullish from unit-normalised 384-d sentence embeddings."""

    reads_embeddings = True

    def __init__(
        self, coef: np.ndarray, intercept: np.ndarray, metadata: dict[str, Any] | None = None
    ) -> None:
        if coef.ndim != 2 or coef.shape[0] != len(CLASSES) or intercept.shape != (len(CLASSES),):
            raise ValueError(f"bad shapes: coef {coef.shape}, intercept {intercept.shape}")
        self.coef = coef.astype(np.float32)
        self.intercept = intercept.astype(np.float32)
        self.metadata = metadata or {}

    @property
    def dimension(self) -> int:
        return int(self.coef.shape[1])

    @classmethod
    def load(cls, path: Path | None = None) -> EmbeddingSentimentClassifier:
        path = Path(path) if path else default_artifact_path()
        if not path.exists():
            raise FileNotFoundError(
                f"sentiment classifier artifact not found: {path} "
                "(build it with: python -m evals.train_sentiment)"
            )
        with np.load(path, allow_pickle=False) as data:
            classes = tuple(str(c) for c in data["classes"])
            if classes != CLASSES:
                raise ValueError(f"{path}: classes {classes} != expected {CLASSES}")
            metadata = json.loads(str(data["metadata"])) if "metadata" in data else {}
            return cls(data["coef"], data["intercept"], metadata)

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, 3) probabilities in ``CLASSES`` order; a single 1-d vector is treated as n=1."""
        x = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if x.shape[1] != self.dimension:
            raise ValueError(f"expected {self.dimension}-d embeddings, got {x.shape[1]}-d")
        return softmax(x @ self.coef.T + self.intercept)

    def classify(self, texts: Sequence[str], embeddings: np.ndarray | None) -> list[SentimentVote]:
        if embeddings is None:
            raise ValueError("the embedding classifier needs the texts' embeddings")
        return self.predict(embeddings)

    def predict(self, embeddings: np.ndarray) -> list[SentimentVote]:
        return votes_from_probabilities(self.predict_proba(embeddings))
