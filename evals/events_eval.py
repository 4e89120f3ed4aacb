"""`newsdesk eval events`: the urgency node's event-type tagger against labelled event types.

The default data is SentiFM (Jacobs et al., ECONLP 2018): FT sentences with 0..n of ten company
event types. Only its hold-in part is here (the authors' hold-out is withheld), and the tagger's
patterns were chosen on it, so the file is split once, seeded, into a train part (the patterns
were tuned there) and a test part (the figures that count); the report says which in `split`.

Scored: "any event" detection (a sentence with at least one gold type vs. at least one tagged
type), and per-type precision / recall / F1 with micro and macro averages. Only the types the
file labels are scored: the desk's own types (hack, tariff, ...) have no gold here.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from core.eval_reports import (
    EventScores,
    EventsReport,
    EventsSplit,
    EventTypeScores,
    PrecisionRecallCounts,
)
from evals.datasets import shared_data_dir
from evals.tables import field, read_rows
from tools.urgency_rules import SENTIFM_EVENT_TYPES, tag_events

SPLIT_SEED = 13
TEST_FRACTION = 0.3
SPLIT_METHOD = (
    "row positions in file order shuffled with random.Random(seed); the first "
    "round(test_fraction * n) are the test part, the rest the train part the patterns were tuned on"
)


def sentifm_path() -> Path:
    return shared_data_dir() / "sentifm_economic_events" / "sentifm_holdin.jsonl"


def split_positions(
    n: int, seed: int = SPLIT_SEED, test_fraction: float = TEST_FRACTION
) -> tuple[list[int], list[int]]:
    """(train, test) row positions, each sorted; pure stdlib so the split is easy to recompute."""
    positions = list(range(n))
    random.Random(seed).shuffle(positions)
    n_test = round(n * test_fraction)
    return sorted(positions[n_test:]), sorted(positions[:n_test])


def parse_labels(value: Any) -> set[str]:
    """A JSON list, or a CSV cell with types separated by commas, semicolons or pipes."""
    if isinstance(value, list):
        return {str(v).strip() for v in value if str(v).strip()}
    text = str(value or "").strip()
    if text.startswith("["):
        return parse_labels(json.loads(text))
    return {part.strip() for part in text.replace(";", ",").replace("|", ",").split(",") if part}


def prf(tp: int, fp: int, fn: int) -> PrecisionRecallCounts:
    """Precision, recall and F1 from counts; 0.0 where a ratio has nothing to divide by."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PrecisionRecallCounts(
        precision=round(precision, 4),
        recall=round(recall, 4),
        f1=round(f1, 4),
        tp=tp,
        fp=fp,
        fn=fn,
    )


def score_events(
    gold: Sequence[set[str]], predicted: Sequence[set[str]], types: Sequence[str]
) -> EventScores:
    """Any-event detection plus per-type, micro and macro precision / recall / F1."""
    scored = set(types)
    any_counts = [0, 0, 0]
    per_type = {t: [0, 0, 0] for t in types}
    for g, p in zip(gold, predicted, strict=True):
        g, p = g & scored, p & scored
        any_counts[0] += bool(g) and bool(p)
        any_counts[1] += bool(p) and not g
        any_counts[2] += bool(g) and not p
        for t in types:
            per_type[t][0] += t in g and t in p
            per_type[t][1] += t in p and t not in g
            per_type[t][2] += t in g and t not in p
    by_type = {
        t: EventTypeScores(**prf(*c).model_dump(), support=c[0] + c[2]) for t, c in per_type.items()
    }
    micro = prf(*(sum(c[i] for c in per_type.values()) for i in range(3)))
    # Macro over the types that occur in the gold labels: an absent type has no recall to average.
    present = [m for m in by_type.values() if m.support]

    def macro(metric: str) -> float:
        if not present:
            return 0.0
        return round(sum(getattr(m, metric) for m in present) / len(present), 4)

    detection = prf(*any_counts)
    return EventScores(
        n=len(gold),
        with_event=sum(bool(g & scored) for g in gold),
        any_precision=detection.precision,
        any_recall=detection.recall,
        any_f1=detection.f1,
        micro_precision=micro.precision,
        micro_recall=micro.recall,
        micro_f1=micro.f1,
        macro_precision=macro("precision"),
        macro_recall=macro("recall"),
        macro_f1=macro("f1"),
        per_type=by_type,
    )


def evaluate_events(
    data: Path | None = None,
    text_field: str = "sentence",
    labels_field: str = "event_types",
    part: str = "test",
    limit: int | None = None,
    seed: int = SPLIT_SEED,
    test_fraction: float = TEST_FRACTION,
    types: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EventsReport:
    """Tag every sentence of the chosen part and score the tags against the labels."""
    if part not in ("train", "test", "all"):
        raise ValueError("part must be train, test or all")
    data = data or sentifm_path()
    rows = read_rows(data)
    # The split is fixed: the patterns were tuned on SPLIT_SEED's train part, so another seed's
    # "test" part would be mostly rows they were tuned on. `seed` only draws the --limit sample.
    train, test = split_positions(len(rows), SPLIT_SEED, test_fraction)
    chosen = {"train": train, "test": test, "all": list(range(len(rows)))}[part]
    if limit is not None and limit < len(chosen):
        # Sampled inside the part so --limit never leaks train rows into a test figure.
        chosen = sorted(random.Random(seed).sample(chosen, limit))
    gold = [parse_labels(field(rows[i], labels_field)) for i in chosen]
    scored_types = list(types) if types else list(SENTIFM_EVENT_TYPES)
    texts = [str(field(rows[i], text_field)) for i in chosen]
    predicted: list[set[str]] = []
    started = time.perf_counter()
    for done, text in enumerate(texts, 1):
        predicted.append(set(tag_events(text)))
        if progress and (done % 200 == 0 or done == len(texts)):
            progress(done, len(texts))
    elapsed = time.perf_counter() - started
    unknown = sorted({t for g in gold for t in g} - set(scored_types))
    return EventsReport(
        data=str(data),
        **score_events(gold, predicted, scored_types).model_dump(),
        split=EventsSplit(
            evaluated_on=part,
            seed=SPLIT_SEED,
            sample_seed=seed,
            test_fraction=test_fraction,
            train_rows=len(train),
            test_rows=len(test),
            method=SPLIT_METHOD,
            note="the tagger's patterns were tuned on the train part only",
        ),
        unscored_gold_types=unknown,
        latency_ms_per_item=round(1000 * elapsed / max(len(texts), 1), 3),
        llm_tokens_per_item=0,
    )
