"""Train the embedding sentiment classifier and write its ``.npz`` artifact reproducibly.

    python -m evals.train_sentiment [--out tools/data/sentiment_classifier.npz] [--seed 13]

Licences decide what may go into the committed artifact: only Twitter Financial News Sentiment
(MIT). Financial PhraseBank is CC BY-NC-SA (non-commercial), so it is used here for evaluation
only; ``--include-fpb`` trains a local model with it and refuses to write the default artifact.
"""

from __future__ import annotations

import hashlib
import platform
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.records import SentimentLabel
from evals.datasets import (
    TWITTER_SPLIT_METHOD,
    load_financial_phrasebank,
    load_twitter_financial_news,
    twitter_split,
)
from evals.lora_training import parse_training_args, training_parser
from tools.embeddings import get_embedder
from tools.lexicon import LexiconSentiment
from tools.sentiment_classifier import CLASSES, default_artifact_path, save_artifact

C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)
# "balanced" reweights the rare bearish/bullish classes up: the desk cares more about catching
# directional news than about the majority neutral class, so both options compete on macro F1.
CLASS_WEIGHTS: tuple[str | None, ...] = (None, "balanced")
VALIDATION_FRACTION = 0.15
BATCH_SIZE = 256


def encode(texts: Sequence[str], what: str) -> np.ndarray:
    """Embed in batches, printing progress: the whole set takes minutes on a small CPU."""
    embedder = get_embedder()
    chunks: list[np.ndarray] = []
    start = time.monotonic()
    for i in range(0, len(texts), BATCH_SIZE):
        chunks.append(embedder.encode(texts[i : i + BATCH_SIZE]))
        done = min(i + BATCH_SIZE, len(texts))
        elapsed = time.monotonic() - start
        eta = elapsed / done * (len(texts) - done)
        print(
            f"\r  embedding {what}: {done}/{len(texts)} ({elapsed:.0f} s, ~{eta:.0f} s left)",
            end="",
            file=sys.stderr,
            flush=True,
        )
    print(file=sys.stderr)
    return np.concatenate(chunks) if chunks else np.zeros((0, embedder.dimension), np.float32)


def metrics(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "weighted_f1": round(float(f1_score(y_true, y_pred, average="weighted")), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro")), 4),
        "n": len(y_true),
    }


def fit(x: np.ndarray, y: np.ndarray, c: float, class_weight: str | None, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    # lbfgs on 3 classes is the multinomial (softmax) model that the npz artifact replays.
    model = LogisticRegression(C=c, class_weight=class_weight, max_iter=5000, random_state=seed)
    return model.fit(x, y)


def predict_labels(model: Any, x: np.ndarray) -> list[SentimentLabel]:
    return [CLASSES[int(i)] for i in model.predict(x)]


def tune(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[float, str | None, list[dict[str, Any]]]:
    """Pick C and class weighting on a validation fold carved from the training rows only."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    fit_idx, val_idx = train_test_split(
        idx, test_size=VALIDATION_FRACTION, stratify=y, random_state=seed
    )
    y_val = [CLASSES[int(i)] for i in y[val_idx]]
    results: list[dict[str, Any]] = []
    for class_weight in CLASS_WEIGHTS:
        for c in C_GRID:
            model = fit(x[fit_idx], y[fit_idx], c, class_weight, seed)
            m = metrics(y_val, predict_labels(model, x[val_idx]))
            results.append({"C": c, "class_weight": class_weight, **m})
            print(f"  C={c:<5} class_weight={class_weight!s:<8} validation {m}")
    best = max(results, key=lambda r: (r["macro_f1"], r["weighted_f1"]))
    return best["C"], best["class_weight"], results


def texts_sha256(texts: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()


def metrics_line(name: str, m: dict[str, float], width: int) -> str:
    return (
        f"  {name:<{width}} acc {m['accuracy']:.4f}  weighted F1 {m['weighted_f1']:.4f}  "
        f"macro F1 {m['macro_f1']:.4f}  (n={m['n']})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = training_parser(
        __doc__,
        committed=default_artifact_path(),
        local_only_flag="--include-fpb",
        local_only_data="Financial PhraseBank (NON-COMMERCIAL licence)",
    )
    args = parse_training_args(parser, argv)

    import sklearn

    rows = load_twitter_financial_news()
    train_idx, held_idx = twitter_split(args.seed)
    texts = [r.text for r in rows]
    labels = np.array([CLASSES.index(r.label) for r in rows])
    print(
        f"Twitter Financial News: {len(rows)} rows, train {len(train_idx)}, "
        f"held-out {len(held_idx)} (seed {args.seed})"
    )

    x_all = encode(texts, "Twitter Financial News")
    x_train, y_train = x_all[train_idx], labels[train_idx]

    print("tuning on a validation fold of the training rows:")
    c, class_weight, grid = tune(x_train, y_train, args.seed)
    print(f"  chosen: C={c}, class_weight={class_weight}")

    fpb = load_financial_phrasebank(min_agreement=50)
    x_fpb = encode([r.text for r in fpb], "Financial PhraseBank (evaluation)")
    y_fpb = [r.label for r in fpb]
    training_data = ["twitter_financial_news_sentiment (MIT), train split"]
    if args.local_only:
        x_train = np.concatenate([x_train, x_fpb])
        y_train = np.concatenate([y_train, [CLASSES.index(label) for label in y_fpb]])
        training_data.append("financial_phrasebank (CC BY-NC-SA 3.0, NON-COMMERCIAL), all rows")
    model = fit(x_train, y_train, c, class_weight, args.seed)
    if list(model.classes_) != list(range(len(CLASSES))):
        raise RuntimeError(f"unexpected class order {model.classes_}")

    y_held = [rows[i].label for i in held_idx]
    lexicon = LexiconSentiment()
    held_out = {
        "classifier": metrics(y_held, predict_labels(model, x_all[held_idx])),
        "lexicon": metrics(y_held, [lexicon.score(rows[i].text).label for i in held_idx]),
    }
    # FPB scores are only an out-of-domain check (news sentences, not tweets); in-sample with
    # --include-fpb, so they are labelled as such.
    fpb_key = "in_sample" if args.local_only else "evaluation_only"
    fpb_all_agree = [i for i, r in enumerate(fpb) if r.agreement == 100]
    fpb_pred = predict_labels(model, x_fpb)
    fpb_metrics = {
        "note": fpb_key,
        "classifier_agree50": metrics(y_fpb, fpb_pred),
        "classifier_agree100": metrics(
            [y_fpb[i] for i in fpb_all_agree], [fpb_pred[i] for i in fpb_all_agree]
        ),
        "lexicon_agree50": metrics(y_fpb, [lexicon.score(r.text).label for r in fpb]),
    }

    metadata: dict[str, Any] = {
        "model": "multinomial logistic regression on all-MiniLM-L6-v2 unit-normalised embeddings",
        "classes": list(CLASSES),
        "training_data": training_data,
        "source_file": "shared/data/twitter_financial_news_sentiment/sent_train.csv",
        "source_sha256_of_texts": texts_sha256(texts),
        "seed": args.seed,
        "split": {
            "function": "evals.datasets.twitter_split(seed)",
            "method": TWITTER_SPLIT_METHOD,
            "train_rows": len(train_idx),
            "held_out_rows": len(held_idx),
        },
        "counts": {
            "train": dict(sorted(Counter(CLASSES[int(i)] for i in y_train).items())),
            "held_out": dict(sorted(Counter(y_held).items())),
        },
        "hyperparameters": {"C": c, "class_weight": class_weight, "solver": "lbfgs"},
        "tuning": {"validation_fraction_of_train": VALIDATION_FRACTION, "grid": grid},
        "held_out_metrics": held_out,
        "financial_phrasebank_metrics": fpb_metrics,
        "versions": {
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    coef = model.coef_
    save_artifact(args.out, coef, model.intercept_, metadata)

    print("\nheld-out Twitter Financial News (15%):")
    for name, m in held_out.items():
        print(metrics_line(name, m, 10))
    print(f"Financial PhraseBank ({fpb_key}):")
    for name in ("classifier_agree50", "classifier_agree100", "lexicon_agree50"):
        print(metrics_line(name, fpb_metrics[name], 20))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.1f} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
