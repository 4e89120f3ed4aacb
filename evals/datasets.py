"""Typed loaders for the shared labelled datasets in ``shared/data``.

Each folder there has a README stating its licence and columns; the loaders follow those READMEs.
Licences differ: Twitter Financial News Sentiment is MIT (fine for committed models), Financial
PhraseBank is CC BY-NC-SA (evaluation only).
"""

from __future__ import annotations

import csv
import os
import random
from dataclasses import dataclass
from pathlib import Path

from core.records import SentimentLabel

TWITTER_LABELS: dict[str, SentimentLabel] = {"0": "bearish", "1": "bullish", "2": "neutral"}
FPB_LABELS: dict[str, SentimentLabel] = {
    "negative": "bearish",
    "neutral": "neutral",
    "positive": "bullish",
}

TWITTER_SPLIT_METHOD = (
    "stratified by label; per label, indices sorted then shuffled with random.Random(seed); "
    "first round(15% of the label's rows) are held out"
)


@dataclass(frozen=True)
class LabelledText:
    text: str
    label: SentimentLabel


@dataclass(frozen=True)
class PhraseBankSentence:
    text: str
    label: SentimentLabel
    agreement: int  # strongest agreement level the sentence appears in: 50, 66, 75 or 100


def shared_data_dir() -> Path:
    """``$NEWSDESK_SHARED_DATA``, else the repo's sibling ``shared/data``."""
    env = os.environ.get("NEWSDESK_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def _require(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(
            f"shared dataset file not found: {path} "
            "(set NEWSDESK_SHARED_DATA to the folder holding the shared datasets)"
        )
    return path


def twitter_path() -> Path:
    return shared_data_dir() / "twitter_financial_news_sentiment" / "sent_train.csv"


def fpb_path() -> Path:
    return shared_data_dir() / "financial_phrasebank" / "fpb_dev.csv"


def load_twitter_financial_news() -> list[LabelledText]:
    """Twitter Financial News Sentiment (MIT), 9,543 rows in file order."""
    with _require(twitter_path()).open(encoding="utf-8", newline="") as f:
        return [
            LabelledText(row["text"], TWITTER_LABELS[row["label"]]) for row in csv.DictReader(f)
        ]


def load_financial_phrasebank(min_agreement: int = 50) -> list[PhraseBankSentence]:
    """Financial PhraseBank (CC BY-NC-SA 3.0: non-commercial, so evaluation only).

    ``min_agreement`` keeps sentences whose strongest agreement level is at least this (50, 66, 75
    or 100; 100 is the "AllAgree" subset most papers report on).
    """
    rows: list[PhraseBankSentence] = []
    with _require(fpb_path()).open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            agreement = int(row["max_agreement_level"])
            if agreement >= min_agreement:
                rows.append(
                    PhraseBankSentence(row["sentence"], FPB_LABELS[row["label"]], agreement)
                )
    return rows


def stratified_split(
    labels: list[str], seed: int, held_out_fraction: float
) -> tuple[list[int], list[int]]:
    """Deterministic stratified (train, held-out) indices: see ``TWITTER_SPLIT_METHOD``.

    Pure stdlib so any eval can recompute exactly the split a committed model was scored on.
    """
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    rng = random.Random(seed)
    train: list[int] = []
    held_out: list[int] = []
    for label in sorted(by_label):
        indices = sorted(by_label[label])
        rng.shuffle(indices)
        n_held = round(len(indices) * held_out_fraction)
        held_out.extend(indices[:n_held])
        train.extend(indices[n_held:])
    return sorted(train), sorted(held_out)


def twitter_split(seed: int = 13, held_out_fraction: float = 0.15) -> tuple[list[int], list[int]]:
    """(train, held-out) indices into ``load_twitter_financial_news()``."""
    labels = [row.label for row in load_twitter_financial_news()]
    return stratified_split(labels, seed, held_out_fraction)


def fpb_split(seed: int = 13, held_out_fraction: float = 0.3) -> tuple[list[int], list[int]]:
    """(train, held-out) indices into ``load_financial_phrasebank(50)``.

    Only local models may train on the train part (the licence is non-commercial); the committed
    ones are scored on the held-out part so both kinds are compared on the same sentences.
    """
    labels = [row.label for row in load_financial_phrasebank(min_agreement=50)]
    return stratified_split(labels, seed, held_out_fraction)
