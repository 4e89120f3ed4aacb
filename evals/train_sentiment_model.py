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

from collections.abc import Sequence
from typing import Any

from evals.datasets import (
    TWITTER_SPLIT_METHOD,
    fpb_split,
    load_financial_phrasebank,
    load_twitter_financial_news,
    stratified_split,
    twitter_split,
)
from evals.lora_training import (
    AdaptedNet,
    add_lora_arguments,
    parse_training_args,
    run_record,
    train,
    training_parser,
)
from evals.train_sentiment import metrics, metrics_line
from tools.sentiment_classifier import CLASSES
from tools.sentiment_model import MAX_TOKENS, default_adapter_path

VALIDATION_FRACTION = 0.1


def validation_split(indices: Sequence[int], labels: Sequence[str], seed: int) -> tuple[list, list]:
    """Stratified (fit, validation) split of training indices; deterministic for a seed."""
    positions_fit, positions_val = stratified_split(
        [labels[i] for i in indices], seed + 1, VALIDATION_FRACTION
    )
    return [indices[p] for p in positions_fit], [indices[p] for p in positions_val]


def main(argv: Sequence[str] | None = None) -> int:
    parser = training_parser(
        __doc__,
        committed=default_adapter_path(),
        local_only_flag="--include-fpb",
        local_only_data="Financial PhraseBank's train split (NON-COMMERCIAL)",
    )
    add_lora_arguments(parser, epochs=4)
    args = parse_training_args(parser, argv)

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
    if args.local_only:
        fit_texts += [fpb[i].text for i in fpb_train]
        fit_labels += [fpb[i].label for i in fpb_train]
        training_data.append("financial_phrasebank (CC BY-NC-SA 3.0, NON-COMMERCIAL), train split")
    print(
        f"fit {len(fit_texts)}, validation {len(val_texts)}, "
        f"Twitter held-out {len(held_idx)}, FPB held-out {len(fpb_held)}"
    )

    net = AdaptedNet(CLASSES, args.rank, args.alpha, args.lora_dropout, args.seed, MAX_TOKENS)
    outcome, history = train(
        net,
        fit_texts,
        fit_labels,
        lambda trained: metrics(val_labels, trained.predict(val_texts)),
        "weighted_f1",
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
        "training_data": training_data,
        "split": {
            "function": "evals.datasets.twitter_split(seed), then a stratified validation fold",
            "method": TWITTER_SPLIT_METHOD,
            "fit_rows": len(fit_texts),
            "validation_rows": len(val_texts),
            "held_out_rows": len(held_idx),
        },
        **run_record(args, net, fit_labels, outcome, history),
        "held_out_metrics": held_out,
        "financial_phrasebank_note": (
            "in-domain: its train split was used" if args.local_only else "out-of-domain check"
        ),
    }
    net.save(args.out, metadata)
    print("\nheld-out:")
    for name, m in held_out.items():
        print(metrics_line(name, m, 32))
    size = sum(p.stat().st_size for p in args.out.iterdir()) / 1024
    print(f"wrote {args.out} ({size:.0f} KB), best epoch {outcome['best_epoch']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
