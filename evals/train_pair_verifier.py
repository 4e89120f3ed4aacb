"""Train the dedup pair verifier (a MiniLM cross-encoder with a LoRA adapter) on the CPU.

    python -m evals.train_pair_verifier [--out tools/data/pair_verifier] [--epochs 3]
    python -m evals.train_pair_verifier --recalibrate   # keep the weights, redo cuts and scores

Training pairs: headlines of the training stories (same story: two random headlines and a
headline with its nearest same-story headline; other story: the nearest other-story headline
below the base duplicate cut, and a random one) plus STS-B news train pairs (>= 4 of 5 same,
<= 2 distinct). The stories are split exactly as ``newsdesk finetune-embeddings`` splits them:
30% held out for evaluation, and 10% of the rest set aside to pick the epoch and calibrate the
probability cuts. Calibration replays those stories through the real dedup node in time order and
takes exactly the pairs the desk asks the verifier about (a gray-zone item and its nearest earlier
item): "same story" is the lowest cut whose verdicts are right 97% of the time, but never below
even odds (on the aggregator's stream most gray-zone items are copies, so the precision target
alone would let nearly every gray item through, whatever the verifier says); "distinct" is used
only where such verdicts are right at least 80% of the time, else never.

Licences decide what may go into the committed model: story clusters (public domain) and STS-B
scores (CC BY-SA) may. MRPC (Microsoft research terms) is scored as an out-of-domain check;
``--include-mrpc`` adds its train split to a *local* model and refuses to overwrite the committed
one.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from core.settings import Settings
from evals.finetune_embeddings import CALIBRATION_FRACTION, binary_pairs, calibrate_thresholds
from evals.lora_training import (
    AdaptedNet,
    add_lora_arguments,
    parse_training_args,
    run_record,
    train,
    training_parser,
)
from evals.pair_data import (
    Headline,
    Pair,
    load_headlines,
    mrpc_pairs,
    split_stories,
    story_pairs,
    stsb_pairs,
)
from evals.pairs_eval import not_copies, pair_metrics, score_with_verifier
from evals.stream_eval import StreamStep, parse_time, replay_stream, stream_scores
from tools.adapted_minilm import METADATA_FILE
from tools.embeddings import get_embedder
from tools.pair_verifier import (
    CLASSES,
    MAX_TOKENS,
    PairVerifier,
    default_verifier_path,
    get_pair_verifier,
)

# A "same story" verdict skips the analysis, so it must almost never be wrong.
SAME_PRECISION = 0.97
# The verifier must at least lean "same story": its own decision boundary is the floor.
MIN_SAME_CUT = 0.5
# A "distinct" verdict opens a second story (a second alert) for what may be the same news.
DISTINCT_PRECISION = 0.8
PROBABILITY_GRID = np.round(np.arange(0.02, 0.99, 0.01), 2)


def as_inputs(pairs: Sequence[Pair]) -> tuple[list[tuple[str, str]], list[str]]:
    return [(p.a, p.b) for p in pairs], [CLASSES[int(p.duplicate)] for p in pairs]


def labels_of(pairs: Sequence[Pair]) -> np.ndarray:
    return np.array([int(p.duplicate) for p in pairs])


def training_pairs(
    story_fit: Sequence[Any], encode: Any, stsb_train: Sequence[Pair], seed: int, per_story: int
) -> list[Pair]:
    random_positive = story_pairs(story_fit, encode, seed, per_story)
    nearest_positive = story_pairs(
        story_fit, encode, seed + 3, max(per_story // 2, 1), nearest_positive=True
    )
    return random_positive + nearest_positive + binary_pairs(stsb_train)


def main(argv: Sequence[str] | None = None) -> int:
    parser = training_parser(
        __doc__,
        committed=default_verifier_path(),
        local_only_flag="--include-mrpc",
        local_only_data="MRPC's train split (Microsoft research terms)",
    )
    add_lora_arguments(parser, epochs=3)
    parser.add_argument("--per-story", type=int, default=16, help="random positives per story")
    parser.add_argument(
        "--sample",
        type=int,
        default=0,
        help="a seeded sample of at most N pairs per set (a quick check, not a model to ship)",
    )
    parser.add_argument(
        "--recalibrate",
        action="store_true",
        help="keep the trained weights in --out; redo the calibration and the held-out scores",
    )
    args = parse_training_args(parser, argv)
    # The base model and cuts the desk runs with by default: the verifier serves its gray zone.
    settings = Settings(embedding_model="", dedup_verifier="none")
    base = get_embedder("")
    mrpc_train, mrpc_held = mrpc_pairs(args.seed)
    stsb_train, stsb_dev = stsb_pairs()
    story_train, story_held = split_stories(load_headlines(), args.seed)
    story_fit, story_cal = split_stories(story_train, args.seed + 2, CALIBRATION_FRACTION)
    print("building pairs (mining hard negatives with the base model) ...")
    held_sets = {
        "story_pairs_heldout": story_pairs(story_held, base.encode, args.seed + 1, 20, None),
        "story_nearest_pairs_heldout": story_pairs(
            story_held, base.encode, args.seed + 1, 20, None, nearest_positive=True
        ),
        "mrpc_heldout": mrpc_held,
        "stsb_news_dev": list(stsb_dev),
    }
    if args.sample:
        held_sets = {k: sample(v, args.sample, args.seed) for k, v in held_sets.items()}

    if not args.recalibrate:
        train_verifier(args, story_fit, story_cal, stsb_train, mrpc_train, base)
        print(f"wrote the weights to {args.out}; calibrating ...")
    verifier = PairVerifier(args.out)
    metadata = verifier.metadata
    thresholds = calibrate_on_stream(verifier, story_cal, settings)
    print(f"calibrated cuts: {thresholds}")
    verifier.same_cut, verifier.distinct_cut = thresholds["same"], thresholds["distinct"]
    started = time.perf_counter()
    held_out = score_held_out(verifier, held_sets, base, settings)
    held_out["stream_heldout"] = stream_before_after(verifier, story_held, settings)
    metadata.update(
        thresholds=thresholds,
        gray_zone={
            "duplicate": settings.dedup_duplicate_threshold,
            "unique": settings.dedup_unique_threshold,
            "embedding_model": "base MiniLM",
        },
        held_out_metrics=held_out,
        held_out_seconds=round(time.perf_counter() - started),
    )
    (args.out / METADATA_FILE).write_text(
        json.dumps(metadata, indent=2, sort_keys=True), encoding="utf-8"
    )
    get_pair_verifier.cache_clear()
    print_held_out(held_out)
    size = sum(p.stat().st_size for p in args.out.iterdir()) / 1024
    print(f"wrote {args.out} ({size:.0f} KB)")
    return 0


def train_verifier(
    args: argparse.Namespace,
    story_fit: Sequence[Headline],
    story_cal: Sequence[Headline],
    stsb_train: Sequence[Pair],
    mrpc_train: Sequence[Pair],
    base: Any,
) -> None:
    """Train, pick the epoch on calibration-story pairs, save the weights and their metadata."""
    fit = training_pairs(story_fit, base.encode, stsb_train, args.seed, args.per_story)
    training_data = [
        "news_aggregator_story_clusters (public domain), training stories",
        "stsb_news_headlines (scores CC BY-SA 4.0), train file",
    ]
    if args.local_only:
        fit += list(mrpc_train)
        training_data.append("mrpc_paraphrase (Microsoft research terms), 70% train split")
    validation = story_pairs(story_cal, base.encode, args.seed + 2, 20, nearest_positive=True)
    validation += story_pairs(story_cal, base.encode, args.seed + 4, 20)
    if args.sample:
        fit = sample(fit, args.sample, args.seed)
        validation = sample(validation, args.sample, args.seed)
    fit_inputs, fit_labels = as_inputs(fit)
    val_inputs, _ = as_inputs(validation)
    val_labels = labels_of(validation)
    print(f"fit pairs {len(fit)} {dict(Counter(fit_labels))}, validation pairs {len(validation)}")

    def validate(net: AdaptedNet) -> dict[str, Any]:
        probability = net.predict_proba(val_inputs)[:, 1]
        return {"validation_auc": round(float(roc_auc_score(val_labels, probability)), 4)}

    net = AdaptedNet(CLASSES, args.rank, args.alpha, args.lora_dropout, args.seed, MAX_TOKENS)
    outcome, history = train(
        net,
        fit_inputs,
        fit_labels,
        validate,
        "validation_auc",
        args.epochs,
        args.lr,
        args.batch_size,
        args.seed,
    )
    metadata: dict[str, Any] = {
        "training_data": training_data,
        "split": {
            "stories": "evals.pair_data.split_stories(seed) 30% held out; "
            f"then {CALIBRATION_FRACTION:.0%} of the rest for epoch choice and calibration",
            "fit_pairs": len(fit),
            "validation_pairs": len(validation),
        },
        "mrpc_note": "in-domain: its train split was used"
        if args.local_only
        else "out-of-domain check",
        **run_record(args, net, fit_labels, outcome, history, " cross-encoder (pair read jointly)"),
    }
    metadata["hyperparameters"]["random_positives_per_story"] = args.per_story
    net.save(args.out, metadata)


def replay_gray_zone(
    stories: Sequence[Headline], settings: Settings
) -> tuple[list[StreamStep], list[tuple[str, str]], np.ndarray]:
    """Replay `stories` with the verifier off: every step, and each gray-zone item with the
    earlier item it matched and whether that item belongs to the same story."""
    steps = replay_stream(
        [h.title for h in stories],
        [parse_time(h.timestamp) for h in stories],
        [h.story for h in stories],
        settings.model_copy(update={"dedup_verifier": "none"}),
        show_progress=False,
    )
    text_of = {f"row-{i}": h.title for i, h in enumerate(stories)}
    gray = [s for s in steps if s.verdict.verdict == "related"]
    pairs = [(s.text, text_of[s.verdict.nearest_id or ""]) for s in gray]
    return steps, pairs, np.array([int(s.matched_same_group) for s in gray])


def calibrate_on_stream(
    verifier: PairVerifier, stories: Sequence[Headline], settings: Settings
) -> dict[str, Any]:
    _, pairs, same = replay_gray_zone(stories, settings)
    probability = verifier.probability(pairs)
    # A pair the guard rules out is never called a copy, whatever its probability.
    copy_probability = np.where(not_copies(pairs), 0.0, probability)
    # Uncalibrated sides fall back to cuts no probability passes: the verifier then never acts.
    same_side = calibrate_thresholds(
        copy_probability, same, SAME_PRECISION, 1.0, (1.0, 0.0), PROBABILITY_GRID
    )
    distinct_side = calibrate_thresholds(
        1 - probability, 1 - same, DISTINCT_PRECISION, 1.0, (1.0, 0.0), PROBABILITY_GRID
    )
    same_cut = max(same_side["duplicate"], MIN_SAME_CUT)
    called = copy_probability > same_cut
    distinct_cut = round(1 - distinct_side["duplicate"], 2) if distinct_side["calibrated"] else 0.0
    return {
        "same": same_cut,
        "distinct": min(distinct_cut, same_cut),
        "calibrated": bool(same_side["calibrated"]),
        "distinct_calibrated": bool(distinct_side["calibrated"]),
        "same_precision_target": SAME_PRECISION,
        "same_cut_from_precision": same_side["duplicate"],
        "same_cut_floor": MIN_SAME_CUT,
        "distinct_precision_target": DISTINCT_PRECISION,
        # At the cut used: of the gray-zone items called "same story", the share that were;
        # of the same-story ones, the share called so.
        "calibration_precision": round(float(same[called].mean()), 4) if called.any() else None,
        "calibration_recall": round(float(called[same == 1].mean()), 4) if same.any() else None,
        "gray_zone_items": len(pairs),
        "gray_zone_same_story_share": round(float(same.mean()), 4) if len(same) else None,
        "method": "replay of the calibration stories through the dedup node; the gray-zone "
        "items and their matches",
    }


def score_held_out(
    verifier: PairVerifier,
    held_sets: dict[str, Sequence[Pair]],
    base: Any,
    settings: Settings,
) -> dict[str, Any]:
    dup_t, uniq_t = settings.dedup_duplicate_threshold, settings.dedup_unique_threshold
    scores: dict[str, Any] = {}
    for name, pairs in held_sets.items():
        inputs, _ = as_inputs(pairs)
        labels = labels_of(pairs)
        similarity = base_similarity(base, pairs)
        # training.json keeps the flat record eval pairs writes with the verifier on.
        scores[name] = {
            **pair_metrics(similarity, labels, dup_t, uniq_t).model_dump(),
            **score_with_verifier(verifier, inputs, similarity, labels, dup_t, uniq_t).model_dump(),
        }
    return scores


def stream_before_after(
    verifier: PairVerifier, stories: Sequence[Headline], settings: Settings
) -> dict[str, Any]:
    """The held-out stories as a stream: cosine cuts alone, then with the verifier as calibrated."""
    steps, pairs, _ = replay_gray_zone(stories, settings)
    probability = verifier.probability(pairs)
    # Same-story verdicts turn gray items into duplicates; the stream's state is unchanged by
    # that (related and duplicate items are indexed alike), so the replay need not be re-run.
    called_same = (probability > verifier.same_cut) & ~not_copies(pairs)
    promoted = iter(called_same)
    after = [
        replace(s, verdict=s.verdict.model_copy(update={"verdict": "duplicate"}))
        if s.verdict.verdict == "related" and next(promoted)
        else s
        for s in steps
    ]
    return {
        "n": len(stories),
        "stories": len({h.story for h in stories}),
        "before": stream_scores(steps).model_dump(),
        "after": stream_scores(after).model_dump(),
        "gray_zone_items": len(pairs),
        "verifier_same": int(called_same.sum()),
        "verifier_distinct": int((probability < verifier.distinct_cut).sum()),
    }


def print_held_out(held_out: dict[str, Any]) -> None:
    print("\nheld-out (base cosine | verifier | desk = cosine cuts + verifier in the gray zone):")
    for name, m in held_out.items():
        if name == "stream_heldout":
            b, a = m["before"], m["after"]
            print(
                f"  {name:<28} n {m['n']:>5}  precision {b['precision']:.3f} -> "
                f"{a['precision']:.3f}  recall {b['recall']:.3f} -> {a['recall']:.3f}"
            )
            continue
        print(
            f"  {name:<28} n {m['n']:>5}  AUC {m['auc']:.3f} | {m['verifier_auc']:.3f}  "
            f"muddy {m['muddy_middle']:.1%} -> {m['muddy_middle_after_verifier']:.1%}  "
            f"F1@cut {m['f1_at_threshold']:.3f} -> desk {m['desk_f1']:.3f} "
            f"(P {m['desk_precision']:.3f} R {m['desk_recall']:.3f})  "
            f"verifier best F1 {m['verifier_best_f1']:.3f}"
        )


def sample(pairs: Sequence[Pair], n: int, seed: int) -> list[Pair]:
    return list(pairs) if len(pairs) <= n else random.Random(seed).sample(list(pairs), n)


def base_similarity(base: Any, pairs: Sequence[Pair]) -> np.ndarray:
    left = base.encode([p.a for p in pairs])
    right = base.encode([p.b for p in pairs])
    return np.sum(left * right, axis=1)


if __name__ == "__main__":
    raise SystemExit(main())
