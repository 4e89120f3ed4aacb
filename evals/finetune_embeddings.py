"""`newsdesk finetune-embeddings`: fine-tune MiniLM on news pairs, recalibrate the dedup thresholds.

Training data (all from ``shared/data``): MRPC train split, STS-B news headlines (train file,
scores >= 4 of 5 as duplicates, <= 2 as distinct, the rest left out), story-cluster headline pairs
of the training stories with mined hard negatives. The loss is sentence-transformers'
OnlineContrastiveLoss on cosine distance with a margin of 1 - the unique threshold: it pulls
duplicates towards 1 and pushes distinct pairs below the unique threshold, which is exactly what
empties the muddy middle (a ranking loss such as CoSENT orders pairs but lets them all drift up).
The dedup thresholds are then chosen on pairs from calibration stories set aside from the
training stories (the desk's own notion of "the same story", never trained on; each positive is a
headline and its nearest same-story headline, the comparison the dedup node makes), and
everything is scored before and after on data the training did not see: MRPC held-out pairs, the
STS-B dev file and the held-out stories (as pairs and as a stream).

The output directory is a sentence-transformers model plus ``newsdesk_thresholds.json``; point
``NEWSDESK_EMBEDDING_MODEL`` at it and the desk uses both.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.settings import THRESHOLDS_FILE, Settings
from evals.pair_data import (
    Pair,
    load_headlines,
    mrpc_pairs,
    split_stories,
    story_pairs,
    stsb_pairs,
    write_headlines,
    write_pairs,
)
from evals.progress import print_step
from tools.embeddings import get_embedder

CALIBRATION_FRACTION = 0.1
# A duplicate verdict skips the analysis, so it must almost never be wrong.
TARGET_PRECISION = 0.97
# Below the unique threshold a copy is analysed again: costly, not harmful. Allow a few.
MAX_MISSED_DUPLICATES = 0.05


def calibrate_thresholds(
    similarity: np.ndarray,
    labels: np.ndarray,
    target_precision: float = TARGET_PRECISION,
    max_missed: float = MAX_MISSED_DUPLICATES,
    fallback: tuple[float, float] = (0.75, 0.5),
    grid: np.ndarray | None = None,
) -> dict[str, Any]:
    """Duplicate threshold: the lowest cut whose precision reaches the target (so recall is as
    high as it can be); unique threshold: the highest cut that leaves at most `max_missed` of the
    duplicates below it, never above the duplicate threshold. When no cut reaches the target,
    the `fallback` (duplicate, unique) cuts are kept and ``calibrated`` is False. `grid` holds
    the candidate cuts (default: cosine similarities 0.30-0.98)."""
    if grid is None:
        grid = np.round(np.arange(0.30, 0.99, 0.01), 2)
    positives = labels == 1
    reached = [
        float(t)
        for t in grid
        if (similarity > t).any() and labels[similarity > t].mean() >= target_precision
    ]
    if not reached:
        # Nothing to calibrate to: keep the configured cuts and say so in the file.
        return {
            "duplicate": fallback[0],
            "unique": fallback[1],
            "calibrated": False,
            "reason": f"no cut reaches precision {target_precision} on the calibration pairs",
        }
    duplicate = reached[0]
    unique = float(grid[0])
    for t in grid:
        if t > duplicate or np.mean(similarity[positives] < t) > max_missed:
            break
        unique = float(t)
    flagged = similarity > duplicate
    return {
        "duplicate": duplicate,
        "unique": unique,
        "calibration_precision": round(float(labels[flagged].mean()) if flagged.any() else 0, 4),
        "calibration_recall": round(float(flagged[positives].mean()), 4),
        "calibrated": True,
        "target_precision": target_precision,
        "max_missed_duplicates": max_missed,
    }


def binary_pairs(pairs: Sequence[Pair]) -> list[Pair]:
    """Duplicate (score >= 0.8) or distinct (<= 0.4); graded pairs in between teach neither."""
    return [
        Pair(p.a, p.b, 1.0 if p.duplicate else 0.0, p.source)
        for p in pairs
        if p.duplicate or p.score <= 0.4
    ]


def train(
    model: Any,
    pairs: Sequence[Pair],
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    margin: float = 0.5,
) -> list[dict[str, Any]]:
    """A plain loop over sentence-transformers' contrastive loss: no dataset library needed."""
    import torch
    from sentence_transformers.sentence_transformer.losses import (
        OnlineContrastiveLoss,
        SiameseDistanceMetric,
    )
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    pairs = binary_pairs(pairs)
    loss_fn = OnlineContrastiveLoss(
        model, distance_metric=SiameseDistanceMetric.COSINE_DISTANCE, margin=margin
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps_per_epoch = (len(pairs) + batch_size - 1) // batch_size
    schedule = get_linear_schedule_with_warmup(
        optimizer, int(0.1 * steps_per_epoch * epochs), steps_per_epoch * epochs
    )
    rng = random.Random(seed)
    history: list[dict[str, Any]] = []
    started = time.monotonic()
    model.train()
    for epoch in range(1, epochs + 1):
        order = list(range(len(pairs)))
        rng.shuffle(order)
        running = 0.0
        for step in range(steps_per_epoch):
            batch = [pairs[i] for i in order[step * batch_size : (step + 1) * batch_size]]
            features = [model.tokenize([p.a for p in batch]), model.tokenize([p.b for p in batch])]
            labels = torch.tensor([p.score for p in batch], dtype=torch.float32)
            loss = loss_fn(features, labels)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            running += loss.item()
            print_step(epoch, epochs, step, steps_per_epoch, running / (step + 1), started)
        print(file=sys.stderr)
        history.append({"epoch": epoch, "train_loss": round(running / steps_per_epoch, 4)})
    model.eval()
    return history


def similarities(model: Any, pairs: Sequence[Pair]) -> np.ndarray:
    kwargs = {"normalize_embeddings": True, "convert_to_numpy": True, "batch_size": 64}
    left = model.encode([p.a for p in pairs], **kwargs)
    right = model.encode([p.b for p in pairs], **kwargs)
    return np.sum(left * right, axis=1)


def finetune(
    out: Path,
    settings: Settings,
    epochs: int = 1,
    lr: float = 3e-5,
    batch_size: int = 32,
    positives_per_story: int = 20,
    seed: int = 13,
    evaluate: bool = True,
    recalibrate_only: bool = False,
) -> dict[str, Any]:
    """Train (or, with `recalibrate_only`, reload the model in `out`), calibrate, evaluate."""
    from sentence_transformers import SentenceTransformer

    base = get_embedder(settings.embedding_model, settings.embedding_batch_size)
    print(f"base model: {base.model_path}")
    mrpc_train, mrpc_held = mrpc_pairs(seed)
    stsb_train, stsb_dev = stsb_pairs()
    story_train, story_held = split_stories(load_headlines(), seed)
    # Calibration stories are whole stories the model never trains on, like the desk's news;
    # their negatives are filtered like the training ones (cluster slips are label noise).
    story_fit, story_cal = split_stories(story_train, seed + 2, CALIBRATION_FRACTION)
    print("mining hard negatives with the base model ...")
    calibration = story_pairs(
        story_cal, base.encode, seed + 2, positives_per_story, nearest_positive=True
    )
    story_held_pairs = story_pairs(story_held, base.encode, seed + 1, positives_per_story, None)
    nearest_held_pairs = story_pairs(
        story_held, base.encode, seed + 1, positives_per_story, None, nearest_positive=True
    )
    n_cal = len(calibration)
    print(
        f"calibration pairs {n_cal}; stories: fit {len({h.story for h in story_fit})}, "
        f"calibration {len({h.story for h in story_cal})}, "
        f"held-out {len({h.story for h in story_held})}"
    )

    if recalibrate_only:
        # The weights are trained already: no training pairs to mine.
        model = SentenceTransformer(str(out), device="cpu", local_files_only=True)
        previous = json.loads((out / "training.json").read_text(encoding="utf-8"))
        history, seconds = previous["history"], previous["training_seconds"]
        epochs, lr, batch_size = previous["epochs"], previous["lr"], previous["batch_size"]
        n_fit = previous["fit_pairs"]
    else:
        story_fit_pairs = story_pairs(story_fit, base.encode, seed, positives_per_story)
        fit_pairs = story_fit_pairs + mrpc_train + stsb_train
        n_fit = len(fit_pairs)
        print(
            f"fit pairs {n_fit} (MRPC {len(mrpc_train)}, STS-B {len(stsb_train)}, "
            f"stories {len(story_fit_pairs)})"
        )
        model = SentenceTransformer(str(base.model_path), device="cpu", local_files_only=True)
        started = time.monotonic()
        margin = 1 - settings.dedup_unique_threshold
        history = train(model, fit_pairs, epochs, lr, batch_size, seed, margin=margin)
        seconds = round(time.monotonic() - started)

    labels = np.array([int(p.duplicate) for p in calibration])
    thresholds = calibrate_thresholds(
        similarities(model, calibration),
        labels,
        fallback=(settings.dedup_duplicate_threshold, settings.dedup_unique_threshold),
    )
    print(f"recalibrated thresholds: {thresholds}")
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    (out / THRESHOLDS_FILE).write_text(json.dumps(thresholds, indent=2), encoding="utf-8")

    eval_dir = out / "eval"
    files = {
        "mrpc_heldout": write_pairs(mrpc_held, eval_dir / "mrpc_heldout.tsv"),
        "stsb_news_dev": write_pairs(stsb_dev, eval_dir / "stsb_news_dev.tsv"),
        "story_pairs_heldout": write_pairs(story_held_pairs, eval_dir / "story_pairs_heldout.tsv"),
        "story_nearest_pairs_heldout": write_pairs(
            nearest_held_pairs, eval_dir / "story_nearest_pairs_heldout.tsv"
        ),
    }
    stream_file = write_headlines(story_held, eval_dir / "stories_heldout.tsv")
    training = {
        "base_model": str(base.model_path),
        "loss": "OnlineContrastiveLoss (cosine distance)",
        "margin": round(1 - settings.dedup_unique_threshold, 4),
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "seed": seed,
        "fit_pairs": n_fit,
        "calibration_pairs": n_cal,
        "training_seconds": seconds,
        "history": history,
        "thresholds": thresholds,
        "eval_files": {k: str(v) for k, v in files.items()} | {"stream": str(stream_file)},
    }
    (out / "training.json").write_text(json.dumps(training, indent=2), encoding="utf-8")
    if evaluate:
        training["before_after"] = before_after(out, settings, files, stream_file)
        (out / "training.json").write_text(json.dumps(training, indent=2), encoding="utf-8")
    return training


def before_after(
    out: Path, settings: Settings, files: dict[str, Path], stream_file: Path
) -> dict[str, Any]:
    """Every held-out set under the base model (its thresholds) and the fine-tuned one (its own).

    The pair verifier stays off: both sides are the embeddings alone, so the difference is what
    fine-tuning did (the verifier reports its own held-out scores in its ``training.json``).
    """
    from evals.pairs_eval import evaluate_pairs
    from evals.stream_eval import evaluate_stream

    settings = settings.model_copy(update={"dedup_verifier": "none"})
    tuned = settings.model_copy(update={"embedding_model": str(out)}).with_model_thresholds()
    results: dict[str, Any] = {}
    for when, config in (("before", settings), ("after", tuned)):
        for name, path in files.items():
            report = evaluate_pairs(
                path, "a", "b", "label", config, plot=out / "eval" / f"{name}_{when}.png"
            )
            results.setdefault(name, {})[when] = report.to_dict()
            (out / "eval" / f"{name}_{when}.json").write_text(report.to_json())
        stream = evaluate_stream(stream_file, "title", "timestamp", "story", config)
        results.setdefault("story_stream_heldout", {})[when] = stream.to_dict()
        (out / "eval" / f"story_stream_heldout_{when}.json").write_text(stream.to_json())
    keys = ("auc", "muddy_middle", "f1_at_threshold", "best_f1", "precision", "recall")
    print(f"\n{'held-out set':<22} {'metric':<16} {'before':>8} {'after':>8}")
    for name, pair in results.items():
        for key in keys:
            if key in pair["before"]:
                print(f"{name:<22} {key:<16} {pair['before'][key]:>8} {pair['after'][key]:>8}")
    return results
